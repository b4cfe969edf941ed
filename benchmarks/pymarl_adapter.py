"""Drive pymarl's own ``QLearner.train()`` (or a pymarl fork's) on decomp's synthetic batch.

Nothing of pymarl is copied here: its modules are imported at run time from ``<dir>/src`` (a
checkout of https://github.com/oxwhirl/pymarl, or of a fork with the same layout such as the
Qatten authors' https://github.com/qattenaaai22/Qatten). Everything pymarl's learner touches is
pymarl's: its ``EpisodeBatch`` (scheme, groups and the actions one-hot preprocess as in pymarl's
``run.py``), its ``BasicMAC`` with its ``RNNAgent`` (GRUCell, a Python loop over time), its mixer
and its ``QLearner`` with its RMSprop.

Shims, all on this side (nothing in ``<dir>`` is changed):

- ``StubLogger`` stands in for pymarl's sacred/tensorboard ``Logger``: ``QLearner`` only calls
  ``log_stat`` and ``console_logger.info``. It records the logged values (loss, grad_norm), which
  the benchmark uses to check that pymarl computes the same loss as decomp from the same weights.
- pymarl's top-level package names (``components``, ``modules``, ``learners``, ...) are generic, and
  pymarl and a fork share them, so each source dir is imported in isolation: ``sys.path`` gets
  ``<dir>/src`` and ``sys.modules`` forgets those names afterwards (objects keep their classes).
- ``sacred``, ``main.py`` and ``run.py`` are not imported: the learner does not need them.
- ``EpisodeBatch.update`` indexes with a list of slices, which recent torch flags with a
  deprecation UserWarning on every field; that one warning is silenced while the batch is filled
  (the filled batch is then checked field by field against decomp's).
"""

from __future__ import annotations

import importlib
import logging
import subprocess
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, Iterator

import torch
from torch import nn

from decomp.core.buffer import EpisodeBatch

# pymarl's top-level packages under src/ (names that other code may also use, hence the isolation)
PYMARL_PACKAGES = ("components", "controllers", "learners", "modules", "utils", "envs", "runners")


@contextmanager
def _isolated_path(src: Path) -> Iterator[None]:
    """Import pymarl's packages from ``src`` only, then restore sys.path and sys.modules as they were."""
    def owned(name: str) -> bool:
        return name.split(".")[0] in PYMARL_PACKAGES

    saved = {k: v for k, v in sys.modules.items() if owned(k)}
    for k in saved:
        del sys.modules[k]
    sys.path.insert(0, str(src))
    try:
        yield
    finally:
        sys.path.remove(str(src))
        for k in [k for k in sys.modules if owned(k)]:
            del sys.modules[k]
        sys.modules.update(saved)


def git_commit(root: Path) -> str:
    """The checkout's commit, or a note that ``root`` is not a git checkout (e.g. a ``git archive`` export)."""
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def load_pymarl(root: Path) -> SimpleNamespace:
    """pymarl's EpisodeBatch, OneHot, BasicMAC and QLearner classes, imported from ``root/src``."""
    src = root / "src"
    if not (src / "learners" / "q_learner.py").is_file():
        raise FileNotFoundError(f"{src}/learners/q_learner.py not found: pass the root of a pymarl checkout")
    with _isolated_path(src):
        mods: dict[str, ModuleType] = {
            name: importlib.import_module(name)
            for name in ("components.episode_buffer", "components.transforms", "controllers.basic_controller",
                         "learners.q_learner")
        }
    return SimpleNamespace(
        root=root, commit=git_commit(root),
        EpisodeBatch=mods["components.episode_buffer"].EpisodeBatch,
        OneHot=mods["components.transforms"].OneHot,
        BasicMAC=mods["controllers.basic_controller"].BasicMAC,
        QLearner=mods["learners.q_learner"].QLearner,
    )


class StubLogger:
    """pymarl's Logger as QLearner uses it (``log_stat(key, value, t)``, ``console_logger``); keeps the last values."""

    def __init__(self) -> None:
        self.stats: dict[str, float] = {}
        self.console_logger = logging.getLogger("pymarl")

    def log_stat(self, key: str, value: Any, t: int) -> None:
        self.stats[key] = float(value)


def pymarl_args(n_agents: int, n_actions: int, state_dim: int, hidden: int, mixer: str,
                **extra: Any) -> SimpleNamespace:
    """pymarl's config (default.yaml + algs/qmix.yaml) at decomp's benchmark settings.

    RMSprop lr 5e-4, alpha 0.99, eps 1e-5, clip 10, γ 0.99, double-Q, QMIX embed 32 with 2-layer
    hypernets of 64 (as decomp's qmix). Target updates and learner logging are pushed out of reach
    (decomp's learner does not copy targets within a benchmark run either).
    """
    return SimpleNamespace(
        n_agents=n_agents, n_actions=n_actions, state_shape=state_dim,
        agent="rnn", rnn_hidden_dim=hidden, obs_agent_id=True, obs_last_action=True,
        mac="basic_mac", agent_output_type="q",
        action_selector="epsilon_greedy", epsilon_start=1.0, epsilon_finish=0.05, epsilon_anneal_time=50000,
        learner="q_learner", mixer=mixer, double_q=True, gamma=0.99,
        lr=5e-4, optim_alpha=0.99, optim_eps=1e-5, grad_norm_clip=10,
        mixing_embed_dim=32, hypernet_layers=2, hypernet_embed=64,
        target_update_interval=10**9, learner_log_interval=10**9,
        use_cuda=False, device="cpu", **extra,
    )


