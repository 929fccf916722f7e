"""load / loads: every way an artifact can be unusable raises its own ArtifactError."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cpcompile.artifact_format import signer
from cpcompile.artifact_format.signature import encode_signature
from runtime_helpers import (
    AUD_1, DS, apply_edits, byte_edits, doc_with, document_bytes, msgpack_bytes, small_body, with_body_bytes,
)

from cpcompile import runtime
from cpcompile.artifact_format.document import canonical_json, make_document

ROOT = Path(__file__).resolve().parent.parent


def _load_bytes(data: bytes, **kwargs: Any) -> runtime.Artifact:
    return runtime.loads(data, **kwargs)


# --- decoding and header -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        document_bytes()[:-1],
        document_bytes()[: len(document_bytes()) // 2],
        b"",
        b"hello",
        b'{"body":',
        b"\xff\xfe\x00garbage",
    ],
    ids=["last-byte-missing", "half", "empty", "not-json", "prefix-only", "not-utf8"],
)
def test_truncated_or_not_json(data: bytes) -> None:
    with pytest.raises(runtime.ArtifactCorrupt, match="artifact is truncated or not valid JSON: "):
        _load_bytes(data)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([1, 2], "the document is a array"),
        ("artifact", "the document is a string"),
        ({"body": {}}, "has no 'format' field"),
        (doc_with(format="cpcompile-manifest"), "format is 'cpcompile-manifest', expected 'cpcompile-artifact'"),
        (doc_with(format=None), "format is None"),
    ],
)
def test_unknown_format(document: Any, message: str) -> None:
    with pytest.raises(runtime.UnknownFormat, match=message):
        _load_bytes(canonical_json(document))


def test_future_schema_version() -> None:
    with pytest.raises(runtime.UnsupportedVersion) as e:
        _load_bytes(canonical_json(doc_with(schema_version=3, body={"new": "shape"})))
    assert str(e.value) == (
        "artifact schema_version 3 is newer than this reader supports (up to 2); "
        "upgrade cpcompile to read it"
    )


def test_future_min_reader_version() -> None:
    with pytest.raises(runtime.UnsupportedVersion) as e:
        _load_bytes(canonical_json(doc_with(min_reader_version=3)))
    assert str(e.value) == (
        "artifact needs reader version 3 or newer; this reader is version 2; "
        "upgrade cpcompile to read it"
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"schema_version": "1"}, "schema_version must be a positive integer, got '1'"),
        ({"schema_version": 0}, "schema_version must be a positive integer, got 0"),
        ({"schema_version": True}, "schema_version must be a positive integer, got True"),
        ({"min_reader_version": None}, "min_reader_version must be a positive integer"),
        ({"revision": "sha1:abc"}, "revision must be 'sha256:' and 64 lowercase hex digits"),
        ({"revision": "sha256:" + "A" * 64}, "revision must be 'sha256:'"),
        ({"body": []}, "body must be an object, got array"),
    ],
)
def test_bad_header_fields(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(runtime.ArtifactCorrupt, match=message):
        _load_bytes(canonical_json(doc_with(**changes)))


# --- revision ---------------------------------------------------------------------------------


def test_tampered_body_byte() -> None:
    data = document_bytes()
    tampered = data.replace(b"adServerAlias", b"adServerAliaz")
    assert len(tampered) == len(data) and tampered != data
    with pytest.raises(runtime.RevisionMismatch, match="body does not match its revision"):
        _load_bytes(tampered)


def test_tampered_revision() -> None:
    document = make_document(small_body())
    document["revision"] = make_document(small_body("other"))["revision"]
    with pytest.raises(runtime.RevisionMismatch, match=r"the file says sha256:\w+, the body hashes"):
        _load_bytes(canonical_json(document))


@pytest.mark.parametrize(
    "reformat",
    [
        lambda d: json.dumps(d, indent=2).encode(),
        lambda d: canonical_json(d) + b"\n",
        lambda d: json.dumps(d, sort_keys=True).encode(),
        lambda d: json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
        + b" ",
        lambda d: json.dumps(d, sort_keys=True, separators=(",", ":")).encode(),  # ü as \u00fc
        lambda d: json.dumps(d, separators=(",", ":"), ensure_ascii=False).encode(),  # unsorted
    ],
    ids=["indented", "trailing-newline", "spaces", "trailing-space", "ascii-escapes", "unsorted"],
)
def test_reformatted_json_is_not_canonical(reformat: Any) -> None:
    document = make_document(small_body(alias_a="Zürich"))
    document["body"]["datastreams"][DS] = dict(reversed(document["body"]["datastreams"][DS].items()))
    with pytest.raises(runtime.ArtifactCorrupt, match="artifact.json is not canonical"):
        _load_bytes(reformat(document))


def test_a_header_key_before_the_body_is_refused() -> None:
    # canonical, and the body hashes right, but the body must come first (docs/artifact.md)
    data = canonical_json({"a": 1, **make_document(small_body())})
    with pytest.raises(runtime.ArtifactCorrupt, match="must begin with its body"):
        _load_bytes(data)


def test_body_strings_that_look_like_the_tail_do_not_confuse_it() -> None:
    body = small_body(alias_a=',"format":"cpcompile-artifact","min_reader_version":1,"revision":"x"}')
    artifact = _load_bytes(document_bytes(body))
    assert artifact.lookup(DS, [AUD_1], now=0)[0]["alias"].startswith(',"format"')


def test_non_ascii_is_hashed_as_utf8() -> None:
    artifact = _load_bytes(document_bytes(small_body(alias_a="Zürich-Werbung")))
    assert artifact.lookup(DS, [AUD_1], now=0)[0]["alias"] == "Zürich-Werbung"


def test_checks_run_before_the_body_is_looked_at() -> None:
    # a tampered artifact with a broken body reports tampering, not the shape
    document = make_document(small_body())
    document["body"] = {"datastreams": "broken"}
    with pytest.raises(runtime.RevisionMismatch):
        _load_bytes(canonical_json(document))


# --- body shape ---------------------------------------------------------------------------------


def _body_with(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    body = small_body()
    node: Any = body
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return body


AUDIENCE = ("datastreams", DS, "audiences", AUD_1)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("datastreams",), KeyError, r"body.datastreams must be an object"),
        (("datastreams",), [], r"body.datastreams must be an object"),
        (("datastreams", DS), [], r"body.datastreams\['0f3a.*'\] must be an object"),
        (("datastreams", DS, "destinations"), KeyError, r"\.destinations must be an array"),
        (("datastreams", DS, "audiences"), [], r"\.audiences must be an object"),
        (("datastreams", DS, "destinations", 0, "alias"), KeyError, r"destinations\[0\]\.alias must be"),
        (("datastreams", DS, "destinations", 1, "destinationId"), 7, r"destinations\[1\]\.destinationId must"),
        (("datastreams", DS, "destinations", 1, "attributes"), {}, r"destinations\[1\]\.attributes must be an array"),
        (("datastreams", DS, "destinations", 1, "attributes", 0, "source"), "person..name", r"attributes\[0\]\.source must"),
        (("datastreams", DS, "destinations", 1, "attributes", 0, "target"), "", r"attributes\[0\]\.target must"),
        (("datastreams", DS, "destinations", 0), "x", r"destinations\[0\] must be an object"),
        (AUDIENCE, [], r"audiences\['1a000000-.*'\] must be an object"),
        ((*AUDIENCE, "namespace"), KeyError, r"audiences\['1a000000-.*'\] needs 'namespace' and 'mappings'"),
        ((*AUDIENCE, "namespace"), 1, r"audiences\['1a000000-.*'\]\.namespace must be a non-empty string"),
        ((*AUDIENCE, "namespace"), "", r"\.namespace must be a non-empty string"),
        ((*AUDIENCE, "mappings"), {"destination": 0}, r"audiences\['1a000000-.*'\]\.mappings must be an array"),
        ((*AUDIENCE, "mappings", 0), 0, r"\.mappings\[0\] must be an object with an integer 'destination' in 0..1"),
        ((*AUDIENCE, "mappings", 0, "destination"), 2, "in 0..1"),
        ((*AUDIENCE, "mappings", 0, "destination"), -1, "in 0..1"),
        ((*AUDIENCE, "mappings", 0, "destination"), True, "in 0..1"),
        ((*AUDIENCE, "mappings", 0, "destination"), KeyError, "in 0..1"),
        ((*AUDIENCE, "mappings", 0, "start"), "2026-01-01", r"\.mappings\[0\] start and end must be integer Unix seconds"),
        ((*AUDIENCE, "mappings", 0, "end"), 1.5, "start and end must be integer Unix seconds"),
    ],
)
def test_wrong_body_shape(path: tuple[Any, ...], value: Any, message: str) -> None:
    with pytest.raises(runtime.ArtifactCorrupt, match="artifact has the wrong shape: .*" + message):
        _load_bytes(document_bytes(_body_with(path, value)))


def test_empty_audience_id_is_refused() -> None:
    body = small_body()
    body["datastreams"][DS]["audiences"][""] = {"mappings": [], "namespace": "ups"}
    with pytest.raises(runtime.ArtifactCorrupt, match="audience IDs must be non-empty strings"):
        _load_bytes(document_bytes(body))


def test_unknown_keys_are_ignored() -> None:
    # additions old readers can ignore do not bump schema_version (docs/artifact.md)
    body = small_body()
    body["comment"] = "x"
    body["datastreams"][DS]["labels"] = ["C1"]
    body["datastreams"][DS]["audiences"][AUD_1]["name"] = "Audience one"
    artifact = _load_bytes(document_bytes(body))
    assert len(artifact.lookup(DS, [AUD_1], now=0)) == 2


def test_empty_body() -> None:
    artifact = _load_bytes(document_bytes({"datastreams": {}}))
    assert artifact.datastream_ids == ()
    assert artifact.lookup(DS, [AUD_1]) == []


# --- msgpack ---------------------------------------------------------------------------------


def test_msgpack_round_trip_equals_json() -> None:
    pytest.importorskip("msgpack")
    document = make_document(small_body())
    from_json = _load_bytes(canonical_json(document))
    from_msgpack = _load_bytes(msgpack_bytes(document), encoding="msgpack")
    assert from_msgpack.revision == from_json.revision
    assert from_msgpack.datastream_ids == from_json.datastream_ids
    for memberships in ([AUD_1], {"ups": {AUD_1: {"status": "realized"}}}, []):
        for authenticated in (False, True):
            kwargs: dict[str, Any] = {
                "now": 1_500_000_000,
                "authenticated": authenticated,
                "attributes": {"person": {"name": {"firstName": "Ada"}}},
            }
            assert from_msgpack.lookup(DS, memberships, **kwargs) == from_json.lookup(
                DS, memberships, **kwargs
            )


def test_msgpack_truncated() -> None:
    pytest.importorskip("msgpack")
    data = msgpack_bytes(make_document(small_body()))
    with pytest.raises(runtime.ArtifactCorrupt, match="truncated or not valid msgpack"):
        _load_bytes(data[:-3], encoding="msgpack")


def test_msgpack_tampered() -> None:
    pytest.importorskip("msgpack")
    document = make_document(small_body())
    document["body"]["datastreams"][DS]["destinations"][0]["alias"] = "changed"
    with pytest.raises(runtime.RevisionMismatch):
        _load_bytes(msgpack_bytes(document), encoding="msgpack")


def test_msgpack_with_values_json_cannot_hold() -> None:
    msgpack = pytest.importorskip("msgpack")
    document = make_document(small_body())
    document["body"]["blob"] = b"\x00"
    with pytest.raises(runtime.ArtifactCorrupt, match="JSON cannot represent"):
        _load_bytes(msgpack.packb(document, use_bin_type=True), encoding="msgpack")


def test_json_given_as_msgpack_and_back() -> None:
    pytest.importorskip("msgpack")
    with pytest.raises(runtime.ArtifactError):
        _load_bytes(document_bytes(), encoding="msgpack")
    with pytest.raises(runtime.ArtifactCorrupt):
        _load_bytes(msgpack_bytes(make_document(small_body())), encoding="json")


# --- files and arguments ----------------------------------------------------------------------


def test_load_picks_the_encoding_from_the_suffix(tmp_path: Path) -> None:
    pytest.importorskip("msgpack")
    document = make_document(small_body())
    (tmp_path / "artifact.json").write_bytes(canonical_json(document))
    (tmp_path / "artifact.msgpack").write_bytes(msgpack_bytes(document))
    from_json = runtime.load(tmp_path / "artifact.json")
    from_msgpack = runtime.load(str(tmp_path / "artifact.msgpack"))
    assert from_json.revision == from_msgpack.revision == document["revision"]
    (tmp_path / "other.bin").write_bytes(msgpack_bytes(document))
    assert runtime.load(tmp_path / "other.bin", encoding="msgpack").revision == document["revision"]


def test_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        runtime.load(tmp_path / "artifact.json")


def test_loads_argument_errors() -> None:
    with pytest.raises(ValueError, match="encoding must be one of json, msgpack"):
        runtime.loads(document_bytes(), encoding="yaml")
    with pytest.raises(TypeError, match="artifact data must be bytes, got str"):
        runtime.loads(document_bytes().decode())  # type: ignore[arg-type]
    assert runtime.loads(bytearray(document_bytes())).datastream_ids == (DS,)
    assert runtime.loads(memoryview(document_bytes())).datastream_ids == (DS,)


def test_every_error_is_an_artifact_error() -> None:
    for name in (
        "ArtifactCorrupt",
        "UnknownFormat",
        "UnsupportedVersion",
        "RevisionMismatch",
        "SignatureError",
        "SignatureMissing",
        "SignatureInvalid",
    ):
        assert issubclass(getattr(runtime, name), runtime.ArtifactError)
    assert issubclass(runtime.SignatureInvalid, runtime.SignatureError)
    assert issubclass(runtime.SignatureMissing, runtime.SignatureError)


def test_gc_state_is_restored() -> None:
    import gc

    assert gc.isenabled()
    with pytest.raises(runtime.RevisionMismatch):
        _load_bytes(document_bytes().replace(b"adServerAlias", b"adServerAliaz"))
    assert gc.isenabled()
    gc.disable()
    try:
        _load_bytes(document_bytes())
        assert not gc.isenabled()
    finally:
        gc.enable()


# --- import isolation --------------------------------------------------------------------------


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_runtime_imports_nothing_heavy(tmp_path: Path) -> None:
    artifact = tmp_path / "artifact.json"
    artifact.write_bytes(document_bytes())
    result = _run(
        "import sys\n"
        "before = set(sys.modules)\n"
        "import cpcompile.runtime as r\n"
        "heavy = {'pydantic', 'ruamel', 'jinja2', 'click', 'msgpack', 'yaml'}\n"
        "# imported on first load or first use instead: keeps replicas' import fast\n"
        "light = {'typing', 'json', 'hashlib', 're', 'uuid', 'pathlib', 'threading', 'datetime'}\n"
        "def top(names): return sorted({m.split('.')[0] for m in sys.modules} & names)\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "assert not top(heavy), top(heavy)\n"
        "assert not new & light, sorted(new & light)\n"
        f"a = r.load({str(artifact)!r})\n"
        "assert a.lookup(a.datastream_ids[0], []) == []\n"
        "assert not top(heavy), top(heavy)\n"
        "print('ok')\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"


# --- signed artifacts on disk ---------------------------------------------------------------


@pytest.fixture
def signed_dir(tmp_path: Path) -> Path:
    ed25519 = pytest.importorskip("cpcompile.artifact_format.ed25519")
    seed = bytes(range(32))
    document = make_document(small_body())
    signature = signer.signature_document(document["revision"], seed)
    (tmp_path / "artifact.json").write_bytes(canonical_json(document))
    (tmp_path / "artifact.sig").write_bytes(encode_signature(signature))
    public = base64.b64encode(ed25519.public_key_from_seed(seed)).decode()
    (tmp_path / "cpcompile.pub").write_text(f"cpcompile-ed25519-public:{public}\n")
    return tmp_path


def test_verifying_a_signature_needs_no_signing_code(signed_dir: Path) -> None:
    # signing (cryptography) and encoding (msgpack) are the compiler's; verifying is stdlib only
    result = _run(
        "import sys\n"
        "import cpcompile.runtime as r\n"
        f"a = r.load({str(signed_dir / 'artifact.json')!r}, public_key={str(signed_dir / 'cpcompile.pub')!r})\n"
        "assert a.datastream_ids\n"
        "assert 'cpcompile.artifact_format.signature' in sys.modules\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'cryptography'\n"
        "                or m in ('cpcompile.artifact_format.signer', 'cpcompile.artifact_format.encode'))\n"
        "assert not loaded, loaded\n"
        "print('ok')\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"


def test_load_signed(signed_dir: Path) -> None:
    key_file = signed_dir / "cpcompile.pub"
    for key in (key_file, str(key_file), key_file.read_text(), key_file.read_bytes()):
        assert runtime.load(signed_dir / "artifact.json", public_key=key).datastream_ids == (DS,)


def test_load_signed_msgpack_uses_the_same_signature(signed_dir: Path) -> None:
    pytest.importorskip("msgpack")
    document = json.loads((signed_dir / "artifact.json").read_bytes())
    (signed_dir / "artifact.msgpack").write_bytes(msgpack_bytes(document))
    artifact = runtime.load(signed_dir / "artifact.msgpack", public_key=signed_dir / "cpcompile.pub")
    assert artifact.revision == document["revision"]


def test_load_signed_missing_signature_file(signed_dir: Path) -> None:
    (signed_dir / "artifact.sig").rename(signed_dir / "elsewhere.sig")
    with pytest.raises(runtime.SignatureMissing, match=r"no signature file .*artifact\.sig"):
        runtime.load(signed_dir / "artifact.json", public_key=signed_dir / "cpcompile.pub")
    artifact = runtime.load(
        signed_dir / "artifact.json",
        public_key=signed_dir / "cpcompile.pub",
        signature_path=signed_dir / "elsewhere.sig",
    )
    assert artifact.datastream_ids == (DS,)
    # without a key, a missing signature is fine
    assert runtime.load(signed_dir / "artifact.json").datastream_ids == (DS,)


def test_load_signed_tampered_signature(signed_dir: Path) -> None:
    sig = json.loads((signed_dir / "artifact.sig").read_bytes())
    raw = bytearray(base64.b64decode(sig["signature"]))
    raw[0] ^= 1
    sig["signature"] = base64.b64encode(bytes(raw)).decode()
    (signed_dir / "artifact.sig").write_bytes(canonical_json(sig))
    with pytest.raises(runtime.SignatureInvalid, match="does not verify"):
        runtime.load(signed_dir / "artifact.json", public_key=signed_dir / "cpcompile.pub")


def test_loads_signed_with_signature_text(signed_dir: Path) -> None:
    artifact = runtime.loads(
        (signed_dir / "artifact.json").read_bytes(),
        public_key=(signed_dir / "cpcompile.pub").read_text(),
        signature=(signed_dir / "artifact.sig").read_text(),
    )
    assert artifact.datastream_ids == (DS,)


@pytest.mark.parametrize("not_an_array", ["", {}])
def test_empty_non_array_mappings_are_corrupt(not_an_array: object) -> None:
    from cpcompile.artifact_format.document import canonical_json, make_document
    from cpcompile.runtime import ArtifactCorrupt, loads

    audiences = {"a": {"namespace": "ups", "mappings": not_an_array}}
    body = {"datastreams": {"d": {"access": "mixed", "destinations": [], "audiences": audiences}}}
    with pytest.raises(ArtifactCorrupt, match="mappings must be an array"):
        loads(canonical_json(make_document(body)))


# --- hostile artifacts: non-canonical bytes with a revision that matches them -------------------


def _ds_entry_bytes() -> bytes:
    return canonical_json(small_body()["datastreams"][DS])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # a human reads the first datastreams entry, the runtime the second
        (
            b'{"datastreams":{"' + DS.encode() + b'":' + _ds_entry_bytes() + b"},"
            b'"datastreams":{}}',
            "duplicate key 'datastreams'",
        ),
        (
            b'{"datastreams":{"' + DS.encode() + b'":{"access":"authenticated-only","access":"mixed",'
            + _ds_entry_bytes()[len(b'{"access":"mixed",'):] + b"}}",
            "duplicate key 'access'",
        ),
        (canonical_json(small_body()).replace(b'","', b'", "'), "not canonical"),
        (b"{\n  " + canonical_json(small_body())[1:], "not canonical"),
        (canonical_json(small_body()).replace(b'"ups"', b'"\\u0075ps"'), "not canonical"),
        (
            canonical_json(small_body()).replace(
                b'{"destination":1,"end":2000000000,"start":1000000000}',
                b'{"start":1000000000,"end":2000000000,"destination":1}',
            ),
            "not canonical",
        ),
        (canonical_json(small_body()).replace(b'"end":2000000000', b'"end":2e9'), "not canonical"),
    ],
    ids=["duplicate-datastreams", "duplicate-access", "space", "newline", "escape", "key-order", "number-form"],
)
def test_non_canonical_body_with_its_own_revision_is_refused(body: bytes, message: str) -> None:
    data = with_body_bytes(body)
    json.loads(data)  # valid JSON: only canonical form tells it apart
    with pytest.raises(runtime.ArtifactCorrupt, match=message):
        _load_bytes(data)


def test_duplicate_keys_do_not_reach_the_index() -> None:
    # the same body as canonical JSON loads: the refusal above is about the bytes alone
    body = small_body()
    body["datastreams"][DS]["access"] = "authenticated-only"
    artifact = _load_bytes(canonical_json(make_document(body)))
    assert artifact.lookup(DS, [AUD_1]) == []


@pytest.mark.parametrize("value", [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999"])
def test_header_numbers_json_cannot_hold_are_corrupt(value: bytes) -> None:
    data = document_bytes()[:-1] + b',"zextra":' + value + b"}"
    with pytest.raises(runtime.ArtifactCorrupt, match="not valid JSON"):
        _load_bytes(data)


@pytest.mark.parametrize(
    "data",
    [
        document_bytes()[:-1] + b',"zextra":"\\ud800"}',
        with_body_bytes(canonical_json(small_body()).replace(b"adServerAlias", b"ad\\ud800")),
        with_body_bytes(canonical_json(small_body()).replace(b'"ups"', b'"\\udcff"', 1)),
    ],
    ids=["header", "body-value", "body-namespace"],
)
def test_lone_surrogates_are_corrupt(data: bytes) -> None:
    with pytest.raises(runtime.ArtifactCorrupt, match="lone surrogate"):
        _load_bytes(data)


def _msgpack_with_body(packed_body: bytes, body_json: bytes) -> bytes:
    import hashlib

    msgpack = pytest.importorskip("msgpack")
    header = {
        "format": "cpcompile-artifact",
        "min_reader_version": 2,
        "revision": "sha256:" + hashlib.sha256(body_json).hexdigest(),
        "schema_version": 2,
    }
    return b"\x85" + msgpack.packb("body") + packed_body + msgpack.packb(header)[1:]


@pytest.mark.parametrize("depth", [500, 990, 1000, 1023, 1024])
def test_deeply_nested_msgpack_is_corrupt(depth: int) -> None:
    pytest.importorskip("msgpack")
    # {"a": [[[...]]]} `depth` arrays deep; msgpack decodes up to 1024 levels
    packed = b"\x81\xa1a" + b"\x91" * (depth - 1) + b"\x90"
    body_json = b'{"a":' + b"[" * depth + b"]" * depth + b"}"
    with pytest.raises(runtime.ArtifactError):
        _load_bytes(_msgpack_with_body(packed, body_json), encoding="msgpack")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (None, None),  # maps with their keys out of order
        # 1 as a uint32 instead of a fixint
        (lambda p: p.replace(b"\xabdestination\x01", b"\xabdestination\xce\x00\x00\x00\x01"), "not canonical"),
        # a str8 header where a fixstr fits
        (lambda p: p.replace(b"\xa3ups", b"\xd9\x03ups"), "not canonical"),
    ],
    ids=["key-order", "wide-int", "wide-str"],
)
def test_non_canonical_msgpack_is_refused(change: Any, message: str | None) -> None:
    msgpack = pytest.importorskip("msgpack")
    document = make_document(small_body())
    data = msgpack_bytes(document)
    if change is None:
        reordered = json.loads(canonical_json(document))
        for audience in reordered["body"]["datastreams"][DS]["audiences"].values():
            audience["mappings"] = audience.pop("mappings")  # now after "namespace"
        changed = msgpack.packb(reordered, use_bin_type=True)
        message = "not canonical"
    else:
        changed = change(data)
    assert changed != data and msgpack.unpackb(changed) == msgpack.unpackb(data)
    with pytest.raises(runtime.ArtifactCorrupt, match=message):
        _load_bytes(changed, encoding="msgpack")


def test_msgpack_duplicate_key_is_named() -> None:
    msgpack = pytest.importorskip("msgpack")
    document = json.loads(canonical_json(make_document(small_body())))
    packed = msgpack.packb(document, use_bin_type=True)
    # {"body": ..., "format": ..., "format": ...}: one more key in the top map
    extra = msgpack.packb("format") + msgpack.packb("cpcompile-artifact")
    data = b"\x86" + packed[1:] + extra
    with pytest.raises(runtime.ArtifactCorrupt, match="duplicate key 'format'"):
        _load_bytes(data, encoding="msgpack")


# --- schema version 2: access ------------------------------------------------------------------------


def test_a_built_artifact_carries_access_and_the_runtime_enforces_it(tmp_path: Path) -> None:
    from click.testing import CliRunner
    from conftest import copy_example

    from cpcompile.cli import cli

    root = copy_example(tmp_path / "config")
    web = root / "datastreams" / "web-prod.yaml"
    web.write_text(web.read_text().replace("access: mixed", "access: authenticated-only"))
    result = CliRunner().invoke(cli, ["build", str(root), "--out", str(tmp_path / "build"), "--no-cache"])
    assert result.exit_code == 0, result.output
    data = (tmp_path / "build" / "artifact.json").read_bytes()
    document = json.loads(data)
    assert (document["schema_version"], document["min_reader_version"]) == (2, 2)
    assert {ds: e["access"] for ds, e in document["body"]["datastreams"].items()} == {
        DS: "authenticated-only", "5d1f0b7a-93c4-4c2e-8e61-7a0b2c3d4e5f": "mixed"
    }
    audience = next(iter(document["body"]["datastreams"][DS]["audiences"]))
    for name in ("artifact.json", "artifact.msgpack"):
        artifact = runtime.load(tmp_path / "build" / name)
        assert artifact.lookup(DS, [audience], now=1_800_000_000) == []
        assert artifact.lookup(DS, [audience], now=1_800_000_000, authenticated=True) != []
        assert artifact.stats.refused_unauthenticated == 1


def _version1(body: dict[str, Any]) -> bytes:
    from cpcompile.artifact_format.document import revision_of

    return canonical_json(
        {"body": body, "format": "cpcompile-artifact", "min_reader_version": 1,
         "revision": revision_of(body), "schema_version": 1}
    )


def test_version_1_artifacts_are_read_as_mixed() -> None:
    body = small_body()
    del body["datastreams"][DS]["access"]
    artifact = _load_bytes(_version1(body))
    assert artifact.lookup(DS, [AUD_1]) != []
    # version 1 had no access: a key of that name is one this reader ignores there
    body["datastreams"][DS]["access"] = "authenticated-only"
    assert _load_bytes(_version1(body)).lookup(DS, [AUD_1]) != []


@pytest.mark.parametrize("access", [None, "AUTHENTICATED-ONLY", "authenticated_only", "", 1, ["mixed"], "missing"])
def test_version_2_datastreams_need_a_known_access(access: Any) -> None:
    body = small_body()
    if access == "missing":
        del body["datastreams"][DS]["access"]
    else:
        body["datastreams"][DS]["access"] = access
    with pytest.raises(runtime.ArtifactCorrupt, match=r"\.access must be one of 'mixed', 'authenticated-only'"):
        _load_bytes(document_bytes(body))


def test_a_duplicate_key_is_named_short_and_escaped() -> None:
    key = "x\n::error::" + "k" * 200
    body = canonical_json(small_body())[:-1] + b"," + canonical_json({key: 1})[1:-1] + b"," + canonical_json({key: 2})[1:]
    with pytest.raises(runtime.ArtifactCorrupt) as e:
        _load_bytes(with_body_bytes(body))
    message = str(e.value)
    assert "duplicate key 'x\\n::error::kkk" in message and "\n" not in message and len(message) < 250


# --- the garbage collector ---------------------------------------------------------------------


def _many_audiences_bytes(n: int = 3000) -> bytes:
    body = small_body()
    audiences = body["datastreams"][DS]["audiences"]
    for i in range(n):
        audiences[f"b{i:07d}-0000-4000-8000-000000000000"] = {
            "mappings": [{"destination": 0}],
            "namespace": "ups",
        }
    body["datastreams"][DS]["audiences"] = dict(sorted(audiences.items()))
    return canonical_json(make_document(body))


def test_loading_leaves_the_young_generations_empty_and_the_collector_on() -> None:
    import gc

    data = _many_audiences_bytes()
    gc.collect()
    artifact = runtime.loads(data)
    assert gc.isenabled()
    # the thousands of new containers are not left for the next allocation to scan
    assert gc.get_count()[0] < 50
    assert gc.get_freeze_count() == 0
    assert len(artifact.lookup(DS, ["b0000007-0000-4000-8000-000000000000"])) == 1


def test_loading_keeps_what_the_application_froze_frozen() -> None:
    import gc

    data = _many_audiences_bytes()
    gc.collect()
    gc.freeze()  # what a pre-fork server does before forking workers
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 0
        runtime.loads(data)
        assert gc.get_freeze_count() == frozen
        assert gc.get_count()[0] < 50
    finally:
        gc.unfreeze()



# --- canonical form of the audiences, checked without encoding them again ---------------------


def _two_datastream_body() -> dict[str, Any]:
    """Two datastreams with several audiences each: every part the fast canonical check reads."""
    body = small_body(alias_a="Zürich ü")
    other = "ff000000-0000-4000-8000-0000000000ff"
    entry = json.loads(json.dumps(body["datastreams"][DS]))
    entry["audiences"] = {
        f"{i:02d}000000-0000-4000-8000-000000000000": {
            "mappings": [{"destination": i % 2}] + ([{"destination": 1, "start": 5}] if i % 3 == 0 else []),
            "namespace": "ups",
        }
        for i in range(12)
    }
    entry["audiences"]["üñí-audience"] = {"mappings": [{"destination": 0, "end": 9}], "namespace": "ups"}
    body["datastreams"][other] = entry
    body["datastreams"][DS]["audiences"]["3a000000-0000-4000-8000-000000000003"] = {
        "mappings": [{"destination": 0}],
        "namespace": "CustomerAudienceUpload",
    }
    return body


_CANONICAL_BODY = canonical_json(_two_datastream_body())
_ENTRY = b'"01000000-0000-4000-8000-000000000000":{"mappings":[{"destination":1}],"namespace":"ups"}'
_NEXT = b'"02000000-0000-4000-8000-000000000000":{"mappings":[{"destination":0}],"namespace":"ups"}'


@pytest.mark.parametrize(
    "body",
    [
        _CANONICAL_BODY.replace(_ENTRY + b"," + _NEXT, _NEXT + b"," + _ENTRY),
        _CANONICAL_BODY.replace(_ENTRY, _ENTRY + b"," + _ENTRY),
        _CANONICAL_BODY.replace(_ENTRY, _ENTRY.replace(b"01000000", b"02000000")),
        _CANONICAL_BODY.replace(_ENTRY, _ENTRY.replace(b'"destination":1', b'"destination":-0')),
        _CANONICAL_BODY.replace(_ENTRY, _ENTRY.replace(b'"destination":1', b'"destination": 1')),
        _CANONICAL_BODY.replace(_ENTRY, _ENTRY.replace(b'"01', b'"\\u0030\\u0031')),
        _CANONICAL_BODY.replace(b'"end":9', b'"end":9,"end":9'),
        _CANONICAL_BODY.replace(b'"destination":1,"start":5', b'"start":5,"destination":1'),
        _CANONICAL_BODY.replace(_ENTRY, _ENTRY.replace(b'"ups"', b'"up\xed\xa0\x80s"')),
        _CANONICAL_BODY.replace(_ENTRY, _ENTRY.replace(b'"namespace":"ups"}', b'"namespace":"ups","x":{"b":1,"a":2}}')),
    ],
    ids=[
        "audiences-out-of-order",
        "audience-twice",
        "audience-twice-in-place-of-another",
        "minus-zero",
        "space",
        "escaped-id",
        "key-twice-in-a-mapping",
        "mapping-keys-out-of-order",
        "encoded-surrogate",
        "unknown-key-with-unsorted-object",
    ],
)
def test_non_canonical_audiences_are_refused(body: bytes) -> None:
    assert body != _CANONICAL_BODY
    data = with_body_bytes(body)
    try:
        json.loads(data)
    except ValueError:  # the encoded surrogate: Python's decoder reads it only from bytes
        pass
    with pytest.raises(runtime.ArtifactCorrupt, match="not canonical|not valid Unicode"):
        _load_bytes(data)


@pytest.mark.parametrize(
    "change",
    [
        lambda b: b,
        # unknown keys are ignored, and a canonical unknown key named like the audiences is not
        # mistaken for them
        lambda b: b.replace(b'"destinationId":', b'"audiences":{},"destinationId":', 1),
        lambda b: b.replace(b'"destinationId":', b'"audiences":{"a":{"mappings":[{"destination":0}],"namespace":"ups"}},"destinationId":', 1),
        lambda b: b.replace(b'"alias":"Z', b'"alias":"\\"audiences\\":{}Z', 1),
    ],
    ids=["as-built", "empty-audiences-key-elsewhere", "audiences-key-elsewhere", "in-a-string"],
)
def test_canonical_artifacts_load(change: Any) -> None:
    body = change(_CANONICAL_BODY)
    assert canonical_json(json.loads(body)) == body
    artifact = _load_bytes(with_body_bytes(body))
    assert len(artifact.datastream_ids) == 2
    assert artifact.lookup(DS, ["3a000000-0000-4000-8000-000000000003"])[0]["segments"] == [
        {"id": "3a000000-0000-4000-8000-000000000003", "namespace": "CustomerAudienceUpload"}
    ]


def _edits() -> Any:
    pieces = [b" ", b",", b"{}", b"0", b"-", b'"', b"\\", b"\\u0030", b'"audiences":{}', _ENTRY, b"}", b"]"]
    return byte_edits(len(_CANONICAL_BODY), 40, pieces)


def _accepted(data: bytes) -> bool:
    from cpcompile.artifact_format.document import read_document

    try:
        read_document(data)
    except runtime.ArtifactCorrupt:
        return False
    return True


def test_the_fast_canonical_check_agrees_with_encoding_again() -> None:
    from hypothesis import given, settings

    @settings(max_examples=300, deadline=None)
    @given(_edits())
    def check(edits: list[tuple[int, int, bytes]]) -> None:
        data = with_body_bytes(apply_edits(_CANONICAL_BODY, edits))
        try:
            canonical = canonical_json(json.loads(data)) == data
        except (ValueError, RecursionError):
            canonical = False
        assert _accepted(data) == canonical

    check()
