"""Encoding a compiled body as the artifact files: canonical JSON (the reference) and msgpack
(the same content). The compiler's: it needs the msgpack package, which the runtime loads only
to read a .msgpack artifact."""

from __future__ import annotations

import json
from typing import Any

import msgpack

from cpcompile.artifact_format.document import encode_document


def encode(body: dict[str, Any]) -> tuple[dict[str, Any], bytes, bytes]:
    """The document, its canonical JSON bytes and its msgpack bytes. ``body``'s objects must
    have their keys in sorted order, as the compiler builds them (compiler.compile_body)."""
    document, json_bytes = encode_document(body)
    return document, json_bytes, pack_sorted(document)


def pack_sorted(document: dict[str, Any]) -> bytes:
    """msgpack keeps maps in insertion order: the bytes are a function of the content alone
    when every map's keys are in sorted order, as in the canonical JSON. The header is sorted
    here; the body comes sorted from the compiler. Packing it as it is, rather than a decoded
    copy of the canonical JSON (``encode_msgpack``), takes half the time and no second body in
    memory; tests/test_build.py holds the two to the same bytes."""
    packed: bytes = msgpack.packb(dict(sorted(document.items())), use_bin_type=True)
    return packed


def encode_msgpack(canonical: bytes) -> bytes:
    """The msgpack bytes of canonical JSON bytes, whatever order their document was built in:
    decoding canonical JSON yields every map in sorted key order."""
    packed: bytes = msgpack.packb(json.loads(canonical), use_bin_type=True)
    return packed
