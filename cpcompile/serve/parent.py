"""A server worker ends with the process that started it, however that one ends.

Granian's supervisor stops its workers when it is stopped, but one killed outright (SIGKILL, the
kernel's out-of-memory killer) cannot: its workers lived on, holding the port and answering
with no supervisor to restart or stop them. On Linux a worker asks the kernel for SIGTERM, which
it handles as a graceful stop, when its parent dies (prctl PR_SET_PDEATHSIG). Elsewhere nothing
changes.
"""

from __future__ import annotations

import os
import signal
import sys

SUPERVISOR = "CPCOMPILE_SERVE_SUPERVISOR"  # the pid of the process that starts the workers
_PR_SET_PDEATHSIG = 1


def end_with_supervisor() -> None:
    """In a worker: SIGTERM when the supervisor dies. If it died before this call (the worker
    has another parent by now), the worker stops at once."""
    supervisor = os.environ.get(SUPERVISOR, "")
    if not sys.platform.startswith("linux") or not supervisor.isdigit() or int(supervisor) == os.getpid():
        return  # not Linux, not started by `cpcompile serve`, or the supervisor itself
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
            return
    except (OSError, AttributeError):  # no C library to ask: as on other systems
        return
    if os.getppid() != int(supervisor):
        os.kill(os.getpid(), signal.SIGTERM)
