"""Serving the application with Granian, the ASGI server chosen by benchmarks/serve_bench.py."""

from __future__ import annotations

import os
from pathlib import Path

from .asgi import ENVIRONMENT, settings_to_environment
from .settings import ServeSettings


def run(settings: ServeSettings) -> None:
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    os.environ[ENVIRONMENT] = settings_to_environment(settings)
    Server(
        "cpcompile.serve.asgi:from_environment",
        factory=True,
        address=settings.host,
        port=settings.effective_port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        websockets=False,
        log_level=LogLevels.warning,
        ssl_cert=Path(settings.certfile) if settings.certfile else None,
        ssl_key=Path(settings.keyfile) if settings.keyfile else None,
        ssl_protocol_min="tls1.2",  # type: ignore[arg-type]
    ).serve()
