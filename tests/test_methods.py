"""The method registry: one list of names, typed options, one description of each kind for every caller."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from decomp.config.compose import compose_config
from decomp.config.schema import ConfigError
from decomp.config.validation import validate
from decomp.envs.base import EnvInfo
from decomp.core.learners import LearnerConfig
from decomp.training.matrix_lab import MatrixRun
from decomp.core.methods import METHODS, UnknownMethod, get_method, kind_of, make_learner, make_mixer
from decomp.core.agents import agent_input_dim, make_agent
from decomp.core.mixers import Kind, describe
from theory.numeric import analyse_mixer, not_defined_reason

ROOT = Path(__file__).resolve().parents[1]
N, S, F, A = 3, 4, 2, 5

# what each method must be, written out by hand so a wrong registry entry fails here
EXPECTED_KIND = {
    "iql": Kind.INDEPENDENT, "vdn": Kind.VALUE, "qmix": Kind.VALUE, "qatten": Kind.VALUE, "ow_qmix": Kind.VALUE,
    "cw_qmix": Kind.VALUE, "qtran": Kind.JOINT, "qtran_alt": Kind.JOINT, "qplex": Kind.ACTION, "coma": Kind.POLICY,
}
EXPECTED_TABLE = {"iql": "Σ_i Q^i (no mixer)", "qtran": "Q_jt", "qtran_alt": "Q_jt", "coma": "critic Q(s, u)"}


def test_registry_lists_every_method_once_with_its_kind() -> None:
    assert dict((name, m.kind) for name, m in METHODS.items()) == EXPECTED_KIND


@pytest.mark.parametrize("name", sorted(METHODS))
def test_method_builds_from_its_defaults(name: str) -> None:
    method = get_method(name)
    mixer = make_mixer(name, N, S, F, A)
    assert kind_of(mixer) is method.kind
    info = EnvInfo(n_agents=N, n_actions=A, obs_dim=6, state_dim=S, feat_dim=F, episode_limit=4, n_envs=1)
    agent = make_agent("rnn", agent_input_dim(6, N, A, True, True), A, 8)
    learner = make_learner(name, agent, mixer, info, LearnerConfig())
    assert isinstance(learner, method.learner_cls)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_theory_and_explorer_describe_each_method(name: str) -> None:
    """λ_i is defined exactly for value mixers; every other kind says why not, in its own words."""
    mixer = make_mixer(name, N, S, F, A)
    info = describe(EXPECTED_KIND[name])
    reason = not_defined_reason(mixer)
    if EXPECTED_KIND[name] is Kind.VALUE:
        assert reason == ""
        res = analyse_mixer(mixer, [np.linspace(0, 1, 3)] * N, torch.zeros(S), torch.zeros(N, F), max_order=2)
        assert res.defined
    else:
        assert reason.endswith(info.no_lambda) and info.no_lambda
        with pytest.raises(NotImplementedError, match=re.escape(info.no_lambda[:40])):
            mixer.local_weights(torch.zeros(2, N), torch.zeros(2, S))
    run = MatrixRun(game="g", method=name, seed=0, data="uniform", payoff=np.zeros((3, 3)), q_tot=np.zeros((3, 3)),
                    agent_qs=[np.zeros(3)] * 2, greedy=(0, 0), optimal=False, losses=np.zeros(1), mixer=mixer,
                    state=torch.zeros(S), feats=torch.zeros(N, F))
    assert run.is_function_of_q is (EXPECTED_KIND[name] is Kind.VALUE)
    assert info.table == EXPECTED_TABLE.get(name, "Q_tot")  # QPLEX has a Q_tot; QTRAN's table is Q_jt
    assert info.agent_outputs == ("logits" if name == "coma" else "q")


def test_explorer_reasons_come_from_the_registry() -> None:
    sys.path.insert(0, str(ROOT / "apps"))
    from explorer_lib.theory_calc import why_not_function

    for name, kind in EXPECTED_KIND.items():
        run = MatrixRun(game="g", method=name, seed=0, data="uniform", payoff=np.zeros(1), q_tot=np.zeros(1),
                        agent_qs=[], greedy=(), optimal=False, losses=np.zeros(1), mixer=make_mixer(name, N, S, F, A))
        assert why_not_function(run) == f"{name}: {describe(kind).no_lambda}"


def test_unknown_names_and_options_fail_with_what_is_valid() -> None:
    with pytest.raises(UnknownMethod, match="valid methods: coma, cw_qmix, iql, .*vdn"):
        get_method("qmixx")
    cfg = compose_config(["method=qatten"])
    cfg.method.name = "qmixx"
    with pytest.raises(ConfigError, match="valid methods: coma"):
        validate(cfg)
    with pytest.raises(ConfigError, match=r"unknown option\(s\) n_head; valid: n_heads: int = 4"):
        validate(compose_config(["method=qatten", "+method.options.n_head=3"]))
    with pytest.raises(ConfigError, match="'abc' of type 'str' could not be converted to Integer"):
        validate(compose_config(["method=qatten", "method.options.n_heads=abc"]))
    with pytest.raises(ConfigError, match=r"method.learner of qtran: unknown option\(s\) alpha"):
        validate(compose_config(["method=qtran", "+method.learner.alpha=0.1"]))


def test_method_yaml_files_carry_the_constructor_defaults() -> None:
    """One YAML per built-in method (decomp/conf/method/), its option defaults exactly the registry's (read from
    the constructors), so the YAML and the code cannot drift; composing it gives the same."""
    files = {p.stem: p for p in (ROOT / "decomp" / "conf" / "method").glob("*.yaml")}
    assert set(files) == set(METHODS) == {"iql", "vdn", "qmix", "qatten", "qtran", "qtran_alt", "qplex", "ow_qmix",
                                          "cw_qmix", "coma"}
    for name, method in METHODS.items():
        node = OmegaConf.to_container(OmegaConf.load(files[name]))["method"]  # type: ignore[index]
        assert node == {"name": name, **method.defaults()}, name
        cfg = compose_config([f"method={name}"])
        assert (cfg.method.name, dict(cfg.method.options), dict(cfg.method.learner)) == (name, *method.defaults().values())
    assert compose_config(["method=qatten", "method.options.n_heads=8"]).method.options["n_heads"] == 8


def test_method_presets_set_their_run_settings_and_the_command_line_wins() -> None:
    """COMA's on-policy replay replaces the env preset's, but a key the user typed wins."""
    smac = compose_config(["env=smac", "method=qmix"])
    coma = compose_config(["env=smac", "method=coma"])
    assert smac.buffer_size == 5000 and coma.buffer_size == 32 and coma.learner.td_lambda == 0.8
    assert compose_config(["env=smac", "method=coma", "buffer_size=64"]).buffer_size == 64


def test_method_env_presets_apply_on_that_env_only() -> None:
    """QTRAN takes pymarl's form on SMAX (measured there) and keeps the paper's defaults on matrix games;
    its Q_jt's hidden-state width follows the agents' hidden size; a typed key still wins."""
    smax = compose_config(["env=smac", "method=qtran"])
    assert smax.method.learner["use_hidden"] and smax.method.learner["hidden_grad"]
    assert smax.method.learner["nopt_weight"] == 0.1 and smax.method.options["hidden_dim"] == smax.hidden_dim == 64
    assert compose_config(["env=smac", "method=qtran", "hidden_dim=128"]).method.options["hidden_dim"] == 128
    assert compose_config(["env=smac", "method=qtran", "method.learner.nopt_weight=1"]).method.learner["nopt_weight"] == 1
    matrix = compose_config(["env=matrix", "method=qtran"])
    assert dict(matrix.method.learner) == METHODS["qtran"].defaults()["learner"]
    assert dict(matrix.method.options) == METHODS["qtran"].defaults()["options"]


def test_cli_prints_the_methods_and_their_options(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "decomp.core.methods"], capture_output=True, text=True, check=True).stdout
    for name in METHODS:
        assert re.search(rf"^{name}\s", out, re.M)
    assert "method.learner: opt_weight=1.0, nopt_weight=1.0" in out and "decomp/conf/method/<name>.yaml" in out


def test_no_flag_reading_outside_the_registry() -> None:
    """The loose flags are gone: nobody asks a module whether it is 'joint' or 'per_agent'."""
    pattern = re.compile(r"getattr\([^)]*[\"'](joint|per_agent|needs_actions)[\"']")
    hits = [f"{p}:{i}" for folder in ("decomp", "theory", "apps", "games", "benchmarks")
            for p in (ROOT / folder).rglob("*.py") for i, line in enumerate(p.read_text().splitlines(), 1)
            if pattern.search(line)]
    assert hits == []


def _field_docs() -> dict[str, str]:
    """{"env.name": docstring, "agent": docstring, ...} parsed from decomp/config/schema.py's dataclasses."""
    import ast

    prefix = {"EnvConfig": "env.", "MethodConfig": "method.", "LearnerConfig": "learner.", "Config": ""}
    docs: dict[str, str] = {}
    for node in ast.parse((ROOT / "decomp" / "config" / "schema.py").read_text()).body:
        if isinstance(node, ast.ClassDef) and node.name in prefix:
            for field, doc in zip(node.body, node.body[1:]):
                if isinstance(field, ast.AnnAssign) and isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant):
                    docs[prefix[node.name] + field.target.id] = str(doc.value.value)  # type: ignore[attr-defined]
    return docs


