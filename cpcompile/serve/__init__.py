"""``cpcompile serve``: an Edge-compatible profile-request service (docs/serve.md).

``build_app(settings)`` gives the ASGI application; ``run(settings)`` serves it with Granian.
"""

from __future__ import annotations

from .app import ServeApp
from .settings import ServeSettings, SettingsError, load_settings
from .source import ArtifactSource, make_fetcher
from .store import ProfileStore
from .worker_metrics import WorkerFiles


def open_store(location: str, *, timeout: float = 0.05, ttl: float | None = None) -> ProfileStore:
    """The profile store a ``profiles`` setting names: ``redis://HOST:PORT/DB`` (shared by
    replicas) or a SQLite file path (the default). ``timeout`` bounds each Redis call, ``ttl``
    makes Redis forget a profile that many seconds after it was written."""
    scheme = location.split("://", 1)[0].lower() if "://" in location else None
    if scheme in ("redis", "rediss", "unix"):
        from .redis_store import RedisProfileStore

        return RedisProfileStore(location, timeout=timeout, ttl=ttl)
    if scheme is not None:
        raise SettingsError(f"profiles: unsupported store {scheme!r}; give redis://HOST:PORT/DB or a SQLite file path")
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


def build_app(settings: ServeSettings, worker_files: WorkerFiles | None = None) -> ServeApp:
    """The application; ``worker_files``: where the workers of one server add up their counters."""
    store = open_store(settings.profiles, timeout=settings.store_timeout, ttl=settings.profile_ttl)
    return ServeApp(settings, open_source(settings), store, worker_files)


__all__ = ["ServeApp", "ServeSettings", "SettingsError", "build_app", "load_settings", "open_source", "open_store"]
