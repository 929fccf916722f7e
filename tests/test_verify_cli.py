"""`cpcompile verify`: accepts a fresh build, rejects every kind of damage with a clear reason."""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import msgpack
import pytest
from click.testing import CliRunner

from conftest import copy_example

from cpcompile.cli import cli



def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def canonical(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def pack(value) -> bytes:
    def ordered(v):
        if isinstance(v, dict):
            return {k: ordered(v[k]) for k in sorted(v)}
        if isinstance(v, list):
            return [ordered(x) for x in v]
        return v

    return msgpack.packb(ordered(value), use_bin_type=True)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    root = copy_example(tmp_path_factory.mktemp("example"))
    result = run("build", root, "--no-cache")
    assert result.exit_code == 0, result.output
    return root / "build"


@pytest.fixture
def out(built, tmp_path) -> Path:
    """A private copy of the fresh build, free to damage."""
    copy = tmp_path / "build"
    shutil.copytree(built, copy)
    return copy


def document(out: Path) -> dict:
    return json.loads((out / "artifact.json").read_bytes())


def assert_rejected(path: Path, *fragments: str) -> str:
    result = run("verify", path)
    assert result.exit_code == 1, result.output
    assert "internal error" not in result.output
    assert "ok," not in result.stdout
    assert f"{path}: rejected: " in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, f"{fragment!r} not in {result.stderr!r}"
    return result.stderr


# --- accepted ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["artifact.json", "artifact.msgpack"])
def test_fresh_build_verifies(out, name):
    revision = document(out)["revision"]
    result = run("verify", out / name)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{out / name}: ok, revision verified: {revision}\n"


def test_copy_elsewhere_under_another_name_verifies(out, tmp_path):
    # nothing ties an artifact to its path or name
    target = tmp_path / "elsewhere" / "prod-artifact.json"
    target.parent.mkdir()
    shutil.copy(out / "artifact.json", target)
    assert run("verify", target).exit_code == 0


# --- rejected: artifact.json ---------------------------------------------------------------------


def test_truncated(out):
    path = out / "artifact.json"
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 1, 1):
        path.write_bytes(data[:cut])
        assert_rejected(path, "truncated or not valid JSON")


def test_empty_file(out):
    (out / "artifact.json").write_bytes(b"")
    assert_rejected(out / "artifact.json", "truncated or not valid JSON")


def test_not_json(out):
    (out / "artifact.json").write_bytes(b"datastreams:\n  - not json\n")
    assert_rejected(out / "artifact.json", "not valid JSON")


def test_not_utf8(out):
    (out / "artifact.json").write_bytes(b"\xff\xfe{\x00}")
    assert_rejected(out / "artifact.json", "not valid JSON")


def test_json_but_not_an_object(out):
    (out / "artifact.json").write_bytes(b"[1,2,3]")
    assert_rejected(out / "artifact.json", "not a cpcompile artifact")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b'"alias":"adServerAlias"', b'"alias":"adServerAlibs"'),  # one letter of an alias
        (b'"end":1801440000', b'"end":1801440001'),  # one digit of a window
        (b'"namespace":"CustomerAudienceUpload"', b'"namespace":"CustomerAudienceUplobd"'),
    ],
)
def test_one_byte_changed_in_body(out, old, new):
    path = out / "artifact.json"
    data = path.read_bytes()
    assert data.count(old) == 1
    tampered = data.replace(old, new)
    assert sum(a != b for a, b in zip(data, tampered)) == 1
    path.write_bytes(tampered)
    assert_rejected(path, "does not match its revision", document(out)["revision"])


def test_revision_field_edited(out):
    path = out / "artifact.json"
    doc = document(out)
    doc["revision"] = "sha256:" + "0" * 64
    path.write_bytes(canonical(doc))
    assert_rejected(path, "does not match its revision")


def test_revision_not_a_sha256(out):
    path = out / "artifact.json"
    doc = document(out)
    doc["revision"] = "md5:abc"
    path.write_bytes(canonical(doc))
    assert_rejected(path, "revision", "md5:abc")


@pytest.mark.parametrize(
    "reformat",
    [
        lambda doc: json.dumps(doc, indent=2, sort_keys=True),
        lambda doc: json.dumps(doc, sort_keys=True),  # default separators: ", " and ": "
        lambda doc: json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n",
        lambda doc: json.dumps(dict(reversed(list(doc.items()))), separators=(",", ":")),
    ],
    ids=["pretty", "spaces", "trailing-newline", "unsorted"],
)
def test_reformatted(out, reformat):
    path = out / "artifact.json"
    path.write_text(reformat(document(out)))
    assert_rejected(path, "not canonical")


def test_wrong_format(out):
    path = out / "artifact.json"
    doc = document(out)
    doc["format"] = "cpcompile-artefact"
    path.write_bytes(canonical(doc))
    assert_rejected(path, "not a cpcompile artifact", "'cpcompile-artefact'")


def test_no_format(out):
    path = out / "artifact.json"
    doc = document(out)
    del doc["format"]
    path.write_bytes(canonical(doc))
    assert_rejected(path, "not a cpcompile artifact", "no 'format'")


def test_future_schema_version(out):
    path = out / "artifact.json"
    doc = document(out)
    doc["schema_version"] = 3
    path.write_bytes(canonical(doc))
    assert_rejected(path, "schema_version 3 is newer", "upgrade cpcompile")


def test_future_min_reader_version(out):
    path = out / "artifact.json"
    doc = document(out)
    doc["min_reader_version"] = 99
    path.write_bytes(canonical(doc))
    assert_rejected(path, "reader version 99", "upgrade cpcompile")


