"""The one registry of methods: mixer, learner, typed options and kind.

Everything that lists methods (config validation, the CLI, the matrix report, the explorer, the theory
layer) reads :data:`METHODS`. Option dataclasses are generated from the constructors' signatures, so a
default lives in exactly one place (the constructor) and is still typed and validated; a method's run
settings are YAML (``decomp/conf/method/<name>.yaml``, whose option defaults a test holds equal to these).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from torch import nn

from decomp.core.agents import AgentInputs
from decomp.core.learners import ComaLearner, Learner, QPlexLearner, QTranAltLearner, QTranLearner, TDLearner, WQMixLearner
from decomp.core.mixers import (ComaCritic, IQLMixer, QattenMixer, QMixMixer, QPlexMixer, QTranJoint, VDNMixer,
                           WQMixMixer)
from decomp.core.mixers.base import ActionModule, Dims, Mixer
from decomp.core.mixers.kinds import Kind, KindInfo, describe

MixerClass = type[Mixer] | type[ActionModule]


class UnknownMethod(ValueError):
    """A method name that is not registered; the message lists the valid ones."""


class BadOptions(ValueError):
    """Options a method's mixer or learner does not take, or of the wrong type."""


def options_type(fn: Callable[..., Any], skip: int, name: str, fixed: Mapping[str, Any] = {}) -> type:
    """A dataclass of ``fn``'s keyword options (its parameters after the first ``skip``), typed and with
    the constructor's defaults; ``fixed`` parameters are set by the registry and not exposed."""
    params = list(inspect.signature(fn).parameters.values())[skip:]
    hints = typing.get_type_hints(fn)
    fields = [(p.name, hints.get(p.name, Any), field(default=p.default)) for p in params
              if p.name not in fixed and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return dataclasses.make_dataclass(name, fields)


@dataclass(frozen=True)
class Method:
    name: str
    summary: str
    mixer_cls: MixerClass
    learner_cls: type[Learner]
    learner_fixed: Mapping[str, Any] = field(default_factory=dict)
    """learner arguments that define the method (e.g. WQMIX's weighting), not user options"""

    @property
    def kind(self) -> Kind:
        return self.mixer_cls.kind

    @property
    def info(self) -> KindInfo:
        return describe(self.kind)

    @functools.cached_property
    def options_type(self) -> type:
        env_params = {name: None for name in getattr(self.mixer_cls, "env_params", ())}  # from_dims sets them
        return options_type(self.mixer_cls.__init__, 4, f"{self.mixer_cls.__name__}Options", env_params)

    @functools.cached_property
    def learner_options_type(self) -> type:
        fixed = {**self.learner_fixed, "inputs": None}  # build_learner passes the run's agent inputs
        return options_type(self.learner_cls.__init__, 5, f"{self.name.title()}LearnerOptions", fixed)

    def defaults(self) -> dict[str, dict[str, Any]]:
        """{"options": mixer defaults, "learner": learner defaults}: the body of the method's config node."""
        return {"options": dataclasses.asdict(self.options_type()),
                "learner": dataclasses.asdict(self.learner_options_type())}

    def mixer_options(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """``given`` merged over the typed mixer defaults; unknown keys and wrong types raise BadOptions."""
        return _typed(self.options_type, given, f"method.options of {self.name}")

    def learner_options(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """``given`` merged over the typed learner defaults; unknown keys and wrong types raise BadOptions."""
        return _typed(self.learner_options_type, given, f"method.learner of {self.name}")

    def build_mixer(self, dims: Dims, options: Mapping[str, Any] | None = None) -> nn.Module:
        return self.mixer_cls.from_dims(dims, **self.mixer_options(options or {}))

    def build_learner(self, agent: nn.Module, mixer: nn.Module, info: Any, cfg: Any,
                      options: Mapping[str, Any] | None = None, inputs: AgentInputs = AgentInputs()) -> Learner:
        """The learner around built networks; ``inputs``: what the agents see besides obs (the run's
        agent_id, last_action), shared with the acting policy."""
        return self.learner_cls(agent, mixer, info, cfg, **self.learner_options(options or {}), **self.learner_fixed,
                                inputs=inputs)


def _typed(cls: type, given: Mapping[str, Any], where: str) -> dict[str, Any]:
    valid = ", ".join(f"{f.name}: {getattr(f.type, '__name__', f.type)} = {f.default!r}" for f in dataclasses.fields(cls))
    unknown = sorted(set(given) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise BadOptions(f"{where}: unknown option(s) {', '.join(unknown)}; valid: {valid or '(none)'}")
    try:
        merged = OmegaConf.merge(OmegaConf.structured(cls), dict(given))
    except OmegaConfBaseException as err:
        raise BadOptions(f"{where}: {str(err).splitlines()[0]}; valid: {valid}") from None
    return dict(OmegaConf.to_container(merged))  # type: ignore[arg-type]


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("iql", "IQL: independent learners, no Q_tot", IQLMixer, TDLearner),
    Method("vdn", "VDN: Q_tot = Σ Q^i", VDNMixer, TDLearner),
    Method("qmix", "QMIX: monotone hypernetwork mixer", QMixMixer, TDLearner),
    Method("qatten", "Qatten: multi-head attention, c(s) + Σ λ_i Q^i", QattenMixer, TDLearner),
    Method("qtran", "QTRAN-base: Q_jt(s,u) + V(s) with opt/nopt losses", QTranJoint, QTranLearner),
    Method("qtran_alt", "QTRAN-alt: QTRAN's networks with the counterfactual L_nopt-min", QTranJoint,
           QTranAltLearner),
    # QPLEX's mixer defaults (w_floor 1e-10, advantage_trains_w) were measured on the matrix report's
    # settings: see decomp/core/mixers/qplex.py and docs/matrix_games.md.
    Method("qplex", "QPLEX: duplex dueling, Σ V_i + Σ λ_i(s,u) A_i", QPlexMixer, QPlexLearner),
    Method("ow_qmix", "OW-QMIX: QMIX projected from an unrestricted Q̂*, optimistic weights", WQMixMixer,
           WQMixLearner, learner_fixed={"weighting": "ow"}),
    Method("cw_qmix", "CW-QMIX: QMIX projected from an unrestricted Q̂*, centrally weighted", WQMixMixer,
           WQMixLearner, learner_fixed={"weighting": "cw"}),
    Method("coma", "COMA: actor-critic with a counterfactual baseline (critic only, no Q_tot mixer)", ComaCritic,
           ComaLearner),
)}


def register(method: Method) -> Method:
    """Add a method defined outside this file to :data:`METHODS` (examples/smooth_qmix.py, docs/extending.md).

    Everything that reads the registry then offers it: ``method=<name>``, its typed options, the matrix lab,
    the theory checks. A taken name or a class that is not a mixing module / learner is refused.
    """
    if method.name in METHODS:
        raise ValueError(f"method {method.name!r} is already registered ({METHODS[method.name].summary}); "
                         "choose another name")
    if not (isinstance(method.mixer_cls, type) and issubclass(method.mixer_cls, (Mixer, ActionModule))):
        raise TypeError(f"method {method.name!r}: mixer_cls must be a Mixer or ActionModule subclass "
                        f"(decomp.core.mixers.base), got {method.mixer_cls!r}")
    if not (isinstance(method.learner_cls, type) and issubclass(method.learner_cls, Learner)):
        raise TypeError(f"method {method.name!r}: learner_cls must be a Learner subclass (decomp.core.learners), "
                        f"got {method.learner_cls!r}")
    METHODS[method.name] = method
    return method


def get_method(name: str) -> Method:
    """The registered method ``name``; an unknown name fails with the list."""
    try:
        return METHODS[name]
    except KeyError:
        raise UnknownMethod(f"unknown method {name!r}; valid methods: {', '.join(sorted(METHODS))}") from None


def kind_of(module: nn.Module) -> Kind:
    """The kind of a built mixing module (every registered mixer class declares one)."""
    if not isinstance(module, (Mixer, ActionModule)):
        raise TypeError(f"{type(module).__name__} is not a mixing module (Mixer or ActionModule)")
    return module.kind


def make_mixer(name: str, n_agents: int, state_dim: int, feat_dim: int = 0, n_actions: int = 0,
               **options: Any) -> nn.Module:
    """Build method ``name``'s mixing module; unknown names and options fail with what is valid."""
    return get_method(name).build_mixer(Dims(n_agents, state_dim, feat_dim, n_actions), options)


def make_learner(name: str, agent: nn.Module, mixer: nn.Module, info: Any, cfg: Any, **options: Any) -> Learner:
    """Build method ``name``'s learner around already-built agent and mixer networks."""
    return get_method(name).build_learner(agent, mixer, info, cfg, options)


def method_table() -> str:
    """Every method with its kind and options (defaults), for ``python -m decomp.core.methods``."""
    lines = []
    for m in METHODS.values():
        d = m.defaults()
        lines.append(f"{m.name:10s} {m.summary}\n{'':10s} kind: {m.info.label}; agents output {m.info.agent_outputs}")
        for part in ("options", "learner"):
            if d[part]:
                lines.append(f"{'':10s} method.{part}: " + ", ".join(f"{k}={v}" for k, v in d[part].items()))
    lines.append("Run settings a method brings with it (COMA's on-policy replay, QTRAN's form on env=smac): "
                 "decomp/conf/method/<name>.yaml, decomp/conf/method_env/<name>_<env>.yaml")
    return "\n".join(lines)


# Last, so that a plugin importing this module finds METHODS and register() defined.
from decomp.core.plugins import load_plugins  # noqa: E402

load_plugins()


if __name__ == "__main__":
    from decomp.core import methods  # the imported module: the one DECOMP_METHODS plugins registered into

    print(methods.method_table())
