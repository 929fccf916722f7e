"""Write the conformance artifacts: ``python tests/conformance/generate.py``.

Each body below becomes ``artifacts/<name>.json`` (canonical JSON, the reference encoding)
and ``artifacts/<name>.msgpack``: the current schema version for ``BODIES``, schema version 1
(whose datastreams have no ``access``) for ``V1_BODIES``. The expected answers live in
``vectors/*.json`` and are written by hand from docs/artifact.md, not computed by the runtime.
A test checks that the committed files are what this script writes.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

from cpcompile.artifact_format.document import FORMAT, canonical_json, make_document, revision_of  # noqa: E402

DS_WEB = "0f3a6c1e-2b7d-4e59-9c3a-1d2e3f4a5b6c"
DS_EMPTY = "5e1d0c2b-0000-4000-8000-00000000e000"
DS_APP = "7a9b8c7d-6e5f-4a3b-8c2d-1e0f2a3b4c5d"
DS_SIGNED_IN = "b3c4d5e6-0000-4000-8000-0000000000b3"

DEST_AD = "2c0e1d5a-0000-4000-8000-0000000000ad"
DEST_PERSO = "7bb4cb8d-8c2e-4450-871d-b7824f547111"
DEST_RECS = "9218b727-ec59-4a46-b8b9-05503f138c5d"
DEST_APP = "c4a1e7f0-0000-4000-8000-0000000000a9"
DEST_ACCOUNT = "d5b2f8a1-0000-4000-8000-0000000000ac"

# audience IDs are chosen so that their sort order is A1 < A2 < ... < A7
A1 = "1a000000-0000-4000-8000-000000000001"
A2 = "2a000000-0000-4000-8000-000000000002"
A3 = "3a000000-0000-4000-8000-000000000003"
A4 = "4a000000-0000-4000-8000-000000000004"
A5 = "5a000000-0000-4000-8000-000000000005"
A6 = "6a000000-0000-4000-8000-000000000006"
A7 = "7a000000-0000-4000-8000-000000000007"

DEC_1_2025 = 1764547200  # 2025-12-01T00:00:00Z
JAN_1_2026 = 1767225600  # 2026-01-01T00:00:00Z
FEB_1_2026 = 1769904000  # 2026-02-01T00:00:00Z (an `end: 2026-01-31` in the config)

BASIC: dict[str, Any] = {
    "datastreams": {
        DS_WEB: {
            "access": "mixed",
            # sorted by alias: the order of payload items
            "destinations": [
                {"alias": "adServerAlias", "destinationId": DEST_AD},
                {
                    "alias": "personalizationAlias",
                    "attributes": [
                        {"source": "homeAddress.countryCode", "target": "countryCode"},
                        {"source": "person.name.firstName", "target": "firstName"},
                        {"source": "loyalty.points", "target": "points"},
                        {"source": "loyalty.tier", "target": "tier"},
                    ],
                    "destinationId": DEST_PERSO,
                },
                {"alias": "recommendationsAlias", "destinationId": DEST_RECS},
            ],
            "audiences": {
                A1: {"mappings": [{"destination": 0}, {"destination": 2}], "namespace": "ups"},
                A2: {"mappings": [{"destination": 1}], "namespace": "ups"},
                # 2025-12-01 .. 2026-01-31 inclusive
                A3: {
                    "mappings": [{"destination": 0, "end": FEB_1_2026, "start": DEC_1_2025}],
                    "namespace": "ups",
                },
                A4: {"mappings": [{"destination": 2}], "namespace": "CustomerAudienceUpload"},
                # open end / open start
                A5: {"mappings": [{"destination": 1, "start": JAN_1_2026}], "namespace": "ups"},
                A6: {"mappings": [{"destination": 0, "end": JAN_1_2026}], "namespace": "ups"},
            },
        },
        # known, but nothing is activated on it
        DS_EMPTY: {"access": "mixed", "audiences": {}, "destinations": []},
        # A1 is mapped here too, to another destination: answers are per datastream
        DS_APP: {
            "access": "mixed",
            "audiences": {
                A1: {"mappings": [{"destination": 0}], "namespace": "ups"},
                A7: {"mappings": [{"destination": 0}], "namespace": "ups"},
            },
            "destinations": [{"alias": "appAlias", "destinationId": DEST_APP}],
        },
        # authenticated calls only: an unauthenticated request gets nothing
        DS_SIGNED_IN: {
            "access": "authenticated-only",
            "audiences": {A2: {"mappings": [{"destination": 0}], "namespace": "ups"}},
            "destinations": [
                {
                    "alias": "accountAlias",
                    "attributes": [{"source": "person.name.firstName", "target": "firstName"}],
                    "destinationId": DEST_ACCOUNT,
                }
            ],
        },
    }
}

# schema version 1: datastreams have no `access`; a reader answers every request as `mixed`
V1: dict[str, Any] = {
    "datastreams": {
        DS_WEB: {
            "audiences": {A1: {"mappings": [{"destination": 0}], "namespace": "ups"}},
            "destinations": [{"alias": "adServerAlias", "destinationId": DEST_AD}],
        }
    }
}

BODIES = {"basic": BASIC}
V1_BODIES = {"version1": V1}


def version1_document(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "body": body,
        "format": FORMAT,
        "min_reader_version": 1,
        "revision": revision_of(body),
        "schema_version": 1,
    }


def build() -> dict[str, bytes]:
    """File name (relative to this directory) -> content."""
    import msgpack

    files = {}
    documents = {name: make_document(body) for name, body in BODIES.items()}
    documents.update((name, version1_document(body)) for name, body in V1_BODIES.items())
    for name, document in documents.items():
        encoded = canonical_json(document)
        files[f"artifacts/{name}.json"] = encoded
        # decoding the canonical JSON gives maps in sorted key order, as msgpack needs them
        files[f"artifacts/{name}.msgpack"] = msgpack.packb(json.loads(encoded), use_bin_type=True)
    return files


def main() -> None:
    for relpath, content in build().items():
        path = os.path.join(HERE, relpath)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content)
        print(f"wrote {relpath}")


if __name__ == "__main__":
    main()
