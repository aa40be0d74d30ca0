"""Whether a process lives: the one rule for files and folders left by dead writers.

Invariant: ``pid_alive`` answers False only when the process is certainly gone, so a
cleaner that trusts it never removes a live writer's file. A writer is named by more
than its PID (`writer_token`: the PID's start time and the boot it started in, where
the system says), so a process that reuses a dead writer's PID (PID 1 in a restarted
container) is never taken for it (`writer_alive`). It imports nothing of the package
(the emulator's store and the client's library both use it).
"""

from __future__ import annotations

import os

__all__ = ["pid_alive", "writer_token", "writer_alive"]


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return ""


def writer_token(pid: int | None = None) -> str:
    """What tells process ``pid`` (this one by default) apart from a later process with
    the same PID: its start time since boot and the boot's id ("" where the system does
    not say, e.g. off Linux: then the PID alone is known)."""
    pid = os.getpid() if pid is None else pid
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return ""
    # Field 22 (start time in clock ticks) counts after the ")" that ends the name.
    fields = stat.rsplit(")", 1)[-1].split()
    return f"{_boot_id()}:{fields[19]}" if len(fields) > 19 else ""


def writer_alive(pid: int, token: str | None) -> bool:
    """True when the process that wrote ``token`` as process ``pid`` still runs: the
    PID lives and, when both are known, started at the same time in the same boot."""
    if not pid_alive(pid):
        return False
    if not token:
        return True  # written before tokens, or where the system gives none: trust the PID
    now = writer_token(pid)
    return not now or now == token


def pid_alive(pid: int) -> bool:
    """True when process ``pid`` exists (ours included)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    except OSError:
        return False
    return True
