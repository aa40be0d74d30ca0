"""Whether a process lives: the one rule for files and folders left by dead writers.

Invariant: ``pid_alive`` answers False only when the process is certainly gone, so a
cleaner that trusts it never removes a live writer's file. It imports nothing of the
package (the emulator's store and the client's library both use it).
"""

from __future__ import annotations

import os

__all__ = ["pid_alive"]


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
