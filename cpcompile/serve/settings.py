"""Settings of ``cpcompile serve``: a TOML file (docs/serve.md), overridden by command-line options.

Each setting is checked here, once, so the service never starts half-configured; a mistake
names the setting, the file and what to write instead.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from difflib import get_close_matches
from pathlib import Path
from typing import Any, Literal

TOKENS_ENV = "CPCOMPILE_API_TOKENS"
# a Redis URL with a password is a secret: it can come from the environment, not the file
PROFILES_ENV = "CPCOMPILE_PROFILES"
_ORG_ID = re.compile(r"[A-Za-z0-9]{1,64}@AdobeOrg")
_HINT = re.compile(r"[a-z0-9]{1,16}")
_BASE_PATH = re.compile(r"[A-Za-z0-9_\-]{1,32}")
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?")


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class ServeSettings:
    artifact: str | None = None
    host: str = "127.0.0.1"
    port: int | None = None
    certfile: str | None = None
    keyfile: str | None = None
    org_id: str | None = None
    location_hint: str = "local"
    edge_base_path: str = "ee"
    allowed_origins: tuple[str, ...] = ()
    api_tokens: tuple[str, ...] = field(default=(), repr=False)
    profiles: str = "profiles.sqlite3"
    store_timeout: float = 0.05
    profile_ttl: float | None = None
    public_key: str | None = None
    poll_interval: float = 2.0
    poll_jitter: float = 0.2
    max_stale: float | None = None
    stale_policy: Literal["serve", "fail"] = "serve"
    workers: int = 1

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return 8443 if self.certfile else 8080

    def with_options(self, **options: Any) -> ServeSettings:
        """These settings with every option that was given (not None) in place."""
        given = {k: v for k, v in options.items() if v is not None and v != ()}
        return check(replace(self, **given), source="the command line")


def load_settings(path: Path | None) -> ServeSettings:
    settings = ServeSettings()
    if path is not None:
        try:
            with open(path, "rb") as f:
                document = tomllib.load(f)
        except OSError as err:
            raise SettingsError(f"{path}: cannot read the settings file ({err.strerror})") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise SettingsError(f"{path}: not valid TOML ({err})") from None
        table = document.get("serve", document)
        settings = _from_table(table, str(path))
    profiles = os.environ.get(PROFILES_ENV)
    if profiles:
        settings = replace(settings, profiles=profiles)
    tokens = os.environ.get(TOKENS_ENV)
    if tokens:
        settings = replace(settings, api_tokens=settings.api_tokens + tuple(t for t in tokens.split(",") if t))
    return check(settings, source=str(path) if path else "the defaults")


def _from_table(table: object, source: str) -> ServeSettings:
    if not isinstance(table, dict):
        raise SettingsError(f"{source}: [serve] must be a table of settings")
    known = {f.name: f for f in fields(ServeSettings)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in known:
            hint = get_close_matches(name, list(known), n=1)
            also = f"; did you mean {hint[0]!r}?" if hint else f"; known settings: {', '.join(known)}"
            raise SettingsError(f"{source}: unknown setting {key!r}{also}")
        if name in ("allowed_origins", "api_tokens"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise SettingsError(f"{source}: {key} must be a list of strings")
            value = tuple(value)
        values[name] = value
    return ServeSettings(**values)  # typed and checked by check(), which every path runs


def _typed(settings: ServeSettings, source: str) -> ServeSettings:
    expect: dict[str, type | tuple[type, ...]] = {
        "host": str, "location_hint": str, "edge_base_path": str, "profiles": str, "stale_policy": str,
        "poll_interval": (int, float), "poll_jitter": (int, float), "workers": int, "store_timeout": (int, float),
    }
    for name, kind in expect.items():
        value = getattr(settings, name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise SettingsError(f"{source}: {name} has the wrong type ({type(value).__name__})")
    for name in ("artifact", "certfile", "keyfile", "org_id", "public_key"):
        if getattr(settings, name) is not None and not isinstance(getattr(settings, name), str):
            raise SettingsError(f"{source}: {name} must be a string")
    for name in ("port", "max_stale", "profile_ttl"):
        value = getattr(settings, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise SettingsError(f"{source}: {name} must be a number")
    return settings


def check(settings: ServeSettings, *, source: str) -> ServeSettings:
    settings = _typed(settings, source)
    if settings.org_id is not None and not _ORG_ID.fullmatch(settings.org_id):
        raise SettingsError(f"{source}: org_id must look like 1234ABCD5678@AdobeOrg, got {settings.org_id!r}")
    if not _HINT.fullmatch(settings.location_hint):
        raise SettingsError(f"{source}: location_hint must be 1 to 16 lower-case letters or digits (like or2)")
    if not _BASE_PATH.fullmatch(settings.edge_base_path):
        raise SettingsError(f"{source}: edge_base_path must be a single path segment (like ee)")
    for origin in settings.allowed_origins:
        if origin == "*" or not _ORIGIN.fullmatch(origin):
            raise SettingsError(
                f"{source}: allowed origin {origin!r} must be an exact scheme://host[:port] "
                "(credentials are sent, so '*' is never allowed)"
            )
    for token in settings.api_tokens:
        if len(token) < 16 or not token.isprintable() or " " in token:
            raise SettingsError(f"{source}: API tokens must be at least 16 printable characters without spaces")
    if settings.port is not None and not 0 <= settings.port <= 65535:
        raise SettingsError(f"{source}: port must be 0 to 65535")
    if not settings.poll_interval > 0 or not 0 <= settings.poll_jitter < 1:
        raise SettingsError(f"{source}: poll_interval must be > 0 and poll_jitter in [0, 1)")
    if not 0 < settings.store_timeout <= 10:
        raise SettingsError(f"{source}: store_timeout must be more than 0 and at most 10 seconds")
    if settings.profile_ttl is not None and not settings.profile_ttl >= 1:
        raise SettingsError(f"{source}: profile_ttl must be at least 1 second (or unset: profiles never expire)")
    if settings.max_stale is not None and not settings.max_stale > 0:
        raise SettingsError(f"{source}: max_stale must be a positive number of seconds")
    if settings.stale_policy not in ("serve", "fail"):
        raise SettingsError(f"{source}: stale_policy must be 'serve' (flag stale answers) or 'fail' (refuse them)")
    if (settings.certfile is None) != (settings.keyfile is None):
        raise SettingsError(f"{source}: give both certfile and keyfile, or neither")
    if not 1 <= settings.workers <= 64:
        raise SettingsError(f"{source}: workers must be 1 to 64")
    return settings
