"""Where the served artifact comes from, and how a new one replaces it.

A source is a local file (reloaded when it changes) or an HTTP(S) URL (polled with
``If-None-Match``). Every new artifact is read, verified (revision hash, and signature when a
public key is configured) and indexed completely before one assignment makes it current; on any
failure the last good artifact keeps answering and the failure is counted. When refreshes keep
failing for longer than ``max_stale`` seconds the source says so, and the service either flags
its answers or refuses them (``stale_policy``).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from cpcompile import runtime
from cpcompile.runtime import Artifact

MAX_ARTIFACT_BYTES = 512 * 1024 * 1024
MAX_SIGNATURE_BYTES = 64 * 1024
StalePolicy = Literal["serve", "fail"]


@dataclass(frozen=True, slots=True)
class Fetched:
    data: bytes
    signature: bytes | None
    encoding: str
    # what identifies these bytes for the next poll (a file's stat key, an HTTP ETag)
    tag: object


class FetchError(RuntimeError):
    pass


class Fetcher(Protocol):
    location: str

    def fetch(self, previous_tag: object, want_signature: bool) -> Fetched | None:
        """New bytes, or None when nothing changed since ``previous_tag``."""


def encoding_of(location: str) -> str:
    path = location.split("?", 1)[0]
    return "msgpack" if path.endswith(".msgpack") else "json"


def signature_location(location: str) -> str:
    head, sep, query = location.partition("?")
    stem = head.rsplit(".", 1)[0] if "." in head.rsplit("/", 1)[-1] else head
    return stem + ".sig" + sep + query


class FileFetcher:
    def __init__(self, path: str) -> None:
        self.location = path

    def fetch(self, previous_tag: object, want_signature: bool) -> Fetched | None:
        sig_path = signature_location(self.location)
        try:
            tag = (_stat_key(self.location), _stat_key_if_any(sig_path) if want_signature else None)
        except FileNotFoundError as err:
            raise FetchError(f"{self.location}: no such file") from err
        except OSError as err:
            raise FetchError(f"{self.location}: {err.strerror}") from err
        if tag == previous_tag:
            return None
        data = _read_bounded(self.location, MAX_ARTIFACT_BYTES)
        signature = _read_bounded(sig_path, MAX_SIGNATURE_BYTES) if want_signature and tag[1] else None
        return Fetched(data, signature, encoding_of(self.location), tag)


class HttpFetcher:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.location = url
        self.timeout = timeout

    def fetch(self, previous_tag: object, want_signature: bool) -> Fetched | None:
        headers = {"Accept": "application/json, application/msgpack"}
        if isinstance(previous_tag, str):
            headers["If-None-Match"] = previous_tag
        status, etag, data = self.get(self.location, headers, MAX_ARTIFACT_BYTES)
        if status == 304:
            return None
        signature = None
        if want_signature:
            _, _, signature = self.get(signature_location(self.location), {}, MAX_SIGNATURE_BYTES)
        return Fetched(data, signature, encoding_of(self.location), etag)

    def get(self, url: str, headers: dict[str, str], limit: int) -> tuple[int, str | None, bytes]:
        request = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - scheme checked in make_fetcher
                data = response.read(limit + 1)
                if len(data) > limit:
                    raise FetchError(f"{url}: more than {limit} bytes")
                return response.status, response.headers.get("ETag"), data
        except urllib.error.HTTPError as err:
            if err.code == 304:
                return 304, None, b""
            raise FetchError(f"{url}: HTTP {err.code}") from err
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise FetchError(f"{url}: {getattr(err, 'reason', err)}") from err


class PointerFetcher:
    """A published layout (``cpcompile publish``): poll its ``current.json`` pointer, and when
    it names a new revision fetch that revision's content-addressed files, checked against the
    sizes and hashes the pointer lists before they are verified as an artifact."""

    def __init__(self, location: str, timeout: float = 10.0) -> None:
        self.location = location
        self._http = HttpFetcher(location, timeout) if _is_url(location) else None

    def fetch(self, previous_tag: object, want_signature: bool) -> Fetched | None:
        from cpcompile.publish_layout import PointerError, parse_pointer

        etag, revision = previous_tag if isinstance(previous_tag, tuple) else (None, None)
        if self._http is not None:
            headers = {"If-None-Match": etag} if isinstance(etag, str) else {}
            status, new_etag, data = self._http.get(self.location, headers, 64 * 1024)
            if status == 304:
                return None
        else:
            new_etag, data = None, _read_bounded(self.location, 64 * 1024)
        try:
            pointer = parse_pointer(data)
        except PointerError as err:
            raise FetchError(f"{self.location}: {err}") from None
        if pointer.revision == revision:
            return None
        try:
            artifact = self._file(pointer, "json")
            signature = self._file(pointer, "signature") if want_signature and "signature" in pointer.files else None
        except PointerError as err:
            raise FetchError(f"{self.location}: {err}") from None
        return Fetched(artifact, signature, "json", (new_etag, pointer.revision))

    def _file(self, pointer: Any, kind: str) -> bytes:
        where = pointer.location(kind, self.location)
        limit = MAX_SIGNATURE_BYTES if kind == "signature" else MAX_ARTIFACT_BYTES
        data = self._http.get(where, {}, limit)[2] if self._http is not None else _read_bounded(where, limit)
        pointer.check(kind, data)
        return data


def _is_url(location: str) -> bool:
    return location.lower().startswith(("http://", "https://"))


def make_fetcher(location: str, timeout: float = 10.0) -> Fetcher:
    """A fetcher for a file path or an http(s) URL; one whose name is ``current.json`` is the
    pointer of a published layout."""
    from cpcompile.publish_layout import POINTER

    if "://" in location and not _is_url(location):
        raise ValueError(f"{location}: only file paths and http(s) URLs can be served")
    if location.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] == POINTER:
        return PointerFetcher(location, timeout)
    if _is_url(location):
        return HttpFetcher(location, timeout)
    return FileFetcher(location)


class ArtifactSource:
    """The current verified artifact of one location, refreshed by ``refresh`` or ``run``."""

    def __init__(
        self,
        fetcher: Fetcher,
        *,
        public_key: bytes | None = None,
        poll_interval: float = 2.0,
        jitter: float = 0.2,
        max_stale: float | None = None,
        stale_policy: StalePolicy = "serve",
    ) -> None:
        self.fetcher = fetcher
        self.public_key = public_key
        self.poll_interval = poll_interval
        self.jitter = jitter
        self.max_stale = max_stale
        self.stale_policy = stale_policy
        self.reload_failures = 0
        self.reloads = 0
        self.last_error: str | None = None
        self._tag: object = None
        fetched = fetcher.fetch(None, public_key is not None)
        assert fetched is not None
        self.current: Artifact = self._verify(fetched)
        self._tag = fetched.tag
        self.loaded_at = self.checked_at = time.time()

    @property
    def location(self) -> str:
        return self.fetcher.location

    def _verify(self, fetched: Fetched) -> Artifact:
        # prepared here, in the reload thread (or at start-up), so that no request decodes a
        # datastream's audiences on its first lookup after a swap
        return runtime.loads(
            fetched.data, encoding=fetched.encoding, public_key=self.public_key, signature=fetched.signature
        ).prepare()

    def refresh(self) -> bool:
        """Fetch, verify and swap if there is something new; True when a new artifact is current."""
        try:
            fetched = self.fetcher.fetch(self._tag, self.public_key is not None)
            if fetched is None:
                self.checked_at = time.time()
                self.last_error = None
                return False
            artifact = self._verify(fetched)
        except (FetchError, runtime.ArtifactError, OSError, ValueError) as err:
            self.reload_failures += 1
            self.last_error = f"{type(err).__name__}: {err}"
            return False
        self._tag = fetched.tag
        if artifact.revision != self.current.revision:
            self.current = artifact
            self.loaded_at = time.time()
            self.reloads += 1
        self.checked_at = time.time()
        self.last_error = None
        return True

    def stale_for(self, now: float | None = None) -> float:
        """Seconds since the location was last read successfully."""
        return max(0.0, (time.time() if now is None else now) - self.checked_at)

    def is_stale(self, now: float | None = None) -> bool:
        return self.max_stale is not None and self.stale_for(now) > self.max_stale

    def next_delay(self) -> float:
        spread = self.poll_interval * self.jitter
        return max(0.05, self.poll_interval + random.uniform(-spread, spread))

    async def run(self) -> None:
        """Poll until cancelled; each fetch runs in a worker thread, off the event loop."""
        while True:
            await asyncio.sleep(self.next_delay())
            await asyncio.to_thread(self.refresh)


def _stat_key(path: str) -> tuple[int, int, int]:
    st = os.stat(path)
    return st.st_mtime_ns, st.st_size, st.st_ino


def _stat_key_if_any(path: str) -> tuple[int, int, int] | None:
    try:
        return _stat_key(path)
    except FileNotFoundError:
        return None


def _read_bounded(path: str, limit: int) -> bytes:
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise FetchError(f"{path}: more than {limit} bytes")
    return data
