"""Encoding a compiled body as the artifact files: canonical JSON (the reference) and msgpack
(the same content). The compiler's: it needs the msgpack package, which the runtime loads only
to read a .msgpack artifact.

Both encodings are made of one piece per datastream (``Fragment``), joined in the order of
their ids: a datastream's piece depends on its own entry alone, so an incremental build encodes
only the datastreams whose destinations changed (incremental.py) and joins them with the
pieces it kept. Canonical JSON has sorted keys and msgpack keeps insertion order, so every map
is written in sorted key order in both, and the bytes are a function of the content alone."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Iterable

import msgpack

from cpcompile.artifact_format.document import JSON_BODY_PREFIX, canonical_json, document_header, REVISION_PREFIX

_BODY_KEY, _DATASTREAMS_KEY = "body", "datastreams"


@dataclass(frozen=True)
class Fragment:
    """One datastream's member of the body's ``datastreams`` object, in both encodings."""

    datastream: str
    json: bytes  # "id":{...}
    msgpack: bytes  # the packed id, then the packed entry


def encode_fragment(datastream: str, entry: dict[str, Any]) -> Fragment:
    """``entry``'s objects must have their keys in sorted order, as the compiler builds them
    (compiler.compile_datastream)."""
    packer = msgpack.Packer(use_bin_type=True)
    return Fragment(datastream, canonical_json({datastream: entry})[1:-1], packer.pack(datastream) + packer.pack(entry))


def encode(body: dict[str, Any]) -> tuple[dict[str, Any], bytes, bytes]:
    """The document, its canonical JSON bytes and its msgpack bytes. ``body``'s objects must
    have their keys in sorted order, as the compiler builds them (compiler.compile_body)."""
    if set(body) != {_DATASTREAMS_KEY}:
        raise ValueError(f"a body has one member, {_DATASTREAMS_KEY!r}")
    fragments = [encode_fragment(name, entry) for name, entry in body[_DATASTREAMS_KEY].items()]
    header, json_bytes, msgpack_bytes = join_fragments(fragments)
    return {_BODY_KEY: body, **header}, json_bytes, msgpack_bytes


def join_fragments(fragments: Iterable[Fragment]) -> tuple[dict[str, Any], bytes, bytes]:
    """The document's header (every member but the body), the canonical JSON and the msgpack
    of the body whose datastreams are ``fragments``, one per datastream."""
    ordered = sorted(fragments, key=lambda f: f.datastream)  # the order canonical JSON sorts keys in
    names = [f.datastream for f in ordered]
    if len(set(names)) != len(names):
        raise ValueError("two fragments of one datastream")
    body = [b'{"datastreams":{']
    for i, fragment in enumerate(ordered):
        body.extend((b",", fragment.json) if i else (fragment.json,))
    body.append(b"}}")
    digest = hashlib.sha256()
    for part in body:  # the body is hashed in its parts and joined once, with the header
        digest.update(part)
    header = document_header(REVISION_PREFIX + digest.hexdigest())
    json_bytes = b"".join((JSON_BODY_PREFIX, *body, b",", canonical_json(header)[1:]))
    packer = msgpack.Packer(use_bin_type=True)
    msgpack_bytes = b"".join((
        packer.pack_map_header(1 + len(header)),
        packer.pack(_BODY_KEY), packer.pack_map_header(1), packer.pack(_DATASTREAMS_KEY),
        packer.pack_map_header(len(ordered)), *(f.msgpack for f in ordered),
        *(packer.pack(k) + packer.pack(v) for k, v in header.items()),
    ))
    return header, json_bytes, msgpack_bytes


def encode_msgpack(canonical: bytes) -> bytes:
    """The msgpack bytes of canonical JSON bytes, whatever order their document was built in:
    decoding canonical JSON yields every map in sorted key order."""
    packed: bytes = msgpack.packb(json.loads(canonical), use_bin_type=True)
    return packed
