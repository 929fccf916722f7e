"""Key files and detached signatures (cpcompile.artifact_format: keys, signature, signer)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import sys

import pytest

from cpcompile.artifact_format import ed25519 as _ed25519
from cpcompile.artifact_format.errors import (
    BadSignature,
    KeyFileError,
    KeyMismatch,
    MalformedSignature,
    SignatureError,
    SignatureForOtherRevision,
    UnsupportedAlgorithm,
)
from cpcompile.artifact_format.keys import (
    PRIVATE_KEY_PREFIX,
    PUBLIC_KEY_PREFIX,
    PublicKey,
    format_private_key,
    format_public_key,
    key_id,
)
from cpcompile.artifact_format.keys import parse_public_key as load_public_key
from cpcompile.artifact_format.signature import check_signature, encode_signature
from cpcompile.artifact_format.signer import (
    PrivateKey,
    generate_keypair,
    load_private_key,
    parse_private_key,
    signature_document,
)

# RFC 8032 TEST 1 key pair
SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
OTHER_SEED = bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
OTHER_PUBLIC = bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
REVISION = "sha256:" + hashlib.sha256(b"body").hexdigest()
OTHER_REVISION = "sha256:" + hashlib.sha256(b"other body").hexdigest()

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


def _signed(revision: str = REVISION, seed: bytes = SEED) -> bytes:
    return encode_signature(signature_document(revision, seed))


# --- key files -----------------------------------------------------------------------------------


def test_generate_keypair_writes_loadable_files(tmp_path):
    priv, pub = tmp_path / "cpcompile.key", tmp_path / "cpcompile.pub"
    public = generate_keypair(priv, pub)
    assert isinstance(public, PublicKey) and len(public) == 32

    private = load_private_key(priv)
    assert isinstance(private, PrivateKey) and len(private) == 32
    assert private.public_key == public
    assert load_public_key(pub) == public
    assert load_public_key(str(pub)) == public

    # one line each, with the documented prefixes
    priv_text = priv.read_text()
    pub_text = pub.read_text()
    assert priv_text.startswith(PRIVATE_KEY_PREFIX) and priv_text.endswith("\n")
    assert pub_text.startswith(PUBLIC_KEY_PREFIX) and pub_text.endswith("\n")
    assert priv_text.count("\n") == 1 and pub_text.count("\n") == 1
    assert base64.b64decode(pub_text[len(PUBLIC_KEY_PREFIX) :]) == public


def test_generate_keypair_is_random(tmp_path):
    a = generate_keypair(tmp_path / "a.key", tmp_path / "a.pub")
    b = generate_keypair(tmp_path / "b.key", tmp_path / "b.pub")
    assert a != b


@posix_only
def test_private_key_mode_is_0600(tmp_path):
    priv, pub = tmp_path / "k", tmp_path / "k.pub"
    old = os.umask(0)  # even with a permissive umask
    try:
        generate_keypair(priv, pub)
    finally:
        os.umask(old)
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    assert stat.S_IMODE(pub.stat().st_mode) == 0o644


def test_refuses_to_overwrite(tmp_path):
    priv, pub = tmp_path / "k", tmp_path / "k.pub"
    first = generate_keypair(priv, pub)
    before = (priv.read_bytes(), pub.read_bytes())
    with pytest.raises(FileExistsError, match="already exists"):
        generate_keypair(priv, pub)
    # an existing public key alone also stops it, and nothing is left behind
    priv.unlink()
    with pytest.raises(FileExistsError):
        generate_keypair(priv, pub)
    assert not priv.exists()
    assert pub.read_bytes() == before[1]
    assert load_public_key(pub) == first


@posix_only
def test_overwrite_true_replaces_and_keeps_0600(tmp_path):
    priv, pub = tmp_path / "k", tmp_path / "k.pub"
    priv.write_text("old\n")
    os.chmod(priv, 0o644)  # a pre-existing, too-open file
    pub.write_text("old\n")
    public = generate_keypair(priv, pub, overwrite=True)
    assert load_private_key(priv).public_key == public
    assert load_public_key(pub) == public
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k", "k.pub"]  # no temp files


def test_same_path_for_both_keys_refused(tmp_path):
    with pytest.raises(ValueError):
        generate_keypair(tmp_path / "k", tmp_path / "k")


def test_format_round_trip():
    assert parse_private_key(format_private_key(SEED)) == SEED
    assert load_public_key(format_public_key(PUBLIC)) == PUBLIC
    assert load_public_key(format_public_key(PUBLIC).encode()) == PUBLIC
    # surrounding whitespace and CRLF line ends are tolerated
    assert load_public_key("  " + format_public_key(PUBLIC).strip() + "\r\n") == PUBLIC
    # a PublicKey passes through
    pk = PublicKey(PUBLIC)
    assert load_public_key(pk) is pk


def test_private_key_repr_hides_the_secret():
    private = PrivateKey(SEED)
    for shown in (repr(private), str(private), f"{private}"):
        assert SEED.hex() not in shown
        assert base64.b64encode(SEED).decode() not in shown
        assert key_id(PUBLIC) in shown


def test_public_key_given_where_private_expected(tmp_path):
    path = tmp_path / "cpcompile.pub"
    path.write_text(format_public_key(PUBLIC))
    with pytest.raises(KeyFileError, match="is a public key; signing needs the private key"):
        load_private_key(path)


def test_private_key_given_where_public_expected(tmp_path):
    path = tmp_path / "cpcompile.key"
    path.write_text(format_private_key(SEED))
    with pytest.raises(KeyFileError, match="is a private key; verifying needs the public key"):
        load_public_key(path)
    with pytest.raises(KeyFileError, match="is a private key"):
        load_public_key(format_private_key(SEED))


def test_missing_key_file(tmp_path):
    with pytest.raises(KeyFileError, match="does not exist"):
        load_private_key(tmp_path / "nope.key")
    with pytest.raises(KeyFileError, match="does not exist"):
        load_public_key(tmp_path / "nope.pub")
    with pytest.raises(KeyFileError, match="does not exist"):
        load_public_key(str(tmp_path / "nope.pub"))


def test_key_file_is_a_directory(tmp_path):
    with pytest.raises(KeyFileError):
        load_private_key(tmp_path)


@pytest.mark.parametrize(
    "content, message",
    [
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB user@host\n", "not a cpcompile private key"),
        ("", "not a cpcompile private key"),
        (PRIVATE_KEY_PREFIX + "not*base64!\n", "not valid base64"),
        (PRIVATE_KEY_PREFIX + base64.b64encode(b"x" * 31).decode() + "\n", "31 bytes, expected 32"),
        (PRIVATE_KEY_PREFIX + base64.b64encode(b"x" * 64).decode() + "\n", "64 bytes, expected 32"),
        (format_private_key(SEED) + format_private_key(SEED), "exactly one line"),
    ],
)
def test_malformed_private_key_file(tmp_path, content, message):
    path = tmp_path / "k"
    path.write_text(content)
    with pytest.raises(KeyFileError, match=message):
        load_private_key(path)


def test_binary_junk_key_file(tmp_path):
    path = tmp_path / "k"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(KeyFileError, match="not a text file"):
        load_private_key(path)
    with pytest.raises(KeyFileError):
        load_public_key(b"\xff\xfe\x00garbage")


def test_key_file_error_is_a_value_error():
    assert issubclass(KeyFileError, ValueError)
    with pytest.raises(ValueError):
        load_public_key(PUBLIC_KEY_PREFIX + "AAAA")


def test_load_public_key_type_error():
    with pytest.raises(TypeError):
        load_public_key(42)


# --- key id --------------------------------------------------------------------------------------


def test_key_id():
    assert key_id(PUBLIC) == hashlib.sha256(PUBLIC).hexdigest()[:16]
    assert len(key_id(PUBLIC)) == 16
    assert key_id(PUBLIC) != key_id(OTHER_PUBLIC)
    assert PublicKey(PUBLIC).key_id == key_id(PUBLIC)
    assert PrivateKey(SEED).key_id == key_id(PUBLIC)


# --- signature documents -------------------------------------------------------------------------


def test_signature_document_shape():
    doc = signature_document(REVISION, SEED)
    assert doc == {
        "algorithm": "ed25519",
        "key_id": key_id(PUBLIC),
        "revision": REVISION,
        "signature": base64.b64encode(_ed25519.sign(SEED, REVISION.encode("utf-8"))).decode(),
    }
    assert len(base64.b64decode(doc["signature"])) == 64


def test_encode_signature_is_canonical_json():
    doc = signature_document(REVISION, SEED)
    encoded = encode_signature(doc)
    assert encoded == json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    assert not encoded.endswith(b"\n")
    assert encoded.startswith(b'{"algorithm":"ed25519","key_id":')
    assert json.loads(encoded) == doc


def test_signing_is_deterministic():
    assert _signed() == _signed()
    assert _signed() == encode_signature(signature_document(REVISION, PrivateKey(SEED)))
    assert _signed(OTHER_REVISION) != _signed()
    assert _signed(seed=OTHER_SEED) != _signed()


def test_signature_verifies_with_the_ed25519_primitive():
    doc = signature_document(REVISION, SEED)
    assert _ed25519.verify(PUBLIC, REVISION.encode(), base64.b64decode(doc["signature"]))


def test_check_signature_accepts_good_signature():
    check_signature(REVISION, _signed(), PUBLIC)
    check_signature(REVISION, _signed(), PublicKey(PUBLIC))
    check_signature(REVISION, bytearray(_signed() + b"\n"), PUBLIC)  # a trailing newline is fine


def test_round_trip_through_files(tmp_path):
    priv, pub = tmp_path / "cpcompile.key", tmp_path / "cpcompile.pub"
    generate_keypair(priv, pub)
    sig = encode_signature(signature_document(REVISION, load_private_key(priv)))
    (tmp_path / "artifact.sig").write_bytes(sig)
    check_signature(REVISION, (tmp_path / "artifact.sig").read_bytes(), load_public_key(pub))


def test_wrong_revision():
    with pytest.raises(SignatureForOtherRevision) as err:
        check_signature(REVISION, _signed(OTHER_REVISION), PUBLIC)
    assert OTHER_REVISION in str(err.value) and REVISION in str(err.value)


def test_wrong_key():
    with pytest.raises(KeyMismatch) as err:
        check_signature(REVISION, _signed(), OTHER_PUBLIC)
    assert str(err.value) == (
        f"signed with key {key_id(PUBLIC)}, you gave key {key_id(OTHER_PUBLIC)}"
    )


def test_tampered_signature_bytes():
    doc = signature_document(REVISION, SEED)
    raw = bytearray(base64.b64decode(doc["signature"]))
    raw[5] ^= 0x10
    doc["signature"] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(BadSignature, match="does not verify"):
        check_signature(REVISION, encode_signature(doc), PUBLIC)


def test_revision_field_edited_to_match():
    # someone edits "revision" to the artifact's: the Ed25519 check still fails
    doc = signature_document(OTHER_REVISION, SEED)
    doc["revision"] = REVISION
    with pytest.raises(BadSignature):
        check_signature(REVISION, encode_signature(doc), PUBLIC)


def test_key_id_field_edited_to_match():
    # a signature by another key, relabelled with this key's id, does not verify
    doc = signature_document(REVISION, OTHER_SEED)
    doc["key_id"] = key_id(PUBLIC)
    with pytest.raises(BadSignature):
        check_signature(REVISION, encode_signature(doc), PUBLIC)


def test_unsupported_algorithm():
    doc = signature_document(REVISION, SEED)
    doc["algorithm"] = "rsa-pss"
    with pytest.raises(UnsupportedAlgorithm, match="'rsa-pss'"):
        check_signature(REVISION, encode_signature(doc), PUBLIC)


@pytest.mark.parametrize(
    "sig_bytes, message",
    [
        (b"", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"-----BEGIN SIGNATURE-----", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b"[" * 5_000, "nested too deeply"),
        (b'{"algorithm": "ed25519"}', "missing key_id, revision, signature"),
        (
            b'{"algorithm":"ed25519","key_id":"x","revision":"r","signature":5}',
            "'signature' is not a string",
        ),
    ],
)
def test_unreadable_signature_file(sig_bytes, message):
    with pytest.raises(MalformedSignature, match=message):
        check_signature(REVISION, sig_bytes, PUBLIC)


@pytest.mark.parametrize(
    "value, message",
    [
        ("***", "not valid base64"),
        (base64.b64encode(b"x" * 63).decode(), "63 bytes, expected 64"),
        (base64.b64encode(b"x" * 65).decode(), "65 bytes, expected 64"),
    ],
)
def test_bad_signature_value(value, message):
    doc = signature_document(REVISION, SEED)
    doc["signature"] = value
    with pytest.raises(MalformedSignature, match=message):
        check_signature(REVISION, encode_signature(doc), PUBLIC)


def test_all_signature_errors_share_a_base():
    for cls in (
        MalformedSignature,
        UnsupportedAlgorithm,
        SignatureForOtherRevision,
        KeyMismatch,
        BadSignature,
    ):
        assert issubclass(cls, SignatureError)
    assert not issubclass(SignatureError, ValueError)


def test_check_signature_argument_errors():
    with pytest.raises(TypeError):
        check_signature(REVISION, _signed().decode(), PUBLIC)
    with pytest.raises(TypeError):
        check_signature(REVISION.encode(), _signed(), PUBLIC)
    with pytest.raises(ValueError):
        check_signature(REVISION, _signed(), PUBLIC[:31])


def test_the_verifying_modules_are_standard_library_only():
    # the runtime verifies signatures; it must not pull in third-party packages
    import ast
    import pathlib

    from cpcompile.artifact_format import body, document, errors, keys, signature

    for module in (body, document, errors, keys, signature, _ed25519):
        tree = ast.parse(pathlib.Path(module.__file__).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                # document imports msgpack on first use, to read a .msgpack artifact
                allowed = {"cpcompile", "msgpack"} if module is document else {"cpcompile"}
                assert top in sys.stdlib_module_names or top in allowed, name
                assert not name.endswith(("signer", "encode")), name
