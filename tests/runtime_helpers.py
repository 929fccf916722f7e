"""Small artifacts for runtime and format tests."""

from __future__ import annotations

import hashlib
import json
import os
import random
import uuid
from typing import Any

from cpcompile.artifact_format.document import canonical_json, make_document

DS = "0f3a6c1e-2b7d-4e59-9c3a-1d2e3f4a5b6c"
DEST_A = "2c0e1d5a-0000-4000-8000-00000000000a"
DEST_B = "7bb4cb8d-8c2e-4450-871d-b7824f547111"
AUD_1 = "1a000000-0000-4000-8000-000000000001"
AUD_2 = "2a000000-0000-4000-8000-000000000002"
DAY = 86_400


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


def random_body(rng: random.Random, now: float, datastreams: int = 6) -> dict[str, Any]:
    """Datastreams with 0-12 destinations; audiences mapped to one or several of them, some
    with windows that ended, that hold now, that start later, or open on one side."""

    def new_id() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    pool = [new_id() for _ in range(300)]
    windows: list[dict[str, int]] = [
        {"start": int(now - 2 * DAY), "end": int(now - DAY)},
        {"start": int(now - DAY), "end": int(now + DAY)},
        {"start": int(now + DAY), "end": int(now + 2 * DAY)},
        {"start": int(now - DAY)},
        {"end": int(now + DAY)},
        {"end": int(now - DAY)},
    ]
    result = {}
    for _ in range(datastreams):
        count = rng.choice([0, 1, 3, 12])
        audiences = {}
        if count:
            for audience_id in rng.sample(pool, rng.randint(1, 120)):
                mappings = []
                several = min(count, rng.choice([1, 1, 1, 2, 3]))
                for destination in sorted(rng.sample(range(count), several)):
                    mapping: dict[str, int] = {"destination": destination}
                    if rng.random() < 0.3:
                        mapping.update(rng.choice(windows))
                    mappings.append(mapping)
                audiences[audience_id] = {
                    "mappings": mappings,
                    "namespace": rng.choice(["ups", "ups", "CustomerAudienceUpload"]),
                }
        result[new_id()] = {
            "access": "mixed",
            "audiences": dict(sorted(audiences.items())),
            "destinations": [{"alias": f"alias-{d}", "destinationId": new_id()} for d in range(count)],
        }
    return {"datastreams": result}


def with_body_bytes(body: bytes, **header: Any) -> bytes:
    """A JSON artifact holding ``body`` as given, its revision recomputed over those bytes, so
    that only the checks of form and shape can catch an edit."""
    fields = {
        "format": "cpcompile-artifact",
        "min_reader_version": 2,
        "revision": "sha256:" + hashlib.sha256(body).hexdigest(),
        "schema_version": 2,
        **header,
    }
    return b'{"body":' + body + b"," + canonical_json(fields)[1:]


def byte_edits(length: int, max_cut: int, pieces: list[bytes]) -> Any:
    """A hypothesis strategy of one to three edits of a text of ``length`` bytes: (where, how
    many bytes to cut there, what to put in their place); ``apply_edits`` makes them."""
    from hypothesis import strategies as st

    return st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=length),
            st.integers(min_value=0, max_value=max_cut),
            st.sampled_from(pieces),
        ),
        min_size=1,
        max_size=3,
    )


def apply_edits(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    for at, cut, piece in edits:
        at = min(at, len(data))
        data = data[:at] + piece + data[at + cut :]
    return data
