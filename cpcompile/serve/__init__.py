"""``cpcompile serve``: an Edge-compatible profile-request service (docs/serve.md).

``build_app(settings)`` gives the ASGI application; ``run(settings)`` serves it with Granian.
"""

from __future__ import annotations

from .app import ServeApp
from .settings import ServeSettings, SettingsError, load_settings
from .source import ArtifactSource, make_fetcher
from .store import ProfileStore


def open_store(location: str) -> ProfileStore:
    """The profile store a ``profiles`` setting names: a SQLite file path (the default)."""
    if "://" in location:
        raise SettingsError(f"profiles: unsupported store {location.split('://', 1)[0]!r}; give a SQLite file path")
    from .sqlite_store import SqliteProfileStore

    return SqliteProfileStore(location)


def open_source(settings: ServeSettings) -> ArtifactSource:
    if settings.artifact is None:
        raise SettingsError("no artifact to serve: give ARTIFACT_OR_URL or the 'artifact' setting")
    from cpcompile.runtime._load import public_key_of

    return ArtifactSource(
        make_fetcher(settings.artifact),
        public_key=public_key_of(settings.public_key) if settings.public_key else None,
        poll_interval=settings.poll_interval,
        jitter=settings.poll_jitter,
        max_stale=settings.max_stale,
        stale_policy=settings.stale_policy,
    )


def build_app(settings: ServeSettings) -> ServeApp:
    return ServeApp(settings, open_source(settings), open_store(settings.profiles))


__all__ = ["ServeApp", "ServeSettings", "SettingsError", "build_app", "load_settings", "open_source", "open_store"]
