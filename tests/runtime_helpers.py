"""Small artifacts for runtime and format tests."""

from __future__ import annotations

import json
import os
from typing import Any

from cpcompile.artifact_format.document import canonical_json, make_document

DS = "0f3a6c1e-2b7d-4e59-9c3a-1d2e3f4a5b6c"
DEST_A = "2c0e1d5a-0000-4000-8000-00000000000a"
DEST_B = "7bb4cb8d-8c2e-4450-871d-b7824f547111"
AUD_1 = "1a000000-0000-4000-8000-000000000001"
AUD_2 = "2a000000-0000-4000-8000-000000000002"


def small_body(alias_a: str = "adServerAlias") -> dict[str, Any]:
    """One datastream, two destinations (the second with attributes), two audiences."""
    return {
        "datastreams": {
            DS: {
                "access": "mixed",
                "destinations": [
                    {"alias": alias_a, "destinationId": DEST_A},
                    {
                        "alias": "personalizationAlias",
                        "attributes": [{"source": "person.name.firstName", "target": "firstName"}],
                        "destinationId": DEST_B,
                    },
                ],
                "audiences": {
                    AUD_1: {"mappings": [{"destination": 0}, {"destination": 1}], "namespace": "ups"},
                    AUD_2: {
                        "mappings": [{"destination": 1, "end": 2_000_000_000, "start": 1_000_000_000}],
                        "namespace": "ups",
                    },
                },
            }
        }
    }


def document_bytes(body: dict[str, Any] | None = None) -> bytes:
    return canonical_json(make_document(small_body() if body is None else body))


def msgpack_bytes(document: dict[str, Any]) -> bytes:
    import msgpack

    # through canonical JSON, so that maps come out in sorted key order
    return msgpack.packb(json.loads(canonical_json(document)), use_bin_type=True)  # type: ignore[no-any-return]


def write_atomically(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` the way a deploy should: write aside, then rename over."""
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def doc_with(**changes: Any) -> dict[str, Any]:
    """A valid document with header fields replaced (the revision is not recomputed)."""
    document = make_document(small_body())
    document.update(changes)
    return document