def test_schema_docstrings_list_exactly_the_allowed_values() -> None:
    from decomp.config.schema import CHOICES

    docs = _field_docs()
    for key, allowed in CHOICES.items():
        text = re.sub(r"\([^)]*\)", "", docs[key]).split(":")[-1]
        assert tuple(part.strip() for part in text.split("|")) == allowed, (key, docs[key])
    assert "decomp.core.methods" in docs["method.name"]  # the methods are listed by the registry, not by hand


def test_learning_rule_is_one_typed_node_and_old_run_configs_still_load() -> None:
    from decomp.config.schema import LearnerConfig, config_from_dict

    cfg = compose_config(["env=smac", "regime=replay", "learner.lr=0.0001"])
    assert isinstance(cfg.learner, LearnerConfig) and cfg.learner.lr == 0.0001 and cfg.learner.td_lambda == 0.6
    with pytest.raises(Exception, match="lr"):  # the flat key of older versions is no longer a CLI key
        compose_config(["env=smac", "lr=0.0001"])
    old = {"env": {"name": "smac"}, "mixer": {"name": "qmix"}, "lr": 0.002, "td_lambda": 0.3, "seed": 4}
    cfg = config_from_dict(old)  # a config.yaml saved before the learner node existed
    assert (cfg.learner.lr, cfg.learner.td_lambda, cfg.seed, cfg.method.name) == (0.002, 0.3, 4, "qmix")
    iql = config_from_dict({"mixer": {"name": "none", "options": {}, "learner": {}, "init_scale": 0.001}})
    assert (iql.method.name, iql.method.init_scale) == ("iql", 0.001)  # saved before mixer: became method:
    with pytest.raises(ConfigError, match="learner.lr must be > 0"):
        validate(compose_config(["learner.lr=0"]))


def test_no_private_env_attribute_is_read_outside_the_envs() -> None:
    """Runners, replay export and the matrix lab use the envs' public accessors (snapshot, observe)."""
    pattern = re.compile(r"\benv\w*\._[a-z]")
    hits = [f"{p}:{i}" for folder in ("decomp", "theory", "apps", "games", "benchmarks")
            for p in (ROOT / folder).rglob("*.py") if "envs" not in p.relative_to(ROOT).parts
            for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert hits == []
