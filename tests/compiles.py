"""Counting XLA compilations in a test: JAX fires one monitoring event per backend compilation.

Why: a silent recompile (a dtype or weak_type that differs from the last call) costs ~12 s a step on
this CPU; the no-recompile tests count these events over their loops.
"""

from __future__ import annotations

from typing import Any

EVENT = "/jax/core/compile/backend_compile_duration"


class CompileCounter:
    """``with CompileCounter() as c: ...`` (or ``start()`` / ``stop()``); ``c.compiles`` lists the events seen."""

    def __init__(self) -> None:
        self.compiles: list[str] = []
        self._on = False

    def _listener(self, name: str, _secs: float, **_kw: object) -> None:
        if name == EVENT:
            self.compiles.append(name)

    def start(self) -> None:
        import jax.monitoring as monitoring

        monitoring.register_event_duration_secs_listener(self._listener)
        self._on = True

    def stop(self) -> None:
        import jax.monitoring as monitoring

        if self._on:
            monitoring.unregister_event_duration_listener(self._listener)
            self._on = False

    def __enter__(self) -> "CompileCounter":
        self.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.stop()


def train_counting_warm_compiles(cfg: Any, run_dir: Any) -> tuple[Any, Any, CompileCounter, int]:
    """Run a Trainer, counting compilations from its first progress report on (after ``begin()`` and the
    first collection compiled). -> (trainer, summary, counter, progress reports seen)."""
    from decomp.training.trainer import Trainer

    counter = CompileCounter()
    calls: list[float] = []

    def on_progress(frac: float) -> None:
        if not calls:  # warm from here on
            counter.start()
        calls.append(frac)

    trainer = Trainer(cfg, run_dir=run_dir, on_progress=on_progress)
    try:
        summary = trainer.run()
    finally:
        counter.stop()
    return trainer, summary, counter, len(calls)
