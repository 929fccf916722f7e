"""A profile store shared by many replicas: Redis.

Layout (docs/serve.md, "Redis layout"), so other tools can write profiles directly: one string
key per profile, ``cpcompile:profile:<namespace>:<id>``, whose value is the profile's JSON,
``{"segmentMembership": {...}, "attributes": {...}}``. A lookup is one ``GET``: one round trip.

A slow or absent Redis must never hold a request: every call has a strict timeout, and after a
failure the store answers "unavailable" at once for ``retry_after`` seconds before it tries
again, so requests are answered degraded (no destinations) instead of each waiting out a
timeout; redis-py reconnects by itself when Redis is back.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Iterable

from .identity import Identity
from .store import Profile, StoreUnavailable

KEY_PREFIX = "cpcompile:profile:"
BATCH = 1000


def profile_key(identity: Identity) -> str:
    return f"{KEY_PREFIX}{identity.namespace}:{identity.id}"


class RedisProfileStore:
    def __init__(
        self,
        url: str,
        *,
        timeout: float = 0.05,
        ttl: float | None = None,
        retry_after: float = 1.0,
        max_connections: int = 64,
        parser_class: Any = None,
    ) -> None:
        try:
            import redis.asyncio as redis
        except ImportError as err:  # pragma: no cover - the extra is part of the test install
            raise StoreUnavailable("a redis:// profile store needs the redis client: pip install 'cpcompile[redis]'") from err
        self.url = url
        self.timeout = timeout
        self.ttl = None if ttl is None else int(ttl)
        self.retry_after = retry_after
        self._errors = (redis.RedisError, OSError, asyncio.TimeoutError)
        # only these say Redis is unreachable; an error Redis answers with (out of memory, a
        # wrong type) fails that one call and leaves the store up
        self._unreachable = (redis.ConnectionError, redis.TimeoutError, OSError, asyncio.TimeoutError)
        try:
            self._client: Any = redis.Redis.from_url(
                url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                max_connections=max_connections,
                retry_on_timeout=False,
                decode_responses=False,
                # redis-py picks hiredis when it is installed; benchmarks pass one explicitly
                **({"parser_class": parser_class} if parser_class is not None else {}),
            )
        except ValueError as err:
            raise StoreUnavailable(f"profiles: not a Redis URL ({err})") from err
        self._down_until = 0.0

    async def _call(self, operation: Any) -> Any:
        if time.monotonic() < self._down_until:
            raise StoreUnavailable(f"Redis at {self._where()} failed less than {self.retry_after:g} s ago")
        try:
            async with asyncio.timeout(self.timeout * 4):
                return await operation()
        except self._errors as err:
            if isinstance(err, self._unreachable):
                self._down_until = time.monotonic() + self.retry_after
            raise StoreUnavailable(f"Redis at {self._where()}: {type(err).__name__}: {err}") from None

    def _where(self) -> str:
        # never print a password from the URL
        return self.url.split("@")[-1]

    async def get(self, identity: Identity) -> Profile | None:
        raw = await self._call(lambda: self._client.get(profile_key(identity)))
        if raw is None:
            return None
        try:
            document = json.loads(raw)
            return Profile(document["segmentMembership"], document.get("attributes"))
        except (ValueError, KeyError, TypeError):
            # written by another tool in a shape we cannot read: as if unknown, never a 5xx
            return None

    async def put(self, identity: Identity, profile: Profile) -> None:
        await self.put_many([(identity, profile)])

    async def put_many(self, profiles: Iterable[tuple[Identity, Profile]]) -> int:
        total = 0
        batch: list[tuple[str, str]] = []
        for identity, profile in profiles:
            batch.append((profile_key(identity), profile.to_json()))
            if len(batch) == BATCH:
                total += await self._write(batch)
                batch = []
        if batch:
            total += await self._write(batch)
        return total

    async def _write(self, batch: list[tuple[str, str]]) -> int:
        async def pipeline() -> None:
            pipe = self._client.pipeline(transaction=False)
            for key, value in batch:
                pipe.set(key, value, ex=self.ttl)
            await pipe.execute()

        await self._call(pipeline)
        return len(batch)

    async def ready(self) -> bool:
        try:
            return bool(await self._call(self._client.ping))
        except StoreUnavailable:
            return False

    async def close(self) -> None:
        try:
            await self._client.aclose()
        except self._errors:
            pass
