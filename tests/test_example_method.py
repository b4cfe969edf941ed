"""The worked example of docs/extending.md: examples/smooth_qmix.py registers a method in one file, and it
trains, keeps the shared mixer properties (λ_i ≥ 0, IGM) and passes the theory checks; DECOMP_METHODS
brings it to the command line."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterator

import numpy as np
import pytest

import test_properties as properties  # the shared mixer properties, run here on the example too
from decomp.config.compose import compose_config
from decomp.config.schema import ConfigError
from decomp.config.validation import validate
from decomp.core.methods import METHODS, Method, get_method, register
from decomp.core.mixers import Kind, QMixMixer
from decomp.core.learners import TDLearner
from decomp.core.plugins import PluginError, load_plugins
from decomp.training.matrix_lab import train_matrix
from theory.numeric import analyse_mixer
from theory.suite import numeric_checks

ROOT = Path(__file__).resolve().parents[1]
NAME = "smooth_qmix"


@pytest.fixture(scope="module")
def example() -> Iterator[ModuleType]:
    """The example imported (so registered) for this module only: other tests see the built-in methods alone."""
    saved = dict(METHODS)
    try:
        yield importlib.import_module("examples.smooth_qmix")
    finally:
        METHODS.clear()
        METHODS.update(saved)
        sys.modules.pop("examples.smooth_qmix", None)


def test_registration_gives_typed_options_and_a_config_node(example: ModuleType) -> None:
    method = get_method(NAME)
    assert method.mixer_cls is example.SmoothQMixMixer and method.kind is Kind.VALUE
    assert method.defaults()["options"] == {"embed_dim": 32, "hypernet_embed": 64}  # from the constructor
    cfg = compose_config(["env=matrix", f"method={NAME}", "method.options.embed_dim=8"])
    validate(cfg)
    assert cfg.method.options["embed_dim"] == 8
    with pytest.raises(ConfigError, match="unknown option.*embed_dims.*valid: embed_dim: int = 32"):
        validate(compose_config(["env=matrix", f"method={NAME}", "+method.options.embed_dims=8"]))
    with pytest.raises(ValueError, match=f"method '{NAME}' is already registered"):
        register(method)
    with pytest.raises(TypeError, match="mixer_cls must be a Mixer or ActionModule subclass"):
        register(Method("not_a_mixer", "", TDLearner, TDLearner))  # type: ignore[arg-type]
    assert "not_a_mixer" not in METHODS


def test_shared_properties_hold_for_the_example(example: ModuleType) -> None:
    """tests/test_properties.py's monotone-mixer properties, on freshly initialised SmoothQMIX mixers."""
    properties.test_monotone_mixers_have_nonnegative_gradient(NAME, {})
    properties.test_igm_brute_force(NAME, {})
    properties.test_local_weights_match_autograd(NAME, {})


def test_it_trains_and_the_trained_mixer_passes_the_theory_checks(example: ModuleType) -> None:
    easy = train_matrix("qmix_easy", NAME, seed=0, steps=5000)
    assert easy.optimal and easy.losses[-10:].mean() < 0.1 * easy.losses[:10].mean(), easy.losses[[0, -1]]
    # The QTRAN game: a monotone mixer cannot rank its optimum first (as QMIX and VDN), but what it learns is
    # analytic: every theory check passes, Σ_h λ_(i,h) = λ_i included, which is an expected failure for QMIX's ELU.
    qtran = train_matrix("qtran", NAME, seed=0, steps=5000)
    assert not qtran.optimal
    for run in (easy, qtran):
        res = analyse_mixer(run.mixer, run.agent_qs, run.state, run.feats)
        assert res.igm and res.lam_nonneg and np.all(res.lam > 0), res.lam
        checks = {c.name.split(": ", 1)[1]: c.status for c in numeric_checks(NAME, res)}
        assert checks["λ_i ≥ 0"] == checks["IGM on the joint table"] == "PASS"
        assert checks["λ_i = finite-difference ∂F/∂Q^i"] == "PASS", checks
    assert set(checks.values()) == {"PASS"}, checks  # the QTRAN-game run: all of them
    assert isinstance(easy.mixer, example.SmoothQMixMixer) and not isinstance(easy.mixer, QMixMixer)


def test_decomp_methods_brings_it_to_the_cli_and_the_theory_check(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DECOMP_METHODS": "examples.smooth_qmix"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=300)

    listing = run("decomp.core.methods")
    assert listing.returncode == 0 and f"\n{NAME} " in listing.stdout and "embed_dim=32" in listing.stdout
    trained = run("decomp.train", "env=matrix", "env.game=qmix_easy", f"method={NAME}", "t_max=5000",
                  f"run_dir={tmp_path}", "run_name=smooth")
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert "OPTIMAL" in trained.stdout
    checked = run("theory.check", f"run={tmp_path / 'smooth'}")
    assert checked.returncode == 0, checked.stdout[-2000:]
    assert "SmoothQMixMixer" in checked.stdout or NAME in checked.stdout


def test_a_plugin_that_does_not_import_is_named(tmp_path: Path) -> None:
    with pytest.raises(PluginError, match="DECOMP_METHODS names 'no_such_module_here', which could not be imported"):
        load_plugins("no_such_module_here")
    with pytest.raises(PluginError, match="could not be imported.*no such file"):
        load_plugins(str(tmp_path / "missing.py"))
