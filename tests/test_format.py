"""cpcompile.artifact_format: encoding, verification and signatures shared by runtime and verify."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from runtime_helpers import document_bytes, small_body

from cpcompile.artifact_format import document as _format
from cpcompile.artifact_format import errors, keys
from cpcompile.artifact_format.document import canonical_json, make_document
from cpcompile.artifact_format.errors import (
    ArtifactCorrupt,
    RevisionMismatch,
    SignatureInvalid,
    SignatureMissing,
)
from cpcompile.artifact_format.keys import parse_public_key
from cpcompile.artifact_format.signature import check_signature

SEED = bytes(range(32))


def test_canonical_json() -> None:
    assert canonical_json({"b": 1, "a": ["é", {"d": 2, "c": 3}]}) == '{"a":["é",{"c":3,"d":2}],"b":1}'.encode()
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_make_document_and_revision() -> None:
    body = small_body()
    document = make_document(body)
    assert list(document) == ["body", "format", "min_reader_version", "revision", "schema_version"]
    assert document["revision"] == "sha256:" + hashlib.sha256(canonical_json(body)).hexdigest()
    assert _format.revision_of(body) == document["revision"]


def test_json_body_bytes_are_the_body_in_place() -> None:
    document = make_document(small_body())
    data = canonical_json(document)
    assert bytes(_format.json_body_bytes(data, document)) == canonical_json(document["body"])


def test_read_document_returns_the_verified_document() -> None:
    document = make_document(small_body())
    assert _format.read_document(canonical_json(document)) == document


def test_read_document_checks_in_order() -> None:
    # a future version is reported even when everything else is wrong too
    document = {"format": _format.FORMAT, "schema_version": 9, "min_reader_version": 9}
    with pytest.raises(errors.UnsupportedVersion, match="schema_version 9"):
        _format.read_document(canonical_json(document))
    # the body's shape is not read_document's business
    odd = make_document({"anything": [1, 2]})
    assert _format.read_document(canonical_json(odd))["body"] == {"anything": [1, 2]}


def test_check_revision() -> None:
    body = canonical_json(small_body())
    _format.check_revision(_format.revision_of_body_bytes(body), memoryview(body))
    with pytest.raises(RevisionMismatch):
        _format.check_revision(_format.revision_of_body_bytes(body + b" "), body)


def test_missing_msgpack_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "msgpack", None)
    with pytest.raises(errors.ArtifactError, match="needs the msgpack package"):
        _format.read_document(b"\x80", encoding="msgpack")


# --- public keys ---------------------------------------------------------------------------------

RAW_KEY = bytes(range(100, 132))
KEY_TEXT = keys.PUBLIC_KEY_PREFIX + base64.b64encode(RAW_KEY).decode()


@pytest.mark.parametrize(
    "key",
    [RAW_KEY, bytearray(RAW_KEY), KEY_TEXT, KEY_TEXT + "\n", "\n  " + KEY_TEXT + "  \n", (KEY_TEXT + "\n").encode()],
    ids=["raw", "bytearray", "text", "text-newline", "text-whitespace", "text-bytes"],
)
def test_parse_public_key_forms(key: Any) -> None:
    assert parse_public_key(key) == RAW_KEY


def test_parse_public_key_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "cpcompile.pub"
    path.write_text(KEY_TEXT + "\n")
    assert parse_public_key(path) == RAW_KEY
    assert parse_public_key(str(path)) == RAW_KEY
    with pytest.raises(ValueError, match="does not exist"):
        parse_public_key(tmp_path / "missing.pub")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (b"short", "not a cpcompile public key"),
        ("cpcompile-ed25519-secret:" + base64.b64encode(RAW_KEY).decode(), "is a private key"),
        (keys.PUBLIC_KEY_PREFIX + "not base64!", "not valid base64"),
        (keys.PUBLIC_KEY_PREFIX + base64.b64encode(RAW_KEY[:31]).decode(), "decodes to 31 bytes, expected 32"),
        (KEY_TEXT + "\n" + KEY_TEXT, "exactly one line"),
    ],
)
def test_parse_public_key_errors(key: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_public_key(key)


def test_parse_public_key_type_error() -> None:
    with pytest.raises(TypeError, match="expected a path, key text or key file bytes"):
        parse_public_key(32)  # type: ignore[arg-type]


# --- signatures ----------------------------------------------------------------------------------


@pytest.fixture
def ed25519() -> Any:
    return pytest.importorskip("cpcompile.artifact_format.ed25519")


def _signature(ed25519: Any, signed: str, **changes: Any) -> bytes:
    public = ed25519.public_key_from_seed(SEED)
    doc = {
        "algorithm": "ed25519",
        "key_id": hashlib.sha256(public).hexdigest()[:16],
        "revision": signed,
        "signature": base64.b64encode(ed25519.sign(SEED, signed.encode())).decode(),
    }
    doc.update(changes)
    return json.dumps({k: v for k, v in doc.items() if v is not None}).encode()


def _revision() -> str:
    return make_document(small_body())["revision"]


def test_valid_signature(ed25519: Any) -> None:
    public = ed25519.public_key_from_seed(SEED)
    check_signature(_revision(), _signature(ed25519, _revision()), public)
    data = document_bytes()
    assert _format.read_document(data, public_key=public, signature=_signature(ed25519, _revision()))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"algorithm": "rsa"}, "uses algorithm 'rsa'; only 'ed25519' is supported"),
        ({"revision": "sha256:" + "0" * 64}, r"is for revision sha256:0+, but the artifact's revision is"),
        ({"key_id": "0123456789abcdef"}, "signed with key 0123456789abcdef, you gave key"),
        ({"signature": "!!"}, "'signature' is not valid base64"),
        ({"signature": base64.b64encode(b"x" * 63).decode()}, "decodes to 63 bytes, expected 64"),
        ({"signature": base64.b64encode(b"x" * 64).decode()}, "does not verify"),
        ({"revision": None}, "missing revision"),
        ({"key_id": None}, "missing key_id"),
        ({"algorithm": 1}, "'algorithm' is not a string"),
    ],
)
def test_invalid_signatures(ed25519: Any, changes: dict[str, Any], message: str) -> None:
    public = ed25519.public_key_from_seed(SEED)
    with pytest.raises(SignatureInvalid, match=message):
        check_signature(_revision(), _signature(ed25519, _revision(), **changes), public)


def test_signature_by_another_key(ed25519: Any) -> None:
    other = ed25519.public_key_from_seed(bytes(32))
    signature = _signature(ed25519, _revision(), key_id=hashlib.sha256(other).hexdigest()[:16])
    with pytest.raises(SignatureInvalid, match="does not verify"):
        check_signature(_revision(), signature, other)


@pytest.mark.parametrize("content", [b"", b"not json", b"[1]", b"\xff"])
def test_malformed_signature_file(ed25519: Any, content: bytes) -> None:
    with pytest.raises(SignatureInvalid, match="not a cpcompile signature"):
        check_signature(_revision(), content, ed25519.public_key_from_seed(SEED))


def test_missing_signature() -> None:
    with pytest.raises(SignatureMissing, match="not signed"):
        _format.read_document(document_bytes(), public_key=RAW_KEY, signature=None)


def test_signature_is_checked_after_the_revision(ed25519: Any) -> None:
    tampered = document_bytes().replace(b"adServerAlias", b"adServerAliaz")
    with pytest.raises(RevisionMismatch):
        _format.read_document(tampered, public_key=RAW_KEY, signature=None)


def test_without_a_key_the_signature_is_not_read() -> None:
    assert _format.read_document(document_bytes(), signature=b"garbage")


def test_corrupt_is_not_a_signature_error() -> None:
    assert not issubclass(ArtifactCorrupt, errors.SignatureError)


# --- the body's declaration: one source for compiler, reader and schema -------------------------

from cpcompile import runtime  # noqa: E402
from cpcompile.artifact_format import body as shape  # noqa: E402


def _declared_fields(record: Any, node: Any, path: tuple[Any, ...]) -> dict[str, tuple[Any, ...]]:
    """Every declared field, by "record.field", with the path of its first instance in ``node``."""
    found: dict[str, tuple[Any, ...]] = {}
    for field in record.fields:
        if field.name in node:
            found.setdefault(f"{record.ref or id(record)}.{field.name}", path + (field.name,))
            found.update({k: v for k, v in _inside(field.type, node[field.name], path + (field.name,)).items() if k not in found})
    return found


def _inside(kind: Any, value: Any, path: tuple[Any, ...]) -> dict[str, tuple[Any, ...]]:
    found: dict[str, tuple[Any, ...]] = {}
    if isinstance(kind, shape.Array):
        items = enumerate(value)
        inner = kind.items
    elif isinstance(kind, shape.Map):
        items = iter(value.items())
        inner = kind.values
    else:
        return found
    if isinstance(inner, shape.Record):
        for key, item in items:
            for name, at in _declared_fields(inner, item, path + (key,)).items():
                found.setdefault(name, at)
    return found


def _wrong_value(kind: Any) -> Any:
    if isinstance(kind, (shape.Text, shape.OneOf)):
        return 5
    if isinstance(kind, shape.Integer):
        return "7"
    if isinstance(kind, shape.Array):
        return {}
    return []


def _every_field() -> list[tuple[Any, tuple[Any, ...]]]:
    records = [shape.BODY, shape.DATASTREAM, shape.DESTINATION, shape.ATTRIBUTE, shape.AUDIENCE, shape.MAPPING]
    paths = _declared_fields(shape.BODY, small_body(), ())
    fields = []
    for record in records:
        for field in record.fields:
            key = f"{record.ref or id(record)}.{field.name}"
            assert key in paths, f"small_body() has no {field.name!r}: extend it with the new field"
            fields.append((field, paths[key]))
    return fields


@pytest.mark.parametrize(("field", "path"), _every_field(), ids=lambda v: v.name if isinstance(v, shape.Field) else "")
def test_the_reader_checks_every_declared_field(field: Any, path: tuple[Any, ...]) -> None:
    body = json.loads(json.dumps(small_body()))
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = _wrong_value(field.type)
    with pytest.raises(runtime.ArtifactCorrupt, match=f"wrong shape: .*{field.name}"):
        runtime.loads(canonical_json(make_document(body)))
    if field.required and field.since <= _format.SCHEMA_VERSION:
        del parent[path[-1]]
        with pytest.raises(runtime.ArtifactCorrupt, match="wrong shape"):
            runtime.loads(canonical_json(make_document(body)))


def test_the_reader_refuses_a_value_outside_a_closed_set() -> None:
    body = small_body()
    body["datastreams"][next(iter(body["datastreams"]))]["access"] = "public"
    with pytest.raises(runtime.ArtifactCorrupt, match="access must be one of 'mixed', 'authenticated-only'"):
        runtime.loads(canonical_json(make_document(body)))


def test_compiler_entries_have_exactly_the_declared_keys() -> None:
    assert shape.DESTINATION.entry(alias="a", destinationId="d") == {"alias": "a", "destinationId": "d"}
    with pytest.raises(KeyError, match=r"unknown keys \['colour'\]"):
        shape.DESTINATION.entry(alias="a", destinationId="d", colour="red")
    with pytest.raises(KeyError, match=r"missing \['destinationId'\]"):
        shape.DESTINATION.entry(alias="a")


def test_published_artifact_schema_is_generated_from_the_declaration() -> None:
    from cpcompile.artifact_format.schema import json_schema
    from cpcompile.schemas import SCHEMA_DIALECT, published_schemas

    schema = json_schema(SCHEMA_DIALECT)
    assert schema["$defs"]["destination"]["properties"].keys() == shape.DESTINATION.keys.keys()
    published = (Path(__file__).parent.parent / "docs" / "schemas" / "artifact.schema.json").read_bytes()
    assert published_schemas()["artifact.schema.json"] == published
