"""Incremental builds: parsed documents and finished builds, cached by content hash.

Everything here is an optimisation. An entry is used only when its own checksums prove it
intact and it was written by this version of cpcompile; anything else (missing, truncated,
corrupt, older format, unwritable directory) is ignored and the work is simply done again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

from . import __version__, yamlsrc
from ._format import SCHEMA_VERSION
from .atomic import write_atomic
from .sources import SourceFile

CACHE_FORMAT = 1
_MAGIC = b"cpcompile-cache"


class Cache:
    def __init__(self, directory: Path):
        # a new tool version may parse or check differently: it gets a cache of its own
        self.directory = directory / f"v{CACHE_FORMAT}-{__version__}-schema{SCHEMA_VERSION}"
        self._pending: dict[Path, bytes] = {}

    # parsed documents ---------------------------------------------------------------------
    def parse(self, source: SourceFile) -> dict[str, Any]:
        path = self.directory / "docs" / source.sha256[:2] / f"{source.sha256}.json"
        data = _read_checked(path, source.sha256)
        if isinstance(data, dict):
            return data
        data = yamlsrc.parse(source.text)  # a YamlProblem propagates and is not cached
        self._pending[path] = _checked(source.sha256, data)
        return data

    # finished builds ----------------------------------------------------------------------
    def build_record(self, digest: str) -> dict[str, Any] | None:
        record = _read_checked(self.directory / "builds" / f"{digest}.json", digest)
        return record if isinstance(record, dict) else None

    def store_build_record(self, digest: str, record: dict[str, Any]) -> None:
        self._pending[self.directory / "builds" / f"{digest}.json"] = _checked(digest, record)

    def flush(self) -> None:
        """Write what was learnt; failing to write a cache never fails the build."""
        for path, data in self._pending.items():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(path, data, durable=False)
            except OSError:
                pass
        self._pending.clear()


def input_digest(files: Iterable[SourceFile], extra: Iterable[str]) -> str:
    """Identity of a build's inputs: every file's path and content, plus build options."""
    h = hashlib.sha256(f"cpcompile {__version__} schema {SCHEMA_VERSION}\n".encode())
    for source in files:
        h.update(f"{source.kind.value}\0{source.relpath}\0{source.sha256}\n".encode())
    for item in extra:
        h.update(f"option\0{item}\n".encode())
    return h.hexdigest()


def _checked(key: str, value: Any) -> bytes:
    """A cache entry: a header naming what it is for and the checksum of its payload."""
    payload = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    return b"%s %s %s\n" % (_MAGIC, key.encode(), _sha(payload).encode()) + payload


def _read_checked(path: Path, key: str) -> Any:
    """The value stored for ``key`` at ``path``, or None unless the entry is whole and for it."""
    try:
        header, _, payload = path.read_bytes().partition(b"\n")
        magic, stored_key, stored_sha = header.split(b" ")
        if magic != _MAGIC or stored_key.decode() != key or stored_sha.decode() != _sha(payload):
            return None
        return json.loads(payload)
    except (OSError, ValueError):
        return None


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