def pymarl_batch(api: SimpleNamespace, batch: EpisodeBatch) -> Any:
    """decomp's batch as pymarl's EpisodeBatch: B episodes, T+1 slots, same tensors.

    pymarl stores every field in T+1 slots; per-step fields (actions, reward, terminated) get a zero
    final slot. ``filled`` is what pymarl's runner writes: 1 for each step taken and for the final
    observation slot, so ``QLearner``'s mask (filled, cut after termination) equals decomp's mask.
    """
    b, t = batch.mask.shape
    n, a = batch.avail.shape[2:]
    scheme = {  # as in pymarl's run.py
        "state": {"vshape": batch.state.shape[-1]},
        "obs": {"vshape": batch.obs.shape[-1], "group": "agents"},
        "actions": {"vshape": (1,), "group": "agents", "dtype": torch.long},
        "avail_actions": {"vshape": (a,), "group": "agents", "dtype": torch.int},
        "reward": {"vshape": (1,)},
        "terminated": {"vshape": (1,), "dtype": torch.uint8},
    }
    preprocess = {"actions": ("actions_onehot", [api.OneHot(out_dim=a)])}
    out = api.EpisodeBatch(scheme, {"agents": n}, b, t + 1, preprocess=preprocess, device="cpu")

    def slots(x: torch.Tensor) -> torch.Tensor:  # (B, T, ...) -> (B, T+1, ...), zero final slot
        return torch.cat([x, torch.zeros_like(x[:, :1])], dim=1)

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using a non-tuple sequence for multidimensional indexing")
        out.update({
            "obs": batch.obs.numpy(),  # (B, T+1, N, obs)
            "state": batch.state.numpy(),  # (B, T+1, S)
            "avail_actions": batch.avail.int().numpy(),  # (B, T+1, N, A)
            "actions": slots(batch.actions).unsqueeze(-1).numpy(),  # (B, T+1, N, 1)
            "reward": slots(batch.reward).unsqueeze(-1).numpy(),  # (B, T+1, 1)
            "terminated": slots(batch.terminated).unsqueeze(-1).to(torch.uint8).numpy(),  # (B, T+1, 1)
        })
    lengths = batch.mask.sum(1).long()  # (B,)
    filled = (torch.arange(t + 1)[None] <= lengths[:, None]).long()  # (B, T+1)
    out.data.transition_data["filled"].copy_(filled.unsqueeze(-1))
    _check_same_data(out, batch)
    return out


def _check_same_data(pb: Any, batch: EpisodeBatch) -> None:
    """The converted batch holds decomp's data, and QLearner's derived mask is decomp's mask."""
    t = batch.mask.shape[1]
    term = pb["terminated"][:, :-1].float()  # (B, T, 1)
    mask = pb["filled"][:, :-1].float()
    mask[:, 1:] = mask[:, 1:] * (1 - term[:, :-1])  # QLearner.train's mask
    checks = {
        "obs": torch.equal(pb["obs"], batch.obs), "state": torch.equal(pb["state"], batch.state),
        "avail": torch.equal(pb["avail_actions"].bool(), batch.avail),
        "actions": torch.equal(pb["actions"][:, :t, :, 0], batch.actions),
        "reward": torch.equal(pb["reward"][:, :t, 0], batch.reward),
        "terminated": torch.equal(term[..., 0], batch.terminated),
        "mask": torch.equal(mask[..., 0], batch.mask),
    }
    bad = [k for k, ok in checks.items() if not ok]
    if bad:
        raise AssertionError(f"pymarl batch differs from decomp's in: {', '.join(bad)}")


def build_learner(api: SimpleNamespace, pb: Any, args: SimpleNamespace) -> tuple[Any, StubLogger]:
    """pymarl's BasicMAC + QLearner (its mixer chosen by ``args.mixer``), with a stub logger."""
    groups = {"agents": args.n_agents}
    mac = api.BasicMAC(pb.scheme, groups, args)
    logger = StubLogger()
    return api.QLearner(mac, pb.scheme, logger, args), logger


@torch.no_grad()
def copy_decomp_qmix(learner: Any, agent: nn.Module, mixer: nn.Module, n_agents: int, obs_dim: int) -> None:
    """Load decomp's RNNAgent + QMixMixer weights into pymarl's QLearner (online and target).

    Same architecture, other names: nn.GRU's ``*_l0`` tensors are a GRUCell's (same r, z, n gate
    order), and pymarl orders the agent input [obs, last action, agent id] where decomp has
    [obs, agent id, last action], so fc1's input columns are permuted.
    """
    w = agent.fc1.weight  # (H, obs + N + A), decomp's input order
    sd = {
        "fc1.weight": torch.cat([w[:, :obs_dim], w[:, obs_dim + n_agents:], w[:, obs_dim:obs_dim + n_agents]], 1),
        "fc1.bias": agent.fc1.bias,
        "rnn.weight_ih": agent.rnn.weight_ih_l0, "rnn.weight_hh": agent.rnn.weight_hh_l0,
        "rnn.bias_ih": agent.rnn.bias_ih_l0, "rnn.bias_hh": agent.rnn.bias_hh_l0,
        "fc2.weight": agent.fc2.weight, "fc2.bias": agent.fc2.bias,
    }
    learner.mac.agent.load_state_dict(sd)
    names = {"hyper_w1": "hyper_w_1", "hyper_b1": "hyper_b_1", "hyper_w2": "hyper_w_final", "hyper_v": "V"}
    learner.mixer.load_state_dict({
        names[k.split(".", 1)[0]] + "." + k.split(".", 1)[1]: v for k, v in mixer.state_dict().items()
    })
    learner._update_targets()
