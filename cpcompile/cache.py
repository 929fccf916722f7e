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
_DOC_MAGIC = b"cpcompile-doc-cache"


class Cache:
    def __init__(self, directory: Path):
        # a new tool version may parse or check differently: it gets a cache of its own
        self.directory = directory / f"v{CACHE_FORMAT}-{__version__}-schema{SCHEMA_VERSION}"
        self._pending: dict[Path, bytes] = {}
        self.hits = 0
        self.misses = 0

    # parsed documents ---------------------------------------------------------------------
    def parse(self, source: SourceFile) -> dict[str, Any]:
        path = self.directory / "docs" / source.sha256[:2] / f"{source.sha256}.json"
        data = self._read_document(path, source.sha256)
        if data is not None:
            self.hits += 1
            return data
        self.misses += 1
        data = yamlsrc.parse(source.text)  # a YamlProblem propagates and is not cached
        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        header = b"%s %s %s\n" % (_DOC_MAGIC, source.sha256.encode(), _sha(payload).encode())
        self._pending[path] = header + payload
        return data

    @staticmethod
    def _read_document(path: Path, source_sha: str) -> dict[str, Any] | None:
        try:
            raw = path.read_bytes()
            header, _, payload = raw.partition(b"\n")
            magic, stored_source, stored_payload = header.split(b" ")
            if magic != _DOC_MAGIC or stored_source.decode() != source_sha or stored_payload.decode() != _sha(payload):
                return None
            data = json.loads(payload)
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    # finished builds ----------------------------------------------------------------------
    def build_record(self, digest: str) -> dict[str, Any] | None:
        try:
            record = json.loads((self.directory / "builds" / f"{digest}.json").read_bytes())
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) and record.get("digest") == digest else None

    def store_build_record(self, record: dict[str, Any]) -> None:
        path = self.directory / "builds" / f"{record['digest']}.json"
        self._pending[path] = json.dumps(record, sort_keys=True).encode()

    def flush(self) -> None:
        """Write what was learnt; failing to write a cache never fails the build."""
        for path, data in self._pending.items():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(path, data)
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


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