def test_future_version_reported_before_shape(out):
    # a newer artifact may be shaped differently: "upgrade" is the useful message
    path = out / "artifact.json"
    path.write_bytes(canonical({"format": "cpcompile-artifact", "schema_version": 7, "stuff": []}))
    assert_rejected(path, "schema_version 7 is newer")


def test_version_not_an_integer(out):
    path = out / "artifact.json"
    doc = document(out)
    doc["schema_version"] = "1"
    path.write_bytes(canonical(doc))
    assert_rejected(path, "schema_version must be a positive integer")


def test_consistent_but_misshapen_body(out):
    # a body that hashes to its revision but is not an artifact body: corrupt, not a crash
    import hashlib

    path = out / "artifact.json"
    body = {"datastreams": {"0f3a6c1e-2b7d-4e59-9c3a-1d2e3f4a5b6c": {"access": "mixed", "destinations": "nope"}}}
    doc = document(out)
    doc["body"] = body
    doc["revision"] = "sha256:" + hashlib.sha256(canonical(body)).hexdigest()
    path.write_bytes(canonical(doc))
    assert_rejected(path, "wrong shape", "destinations must be an array")


def _with_own_revision(doc: dict, body: bytes) -> bytes:
    """The artifact with ``body`` bytes as given and a revision recomputed over them."""
    import hashlib

    doc["revision"] = "sha256:" + hashlib.sha256(body).hexdigest()
    header = canonical({k: v for k, v in doc.items() if k != "body"})
    return b'{"body":' + body + b"," + header[1:]


def test_body_with_whitespace_and_its_own_revision(out):
    path = out / "artifact.json"
    doc = document(out)
    path.write_bytes(_with_own_revision(doc, json.dumps(doc["body"], indent=1, sort_keys=True).encode()))
    assert_rejected(path, "not canonical")


def test_duplicate_datastream_with_its_own_revision(out):
    # a reviewer reading the file sees the first entry; a reader keeping the last sees the second
    path = out / "artifact.json"
    doc = document(out)
    (ds, entry), *_ = doc["body"]["datastreams"].items()
    inner = canonical(doc["body"]["datastreams"])[1:-1]
    body = b'{"datastreams":{' + inner + b"," + canonical({ds: {**entry, "destinations": [], "audiences": {}}})[1:-1] + b"}}"
    path.write_bytes(_with_own_revision(doc, body))
    assert_rejected(path, "duplicate key", ds)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_header_number_json_cannot_hold(out, value):
    path = out / "artifact.json"
    path.write_bytes(path.read_bytes()[:-1] + f',"zz":{value}}}'.encode())
    assert_rejected(path, "not valid JSON")


def test_lone_surrogate(out):
    path = out / "artifact.json"
    path.write_bytes(path.read_bytes()[:-1] + b',"zz":"\\ud800"}')
    assert_rejected(path, "lone surrogate")


def test_msgpack_nested_990_deep(out):
    path = out / "artifact.msgpack"
    doc = msgpack.unpackb(path.read_bytes(), raw=False)
    doc["body"]["deep"] = "@"
    packed = pack(doc).replace(msgpack.packb("@"), b"\x91" * 989 + b"\x90")
    path.write_bytes(packed)
    assert_rejected(path)


def test_msgpack_not_canonical(out):
    path = out / "artifact.msgpack"
    doc = msgpack.unpackb(path.read_bytes(), raw=False)
    path.write_bytes(msgpack.packb(dict(reversed(list(doc.items()))), use_bin_type=True))
    assert_rejected(path, "not canonical")


# --- rejected: artifact.msgpack ------------------------------------------------------------------


def test_msgpack_tampered(out):
    path = out / "artifact.msgpack"
    doc = msgpack.unpackb(path.read_bytes(), raw=False)
    doc["body"]["datastreams"]["0f3a6c1e-2b7d-4e59-9c3a-1d2e3f4a5b6c"]["destinations"][0]["alias"] = "adServerAlibs"
    path.write_bytes(pack(doc))
    assert_rejected(path, "does not match its revision")


def test_msgpack_one_byte_changed(out):
    path = out / "artifact.msgpack"
    data = path.read_bytes()
    assert data.count(b"adServerAlias") == 1
    path.write_bytes(data.replace(b"adServerAlias", b"adServerAlibs"))
    assert_rejected(path, "does not match its revision")


def test_msgpack_truncated(out):
    path = out / "artifact.msgpack"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert_rejected(path, "truncated or not valid msgpack")


def test_msgpack_random_bytes(out):
    path = out / "artifact.msgpack"
    path.write_bytes(random.Random(3).randbytes(500))
    result = run("verify", path)
    assert result.exit_code == 1, result.output
    assert f"{path}: rejected: " in result.stderr


def test_msgpack_future_version(out):
    path = out / "artifact.msgpack"
    doc = msgpack.unpackb(path.read_bytes(), raw=False)
    doc["schema_version"] = 3
    path.write_bytes(pack(doc))
    assert_rejected(path, "schema_version 3 is newer")


def test_json_given_as_msgpack_is_rejected(out):
    # the encoding follows the file name; a JSON file named .msgpack is not silently accepted
    shutil.copy(out / "artifact.json", out / "other.msgpack")
    result = run("verify", out / "other.msgpack")
    assert result.exit_code == 1, result.output
    assert "internal error" not in result.output


# --- usage errors --------------------------------------------------------------------------------


def test_nonexistent_path(tmp_path):
    result = run("verify", tmp_path / "nowhere" / "artifact.json")
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_directory_instead_of_file(out):
    result = run("verify", out)
    assert result.exit_code == 2


def test_verify_writes_nothing(out):
    before = {n: (out / n).stat().st_mtime_ns for n in os.listdir(out)}
    assert run("verify", out / "artifact.json").exit_code == 0
    assert {n: (out / n).stat().st_mtime_ns for n in os.listdir(out)} == before
