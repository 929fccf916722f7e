"""Encoding the artifact document: canonical JSON (the reference) and msgpack (same content)."""

from __future__ import annotations

from typing import Any

import msgpack

from ._format import canonical_json, make_document


def encode(body: dict[str, Any]) -> tuple[dict[str, Any], bytes, bytes]:
    """The document, its canonical JSON bytes and its msgpack bytes."""
    document = make_document(body)
    return document, canonical_json(document), encode_msgpack(document)


def encode_msgpack(document: dict[str, Any]) -> bytes:
    return msgpack.packb(_sorted(document), use_bin_type=True)


def _sorted(value: Any) -> Any:
    # msgpack keeps insertion order; sorting makes the bytes a function of the content alone
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value
