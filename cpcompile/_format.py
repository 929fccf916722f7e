"""The artifact file format shared by the compiler and the runtime (standard library only).

See docs/artifact.md. The revision is the sha256 of the canonical JSON encoding of ``body``; as
the artifact file itself is canonical JSON with sorted keys, ``body`` is its first member and
its bytes can be hashed in place, without re-encoding.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

FORMAT = "cpcompile-artifact"
SCHEMA_VERSION = 1
# the newest schema_version this code can read, and the reader version it implements
READER_VERSION = 1
REVISION_PREFIX = "sha256:"
JSON_BODY_PREFIX = b'{"body":'


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8, integers only (floats never appear in an artifact)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def revision_of_body_bytes(body_bytes: bytes) -> str:
    return REVISION_PREFIX + hashlib.sha256(body_bytes).hexdigest()


def revision_of(body: Any) -> str:
    return revision_of_body_bytes(canonical_json(body))


def make_document(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "body": body,
        "format": FORMAT,
        "min_reader_version": READER_VERSION,
        "revision": revision_of(body),
        "schema_version": SCHEMA_VERSION,
    }
