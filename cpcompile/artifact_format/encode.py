"""Encoding a compiled body as the artifact files: canonical JSON (the reference) and msgpack
(the same content). The compiler's: it needs the msgpack package, which the runtime loads only
to read a .msgpack artifact."""

from __future__ import annotations

import json
from typing import Any

import msgpack

from cpcompile.artifact_format.document import encode_document


def encode(body: dict[str, Any]) -> tuple[dict[str, Any], bytes, bytes]:
    """The document, its canonical JSON bytes and its msgpack bytes."""
    document, json_bytes = encode_document(body)
    return document, json_bytes, encode_msgpack(json_bytes)


def encode_msgpack(canonical: bytes) -> bytes:
    # msgpack keeps maps in insertion order; decoding the canonical JSON yields every map in
    # sorted key order, so the bytes are a function of the content alone (and this is several
    # times faster than sorting the document recursively in Python)
    packed: bytes = msgpack.packb(json.loads(canonical), use_bin_type=True)
    return packed
