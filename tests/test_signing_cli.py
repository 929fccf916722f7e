"""Signing through the command line: keygen, build --sign-key, verify --public-key."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import copy_example

from cpcompile.cli import cli


posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])



def keygen(directory: Path) -> str:
    """Make a key pair in ``directory``; return its key id."""
    result = run("keygen", "--out", directory)
    assert result.exit_code == 0, result.output
    return key_id_from_output(result.output)


def key_id_from_output(output: str) -> str:
    return output.rsplit("key id ", 1)[1].split(")")[0]


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("keys")
    ids = {name: keygen(base / name) for name in ("ours", "theirs")}
    return {"base": base, **ids}


@pytest.fixture(scope="module")
def signed(tmp_path_factory, keys) -> Path:
    root = copy_example(tmp_path_factory.mktemp("signed"))
    result = run("build", root, "--no-cache", "--sign-key", keys["base"] / "ours/cpcompile.key")
    assert result.exit_code == 0, result.output
    return root / "build"


@pytest.fixture
def out(signed, tmp_path) -> Path:
    copy = tmp_path / "build"
    shutil.copytree(signed, copy)
    return copy


def pub(keys, name="ours") -> Path:
    return keys["base"] / name / "cpcompile.pub"


def verify_rejects(artifact: Path, public: Path, *fragments: str, extra=()) -> str:
    result = run("verify", artifact, "--public-key", public, *extra)
    assert result.exit_code == 1, result.output
    assert "internal error" not in result.output
    assert f"{artifact}: rejected: " in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, f"{fragment!r} not in {result.stderr!r}"
    return result.stderr


def edit_signature(out: Path, **changes) -> None:
    doc = json.loads((out / "artifact.sig").read_bytes())
    doc.update(changes)
    (out / "artifact.sig").write_bytes(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode())


# --- keygen --------------------------------------------------------------------------------------


@posix_only
def test_keygen_writes_both_files_private_one_0600(tmp_path):
    old = os.umask(0o022)
    try:
        result = run("keygen", "--out", tmp_path / "new" / "dir")
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    key, public = tmp_path / "new/dir/cpcompile.key", tmp_path / "new/dir/cpcompile.pub"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(public.stat().st_mode) == 0o644
    assert key.read_text().startswith("cpcompile-ed25519-secret:")
    assert public.read_text().startswith("cpcompile-ed25519-public:")
    assert str(key) in result.output and str(public) in result.output
    # the secret never reaches the terminal
    assert key.read_text().split(":", 1)[1].strip() not in result.output


@posix_only
def test_private_key_is_0600_even_with_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        assert run("keygen", "--out", tmp_path).exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "cpcompile.key").stat().st_mode) == 0o600


@pytest.mark.parametrize("existing", ["cpcompile.key", "cpcompile.pub", "both"])
def test_keygen_refuses_to_overwrite(tmp_path, existing):
    keygen(tmp_path)
    if existing != "both":
        other = "cpcompile.pub" if existing == "cpcompile.key" else "cpcompile.key"
        (tmp_path / other).unlink()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    result = run("keygen", "--out", tmp_path)
    assert result.exit_code == 2
    assert "already exists" in result.output and "--force" in result.output
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@posix_only
def test_keygen_force_replaces(tmp_path):
    first = keygen(tmp_path)
    old_key = (tmp_path / "cpcompile.key").read_bytes()
    result = run("keygen", "--out", tmp_path, "--force")
    assert result.exit_code == 0, result.output
    assert key_id_from_output(result.output) != first
    assert (tmp_path / "cpcompile.key").read_bytes() != old_key
    assert stat.S_IMODE((tmp_path / "cpcompile.key").stat().st_mode) == 0o600


# --- build --sign-key and verify --public-key ------------------------------------------------------


def test_signed_build_writes_signature(signed, keys):
    sig = json.loads((signed / "artifact.sig").read_bytes())
    revision = json.loads((signed / "artifact.json").read_bytes())["revision"]
    assert sig["algorithm"] == "ed25519"
    assert sig["key_id"] == keys["ours"]
    assert sig["revision"] == revision
    # canonical JSON, no trailing newline
    raw = (signed / "artifact.sig").read_bytes()
    assert raw == json.dumps(sig, sort_keys=True, separators=(",", ":")).encode()


@pytest.mark.parametrize("name", ["artifact.json", "artifact.msgpack"])
def test_verify_with_public_key(out, keys, name):
    result = run("verify", out / name, "--public-key", pub(keys))
    assert result.exit_code == 0, result.output
    revision = json.loads((out / "artifact.json").read_bytes())["revision"]
    assert result.stdout == f"{out / name}: ok, revision and signature verified: {revision}\n"


def test_verify_with_explicit_signature_path(out, keys, tmp_path):
    moved = tmp_path / "sigs" / "prod.sig"
    moved.parent.mkdir()
    (out / "artifact.sig").rename(moved)
    assert run("verify", out / "artifact.json", "--public-key", pub(keys), "--signature", moved).exit_code == 0
    verify_rejects(out / "artifact.json", pub(keys), "no signature file")


@pytest.mark.parametrize("name", ["artifact.json", "artifact.msgpack"])
def test_another_keys_public_key_is_a_key_mismatch(out, keys, name):
    verify_rejects(out / name, pub(keys, "theirs"), f"signed with key {keys['ours']}", keys["theirs"])


def test_missing_signature(out, keys):
    (out / "artifact.sig").unlink()
    verify_rejects(out / "artifact.json", pub(keys), "no signature file", "--sign-key")


def test_unsigned_build_with_public_key(tmp_path, keys):
    root = copy_example(tmp_path / "root")
    assert run("build", root, "--no-cache").exit_code == 0
    verify_rejects(root / "build/artifact.json", pub(keys), "no signature file")


def test_without_public_key_the_signature_is_not_looked_at(out):
    (out / "artifact.sig").write_bytes(b"garbage")
    assert run("verify", out / "artifact.json").exit_code == 0


def _flip_base64_char(text: str) -> str:
    # swap one character for another base64 digit: still valid base64, one bit or more differs
    i = 10
    return text[:i] + ("A" if text[i] != "A" else "B") + text[i + 1 :]


def test_tampered_signature_bytes(out, keys):
    sig = json.loads((out / "artifact.sig").read_bytes())
    edit_signature(out, signature=_flip_base64_char(sig["signature"]))
    verify_rejects(out / "artifact.json", pub(keys), "does not verify")


def test_tampered_signature_last_byte(out, keys):
    data = bytearray((out / "artifact.sig").read_bytes())
    # a base64 digit near the end of the signature (64 bytes: 86 digits, then "==")
    position = data.rindex(b'=="}') - 2
    data[position] = ord("A") if data[position] != ord("A") else ord("B")
    (out / "artifact.sig").write_bytes(bytes(data))
    verify_rejects(out / "artifact.json", pub(keys), "does not verify")


@pytest.mark.parametrize("field", ["revision", "key_id"])
def test_signature_fields_are_escaped_in_the_message(out, keys, field):
    edit_signature(out, **{field: "x\n::error::injected\ud800"})
    stderr = verify_rejects(out / "artifact.json", pub(keys), "x\\n::error::injected\\ud800")
    assert "\n::error" not in stderr


def test_forged_key_id_does_not_help(out, keys):
    edit_signature(out, key_id=keys["theirs"])
    verify_rejects(out / "artifact.json", pub(keys, "theirs"), "does not verify")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "not a cpcompile signature"),
        (b"not json", "not a cpcompile signature"),
        (b"[]", "not a cpcompile signature"),
        (b'{"algorithm":"ed25519"}', "malformed"),
        (b"[" * 5_000, "nested too deeply"),
        (b'{"a":' * 5_000, "nested too deeply"),
    ],
)
def test_malformed_signature_file(out, keys, content, fragment):
    (out / "artifact.sig").write_bytes(content)
    verify_rejects(out / "artifact.json", pub(keys), fragment)


def test_other_algorithm(out, keys):
    edit_signature(out, algorithm="rsa")
    verify_rejects(out / "artifact.json", pub(keys), "'rsa'", "only 'ed25519'")


def test_signature_of_another_build(out, keys, tmp_path):
    root = copy_example(tmp_path / "other")
    path = root / "destinations/ad-server.yaml"
    path.write_text(path.read_text().replace("On-site ad server", "On-site ad server v2"))
    path.write_text(path.read_text().replace("adServerAlias", "adServerAlias2"))
    assert run("build", root, "--no-cache", "--sign-key", keys["base"] / "ours/cpcompile.key").exit_code == 0
    shutil.copy(root / "build/artifact.sig", out / "artifact.sig")
    other_revision = json.loads((root / "build/artifact.json").read_bytes())["revision"]
    verify_rejects(out / "artifact.json", pub(keys), f"signature is for revision {other_revision}")


def test_signed_artifact_body_tampered(out, keys):
    path = out / "artifact.json"
    path.write_bytes(path.read_bytes().replace(b"adServerAlias", b"adServerAlibs"))
    verify_rejects(path, pub(keys), "does not match its revision")


def test_same_input_and_key_give_the_same_signature(tmp_path, keys, signed):
    root = copy_example(tmp_path / "again")
    assert run("build", root, "--no-cache", "--sign-key", keys["base"] / "ours/cpcompile.key").exit_code == 0
    for name in ("artifact.json", "artifact.msgpack", "artifact.sig", "manifest.json"):
        assert (root / "build" / name).read_bytes() == (signed / name).read_bytes(), name


def test_another_key_signs_the_same_artifact_differently(tmp_path, keys, signed):
    root = copy_example(tmp_path / "theirs")
    assert run("build", root, "--no-cache", "--sign-key", keys["base"] / "theirs/cpcompile.key").exit_code == 0
    for name in ("artifact.json", "artifact.msgpack"):
        assert (root / "build" / name).read_bytes() == (signed / name).read_bytes()
    assert (root / "build/artifact.sig").read_bytes() != (signed / "artifact.sig").read_bytes()
    assert json.loads((root / "build/manifest.json").read_bytes())["signed_by"] == keys["theirs"]


# --- key files given the wrong way round -----------------------------------------------------------


def test_sign_key_given_the_public_key(tmp_path, keys):
    root = copy_example(tmp_path / "root")
    result = run("build", root, "--sign-key", pub(keys))
    assert result.exit_code == 2, result.output
    assert "is a public key" in result.output and "private key" in result.output
    assert not (root / "build").exists()


@pytest.mark.parametrize("content", [b"", b"garbage\n", b"cpcompile-ed25519-secret:!!!\n"])
def test_sign_key_not_a_key(tmp_path, content):
    root = copy_example(tmp_path / "root")
    (tmp_path / "bad.key").write_bytes(content)
    result = run("build", root, "--sign-key", tmp_path / "bad.key")
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output
    assert not (root / "build").exists()


def test_sign_key_missing(tmp_path):
    root = copy_example(tmp_path / "root")
    result = run("build", root, "--sign-key", tmp_path / "nowhere.key")
    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert not (root / "build").exists()


def test_public_key_given_the_private_key(out, keys):
    result = run("verify", out / "artifact.json", "--public-key", keys["base"] / "ours/cpcompile.key")
    assert result.exit_code == 2, result.output
    assert "is a private key" in result.output


def test_public_key_not_a_key(out, tmp_path):
    (tmp_path / "junk.pub").write_text("garbage\n")
    result = run("verify", out / "artifact.json", "--public-key", tmp_path / "junk.pub")
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output
    assert "not a cpcompile public key" in result.output


def test_signature_path_is_a_directory(out, keys):
    (out / "artifact.sig").unlink()
    (out / "artifact.sig").mkdir()
    result = run("verify", out / "artifact.json", "--public-key", pub(keys))
    assert "internal error" not in result.output
    assert result.exit_code in (1, 2), result.output
    assert "artifact.sig" in result.output
