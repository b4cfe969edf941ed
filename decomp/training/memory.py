"""Will the replay fit? Checked before a run starts, not found out by the OOM killer hours later.

Why: the replay is preallocated for whole padded episodes and fills as training goes, so a too-large
``buffer_size`` is only felt when the buffer is nearly full — a SMAX 3s5z run holds ≈ 8 GB at 5000
episodes, SMAX+ bane_vs_bane (24 agents, 813 observation floats each) would need ≈ 42 GB — and the
kernel then kills the process without a word, losing everything since its last checkpoint.
"""

from __future__ import annotations

import sys
from pathlib import Path

from decomp.config.schema import ConfigError
from decomp.core.buffer import live_replay_bytes, replay_bytes
from decomp.envs.base import EnvInfo

MAX_SHARE = 0.9    # a replay needing more than this share of the machine's memory can never fit
SUGGEST_SHARE = 0.5  # the suggested buffer_size fills at most half of it


def machine_memory() -> tuple[int, int] | None:
    """(total, available) bytes from /proc/meminfo; None where there is none (the check is then skipped)."""
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line)
        return int(fields["MemTotal"].split()[0]) * 1024, int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None


def _size(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} bytes"


def check_replay_fits(info: EnvInfo, capacity: int, memory: tuple[int, int] | None = None) -> None:
    """Refuse a replay that cannot fit in this machine's memory; warn when it exceeds what is free now.

    Counts the replays this process already holds (a seed group trains several in one process).
    """
    memory = memory or machine_memory()
    if memory is None:
        return
    total, available = memory
    per = replay_bytes(info, 1)
    mine = replay_bytes(info, capacity)
    need = mine + live_replay_bytes()
    what = (f"buffer_size={capacity} episodes of {info.name or 'this env'} need {_size(mine)} "
            f"({_size(per)} per episode, padded to {info.episode_limit} steps: {info.n_agents} agents × "
            f"{info.obs_dim} observation floats, a {info.state_dim}-float state)")
    others = need - mine
    also = f" beside this process's other replays ({_size(others)})" if others else ""
    if need > MAX_SHARE * total:
        fit = max(int((SUGGEST_SHARE * total - others) // per), 0)
        fit = fit // 100 * 100 if fit >= 200 else fit
        raise ConfigError(f"{what}{also}; this machine has {_size(total)} of memory in all, so the run would be killed "
                          f"when the replay fills. Give buffer_size={fit} or less (half the memory)"
                          + (", or train fewer seeds in one process" if others else ""))
    if need > available:
        print(f"[decomp] warning: {what}{also} when full, and {_size(available)} is free now: other processes hold "
              f"the rest. The run will be killed if they do not give it back before the replay fills "
              f"(checkpoints keep what came before).", file=sys.stderr)
