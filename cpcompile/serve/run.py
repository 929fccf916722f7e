"""Serving the application with Granian, the ASGI server chosen by benchmarks/serve_bench.py."""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path

from .asgi import ENVIRONMENT, settings_to_environment
from .parent import SUPERVISOR
from .settings import ServeSettings
from .worker_metrics import DIRECTORY as WORKER_COUNTERS


def run(settings: ServeSettings) -> None:
    os.environ[ENVIRONMENT] = settings_to_environment(settings)
    os.environ[SUPERVISOR] = str(os.getpid())  # each worker ends with this process (parent.py)
    if settings.workers <= 1:
        os.environ.pop(WORKER_COUNTERS, None)
        _serve(settings)
        return
    with tempfile.TemporaryDirectory(prefix="cpcompile-serve-metrics-") as counters:  # made 0700
        os.environ[WORKER_COUNTERS] = counters  # /metrics adds up every worker's (worker_metrics.py)
        _serve(settings)


def _serve(settings: ServeSettings) -> None:
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels
    from granian.server import Server

    Server(
        "cpcompile.serve.asgi:from_environment",
        factory=True,
        address=settings.host,
        port=settings.effective_port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        websockets=False,
        # named rather than Granian's "auto", which takes whichever loop happens to be installed
        # (rloop first): uvloop, a dependency wherever it runs, costs less CPU per request than
        # asyncio's own loop (docs/serve.md, "The server")
        loop=Loops.uvloop if importlib.util.find_spec("uvloop") else Loops.asyncio,
        log_level=LogLevels.warning,
        ssl_cert=Path(settings.certfile) if settings.certfile else None,
        ssl_key=Path(settings.keyfile) if settings.keyfile else None,
        ssl_protocol_min="tls1.2",  # type: ignore[arg-type]
    ).serve()
