"""Property: artifact bytes from the network load as a working Artifact or raise ArtifactError.

Mutations start from the example, built once per session: bit flips, truncation, splices and
inserted JSON tokens on the bytes; and structural edits of the document (values of other
types, missing and extra keys, deep nesting, huge numbers), re-serialised canonically with the
revision recomputed, so that they pass the hash and reach the shape check; and other encodings
of the same content (whitespace, key order, escapes, a duplicate key), which must be refused as
not canonical even with a matching revision. Signature files are damaged the same way. Nothing but an ``ArtifactError`` may come out of ``loads``, and
`cpcompile verify` never reports an internal error.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import msgpack
import pytest
from click.testing import CliRunner
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from cpcompile import runtime
from cpcompile.cli import cli
from .fuzzkit import (
    DEEP, budget, canonical, deep_json, default_recursion_limit, lookup_exercise, mutated_bytes, mutated_data, planted,
)

JSON_TOKENS = [
    b"[", b"]", b"{", b"}", b",", b":", b'"', b"\\", b"null", b"true", b"0", b"-0", b"1e999", b"NaN",
    b"-Infinity", b"9" * 5000, b'"\\ud800"', b'"\\u0000"', b"\x00", b"\xff", b"[" * 2000, b"{" * 2000,
    b'"format":"cpcompile-artifact"', b'"body":{}', b"\xc3\xa9", b" ", b"\n",
]
# msgpack: map/array headers claiming huge sizes, ext and bin types, nil, floats, deep arrays
MSGPACK_TOKENS = [
    b"\xdf\xff\xff\xff\xff", b"\xdd\xff\xff\xff\xff", b"\xc7\x01\x05x", b"\xd4\xff\x00", b"\xc4\x03abc",
    b"\xc0", b"\xcb\x7f\xf8\x00\x00\x00\x00\x00\x01", b"\x91" * 3000, b"\x81" * 600, b"\xcf" + b"\xff" * 8,
    b"\xa5hello", b"\xd9\x05\xed\xa0\x80ab",
]

json_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.sampled_from([2**53, 2**64, -(2**63), 10**400]),
        st.floats(), st.text(max_size=12), st.sampled_from(["ups", "", "sha256:" + "0" * 64, "cpcompile-artifact"]),
        st.just(DEEP),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)
# msgpack can carry what JSON cannot: bytes, non-string keys, tuples
msgpack_values = st.recursive(
    st.one_of(json_values, st.binary(max_size=8), st.integers(-(2**63), 2**64 - 1)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.text(max_size=8), st.integers(), st.binary(max_size=4)), inner, max_size=3),
    ),
    max_leaves=8,
)
header_keys = st.sampled_from(["format", "schema_version", "min_reader_version", "revision", "body", "extra"])


def _loads_or_artifact_error(data: bytes, **kwargs: Any) -> None:
    """The property: a working artifact, or an ArtifactError; anything else fails the test."""
    try:
        with default_recursion_limit():
            artifact = runtime.loads(data, **kwargs)
    except runtime.ArtifactError as err:
        event(f"rejected: {type(err).__name__}")
        return
    event("loaded")
    document = json.loads(data) if kwargs.get("encoding", "json") == "json" else msgpack.unpackb(data, strict_map_key=False)
    lookup_exercise(artifact, document.get("body"))


# around the interpreter's recursion limit (1000) is where decoders and encoders part ways
DEPTHS = st.one_of(st.sampled_from([1, 40, 500, 3000, 100_000]), st.integers(900, 1100))


def _deep_bytes(draw: st.DrawFn) -> bytes:
    return deep_json(draw(DEPTHS), draw(st.sampled_from(["list", "dict"])))


def _serialise(document: Any, deep: bytes, recompute: bool) -> bytes:
    """Canonical JSON of ``document`` with its revision recomputed over the canonical body, so
    the result passes the hash check; ``DEEP`` placeholders become ``deep`` nesting."""
    marker = json.dumps(DEEP).encode()
    try:
        body = canonical(document["body"]).replace(marker, deep) if isinstance(document, dict) and "body" in document else None
    except (TypeError, ValueError):  # NaN: no canonical form, so no revision to match
        body = None
    if recompute and body is not None:
        document["revision"] = "sha256:" + hashlib.sha256(body).hexdigest()
    try:
        data = canonical(document)
    except (TypeError, ValueError):
        data = json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8", "surrogatepass")
    return data.replace(marker, deep)


@settings(max_examples=budget(250))
@given(data=st.data())
def test_damaged_bytes_load_or_raise_artifact_error(built, data: st.DataObject) -> None:
    encoding = data.draw(st.sampled_from(["json", "msgpack"]))
    original = built.json_bytes if encoding == "json" else built.msgpack_bytes
    tokens = JSON_TOKENS if encoding == "json" else MSGPACK_TOKENS + JSON_TOKENS
    damaged = data.draw(mutated_bytes(original, tokens, others=[built.json_bytes, built.msgpack_bytes]))
    _loads_or_artifact_error(damaged, encoding=encoding)


@settings(max_examples=budget(250))
@given(data=st.data())
def test_reshaped_documents_with_valid_revision_load_or_raise_artifact_error(built, data: st.DataObject) -> None:
    document = json.loads(built.json_bytes)
    if data.draw(st.booleans()):  # the body, where the shape check is: most of the time
        document["body"] = data.draw(mutated_data(document["body"], json_values, st.text(max_size=8)))
        if data.draw(st.booleans()):
            document["body"] = data.draw(planted(document["body"], DEEP))
    else:
        document = data.draw(mutated_data(document, json_values, header_keys))
    recompute = data.draw(st.sampled_from([True, True, True, False]))
    _loads_or_artifact_error(_serialise(document, _deep_bytes(data.draw), recompute))


def _shuffled(value: Any, draw: st.DrawFn) -> Any:
    """The same content with the keys of some objects in another order."""
    if isinstance(value, dict):
        items = [(k, _shuffled(v, draw)) for k, v in value.items()]
        if len(items) > 1 and draw(st.integers(0, 3)) == 0:
            items = draw(st.permutations(items))
        return dict(items)
    if isinstance(value, list):
        return [_shuffled(v, draw) for v in value]
    return value


@settings(max_examples=budget(150))
@given(data=st.data())
def test_only_the_canonical_encoding_loads(built, data: st.DataObject) -> None:
    """Any other encoding of the same content, with the revision recomputed over its body bytes
    so that the hash matches, is refused as not canonical; the canonical one loads."""
    document = json.loads(built.json_bytes)
    body = _shuffled(document["body"], data.draw)
    options = data.draw(
        st.fixed_dictionaries(
            {
                "indent": st.sampled_from([None, None, 0, 1]),
                "separators": st.sampled_from([(",", ":"), (", ", ": "), (",", ": ")]),
                "ensure_ascii": st.booleans(),
            }
        )
    )
    body_bytes = json.dumps(body, **options).encode("utf-8")
    if data.draw(st.booleans()):  # a decoy "datastreams" member before the real one (JSON keeps the last)
        key = data.draw(st.sampled_from(sorted(body["datastreams"])))
        decoy = json.dumps({key: {"access": "mixed", "audiences": {}, "destinations": []}})
        body_bytes = body_bytes[:1] + b'"datastreams":{' + decoy.encode()[1:-1] + b"}," + body_bytes[1:]
    header = {k: v for k, v in document.items() if k != "body"}
    header["revision"] = "sha256:" + hashlib.sha256(body_bytes).hexdigest()
    encoded = b'{"body":' + body_bytes + b"," + canonical(header)[1:]
    if encoded == built.json_bytes:
        event("canonical")
        runtime.loads(encoded)
        return
    with default_recursion_limit(), pytest.raises(runtime.ArtifactCorrupt, match="not canonical"):
        runtime.loads(encoded)


@settings(max_examples=budget(150))
@given(data=st.data())
def test_reshaped_msgpack_documents_load_or_raise_artifact_error(built, data: st.DataObject) -> None:
    document = msgpack.unpackb(built.msgpack_bytes)
    if data.draw(st.booleans()):
        document["body"] = data.draw(mutated_data(document["body"], msgpack_values, st.text(max_size=8)))
    if data.draw(st.booleans()):
        document["body"] = data.draw(planted(document["body"], DEEP))
    # nesting deeper than msgpack.packb goes, written directly where a DEEP placeholder is
    depth, kind = data.draw(DEPTHS), data.draw(st.sampled_from(["list", "dict"]))
    deep = b"\x81\xa1a" * depth + b"\x80" if kind == "dict" else b"\x91" * (depth - 1) + b"\x90"
    try:
        body = canonical(document["body"]).replace(json.dumps(DEEP).encode(), deep_json(depth, kind))
        document["revision"] = "sha256:" + hashlib.sha256(body).hexdigest()
    except (TypeError, ValueError):
        pass  # bytes, NaN, non-string keys: no canonical JSON, so the old revision stays
    try:
        packed = msgpack.packb(document, use_bin_type=True)
    except (ValueError, OverflowError, TypeError):  # NaN keys and the like: not packable
        assume(False)
    _loads_or_artifact_error(packed.replace(msgpack.packb(DEEP), deep), encoding="msgpack")


@settings(max_examples=budget(150))
@given(data=st.data())
def test_damaged_signatures_are_signature_errors(built, data: st.DataObject) -> None:
    signature = json.loads(built.signature)
    damaged = data.draw(
        st.one_of(
            mutated_bytes(built.signature, JSON_TOKENS),
            mutated_data(signature, json_values, st.sampled_from(sorted(signature))).map(
                lambda d: json.dumps(d, sort_keys=True).encode("utf-8", "surrogatepass")
            ),
        )
    )
    _verified_or_signature_error(built, damaged)


def _verified_or_signature_error(built, signature: bytes) -> None:  # type: ignore[no-untyped-def]
    try:
        with default_recursion_limit():
            artifact = runtime.loads(built.json_bytes, public_key=built.public_key, signature=signature)
    except runtime.SignatureError:
        return
    assert artifact.revision == json.loads(built.json_bytes)["revision"]


# Known members of the class, found by a campaign; checked on every run.
@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(b"[" * 100_000, id="deep-array"),
        pytest.param(b'{"a":' * 2_000, id="deep-object-unclosed"),
        pytest.param(b"\xff\xfe{}", id="not-utf8"),
        pytest.param(b'{"algorithm":"ed25519","key_id":1,"revision":[],"signature":{}}', id="wrong-types"),
        pytest.param(b"", id="empty"),
    ],
)
def test_known_damaged_signatures_are_signature_errors(built, signature: bytes) -> None:
    _verified_or_signature_error(built, signature)


@settings(max_examples=budget(40))
@given(data=st.data())
def test_verify_never_reports_an_internal_error(built, data: st.DataObject) -> None:
    encoding = data.draw(st.sampled_from(["json", "msgpack"]))
    original = built.json_bytes if encoding == "json" else built.msgpack_bytes
    damaged = data.draw(st.one_of(mutated_bytes(original, JSON_TOKENS + MSGPACK_TOKENS), st.just(original)))
    signature = data.draw(st.one_of(st.just(built.signature), mutated_bytes(built.signature, JSON_TOKENS)))
    with tempfile.TemporaryDirectory() as tmp:
        artifact = Path(tmp) / f"artifact.{encoding}"
        artifact.write_bytes(damaged)
        (Path(tmp) / "artifact.sig").write_bytes(signature)
        args = ["verify", str(artifact)]
        if data.draw(st.booleans()):
            args += ["--public-key", str(built.public_key)]
        result = CliRunner().invoke(cli, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 1), result.output
    assert "internal error" not in result.output
