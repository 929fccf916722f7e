"""The ASGI entry point each server worker imports: settings come from the environment.

``cpcompile serve`` checks the settings and the artifact, then starts Granian workers that
call ``from_environment``; any other ASGI server can do the same with
``CPCOMPILE_SERVE_SETTINGS`` set to the JSON that ``settings_to_environment`` writes.
"""

from __future__ import annotations

import dataclasses
import json
import os

from . import build_app
from .app import ServeApp
from .parent import end_with_supervisor
from .settings import ServeSettings, check
from .worker_metrics import from_environment as worker_files_from

ENVIRONMENT = "CPCOMPILE_SERVE_SETTINGS"


def settings_to_environment(settings: ServeSettings) -> str:
    return json.dumps(dataclasses.asdict(settings))


def from_environment() -> ServeApp:
    end_with_supervisor()
    raw = json.loads(os.environ[ENVIRONMENT])
    for name in ("allowed_origins", "api_tokens"):
        raw[name] = tuple(raw[name])
    return build_app(check(ServeSettings(**raw), source=ENVIRONMENT), worker_files_from(os.environ))
