"""Every case in tests/conformance/vectors through the runtime, with both encodings."""

from __future__ import annotations

import json
import os
import runpy
from typing import Any

import pytest

from cpcompile import runtime
from cpcompile.artifact_format.document import canonical_json, make_document

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "conformance")
VECTOR_DIR = os.path.join(HERE, "vectors")


def _vector_files() -> list[str]:
    return sorted(name for name in os.listdir(VECTOR_DIR) if name.endswith(".json"))


def _cases() -> list[Any]:
    params = []
    for filename in _vector_files():
        with open(os.path.join(VECTOR_DIR, filename), encoding="utf-8") as f:
            vector = json.load(f)
        for case in vector["cases"]:
            for encoding in ("json", "msgpack"):
                params.append(
                    pytest.param(
                        vector["artifact"],
                        case,
                        encoding,
                        id=f"{filename[:-5]}:{case['name']}:{encoding}",
                    )
                )
    return params


_loaded: dict[str, runtime.Artifact] = {}


def _artifact(spec: dict[str, Any], encoding: str) -> runtime.Artifact:
    key = json.dumps(spec, sort_keys=True) + encoding
    if key not in _loaded:
        if "file" in spec:
            path = os.path.join(HERE, spec["file"])
            if encoding == "msgpack":
                path = path[: -len(".json")] + ".msgpack"
            _loaded[key] = runtime.load(path)
        else:
            document = make_document(spec["body"])
            if encoding == "json":
                _loaded[key] = runtime.loads(canonical_json(document))
            else:
                from runtime_helpers import msgpack_bytes

                _loaded[key] = runtime.loads(msgpack_bytes(document), encoding="msgpack")
    return _loaded[key]


@pytest.mark.parametrize(("artifact", "case", "encoding"), _cases())
def test_vector(artifact: dict[str, Any], case: dict[str, Any], encoding: str) -> None:
    request = case["request"]
    loaded = _artifact(artifact, encoding)
    payload, shared = (
        lookup(
            request["datastream"],
            request["memberships"],
            now=request["now"],
            attributes=request.get("attributes"),
            authenticated=request.get("authenticated", False),
        )
        for lookup in (loaded.lookup, loaded.lookup_shared)
    )
    assert payload == case["expected"]
    assert shared == case["expected"]
    # same JSON too: no tuples or other look-alikes where the payload has arrays
    assert json.loads(json.dumps(payload)) == payload


def test_case_names_are_unique_per_file() -> None:
    for filename in _vector_files():
        with open(os.path.join(VECTOR_DIR, filename), encoding="utf-8") as f:
            names = [case["name"] for case in json.load(f)["cases"]]
        assert len(names) == len(set(names)), filename


def test_vectors_cover_every_topic() -> None:
    assert _vector_files() == [
        "access.json",
        "attributes.json",
        "basics.json",
        "inline.json",
        "statuses.json",
        "version1.json",
        "windows.json",
    ]


def test_committed_artifacts_are_what_generate_writes() -> None:
    generate = runpy.run_path(os.path.join(HERE, "generate.py"))
    for relpath, content in generate["build"]().items():
        with open(os.path.join(HERE, relpath), "rb") as f:
            assert f.read() == content, f"{relpath} is stale: run python tests/conformance/generate.py"
