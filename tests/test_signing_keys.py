"""Signing keys: made and used by `cryptography`, checked by the bundled verifier, and taken
from an environment variable so that a CI secret never touches the disk."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import copy_example

from cpcompile.artifact_format import ed25519
from cpcompile.artifact_format.keys import format_private_key, format_public_key, parse_public_key
from cpcompile.artifact_format.signature import check_signature, encode_signature
from cpcompile.artifact_format.signer import load_private_key, signature_document
from cpcompile.cli import cli

# RFC 8032 TEST 1 and TEST 2 seeds, and a seed of our own
SEEDS = [
    bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"),
    bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"),
    hashlib.sha256(b"cpcompile fixed test key").digest(),
]
REVISIONS = ["sha256:" + hashlib.sha256(text).hexdigest() for text in (b"body", b"another body")]


def run(*args: object, env: dict[str, str] | None = None):
    # CPCOMPILE_SIGN_KEY is cleared unless a test sets it: a developer's own must not leak in
    return CliRunner().invoke(cli, [str(a) for a in args], env={"CPCOMPILE_SIGN_KEY": None, **(env or {})})


@pytest.mark.parametrize("seed", SEEDS, ids=["rfc8032-1", "rfc8032-2", "fixed"])
@pytest.mark.parametrize("revision", REVISIONS, ids=["a", "b"])
def test_cryptography_signs_byte_for_byte_as_the_bundled_signer(seed: bytes, revision: str) -> None:
    doc = signature_document(revision, seed)  # cryptography
    bundled = ed25519.sign(seed, revision.encode())  # the pure-Python reference
    assert base64.b64decode(doc["signature"]) == bundled
    public = ed25519.public_key_from_seed(seed)
    check_signature(revision, encode_signature(doc), public)  # the bundled verifier accepts it


def test_rfc8032_test_1_signature() -> None:
    # RFC 8032 section 7.1 TEST 1 signs the empty message; through cryptography directly
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    expected = bytes.fromhex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    assert Ed25519PrivateKey.from_private_bytes(SEEDS[0]).sign(b"") == expected == ed25519.sign(SEEDS[0], b"")


# --- keygen, build, verify through the command line ----------------------------------------------


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("keys")
    result = run("keygen", "--out", directory)
    assert result.exit_code == 0, result.output
    return directory


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_example(tmp_path_factory.mktemp("example"))


def test_keygen_makes_a_pair_the_bundled_code_agrees_with(keys: Path) -> None:
    seed = load_private_key(keys / "cpcompile.key")
    public = parse_public_key(keys / "cpcompile.pub")
    assert ed25519.public_key_from_seed(seed) == public
    assert (keys / "cpcompile.key").read_text() == format_private_key(seed)
    assert (keys / "cpcompile.pub").read_text() == format_public_key(public)


def _build(example: Path, out: Path, *args: object, env: dict[str, str] | None = None):
    return run("build", example, "--no-cache", "--out", out, *args, env=env)


def test_a_key_from_a_named_variable_signs_as_the_key_file_does(keys: Path, example: Path, tmp_path: Path) -> None:
    from_file = _build(example, tmp_path / "file", "--sign-key", keys / "cpcompile.key")
    assert from_file.exit_code == 0, from_file.output
    text = (keys / "cpcompile.key").read_text()
    from_env = _build(example, tmp_path / "env", "--sign-key", "env:DEPLOY_KEY", env={"DEPLOY_KEY": text})
    assert from_env.exit_code == 0, from_env.output
    assert (tmp_path / "env" / "artifact.sig").read_bytes() == (tmp_path / "file" / "artifact.sig").read_bytes()
    verified = run("verify", tmp_path / "env" / "artifact.json", "--public-key", keys / "cpcompile.pub")
    assert verified.exit_code == 0, verified.output
    assert "revision and signature verified" in verified.output


def test_cpcompile_sign_key_signs_without_the_option(keys: Path, example: Path, tmp_path: Path) -> None:
    text = (keys / "cpcompile.key").read_text()
    result = _build(example, tmp_path / "out", env={"CPCOMPILE_SIGN_KEY": text})
    assert result.exit_code == 0, result.output
    verified = run("verify", tmp_path / "out" / "artifact.json", "--public-key", keys / "cpcompile.pub")
    assert verified.exit_code == 0, verified.output


def test_an_option_wins_over_cpcompile_sign_key(keys: Path, example: Path, tmp_path: Path) -> None:
    result = _build(
        example, tmp_path / "out", "--sign-key", keys / "cpcompile.key",
        env={"CPCOMPILE_SIGN_KEY": "not a key, and never read"},
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "artifact.sig").is_file()


@pytest.mark.parametrize("value", ["", "  \n"], ids=["empty", "blank"])
def test_an_empty_cpcompile_sign_key_builds_unsigned(example: Path, tmp_path: Path, value: str) -> None:
    # what a CI system gives a build that may not see the secret (a pull request from a fork)
    result = _build(example, tmp_path / "out", env={"CPCOMPILE_SIGN_KEY": value})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "artifact.json").is_file()
    assert not (tmp_path / "out" / "artifact.sig").exists()


SECRET = base64.b64encode(b"secret-should-never-be-shown").decode()  # 28 bytes, like key material


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--sign-key", "env:DEPLOY_KEY"], {}, "Invalid value for --sign-key: environment variable DEPLOY_KEY is not set"),
        (["--sign-key", "env:DEPLOY_KEY"], {"DEPLOY_KEY": ""}, "environment variable DEPLOY_KEY is empty"),
        (["--sign-key", "env:"], {}, "env: needs the name of an environment variable (env:NAME)"),
        (
            ["--sign-key", "env:DEPLOY_KEY"], {"DEPLOY_KEY": SECRET},
            "environment variable DEPLOY_KEY is not a cpcompile private key: expected a line starting "
            "with 'cpcompile-ed25519-secret:'",
        ),
        (
            [], {"CPCOMPILE_SIGN_KEY": SECRET},
            "Error: environment variable CPCOMPILE_SIGN_KEY is not a cpcompile private key",
        ),
        (
            [], {"CPCOMPILE_SIGN_KEY": "cpcompile-ed25519-secret:" + SECRET + "!"},
            "environment variable CPCOMPILE_SIGN_KEY: the private key is not valid base64",
        ),
        (
            [], {"CPCOMPILE_SIGN_KEY": "cpcompile-ed25519-secret:" + SECRET},
            "environment variable CPCOMPILE_SIGN_KEY: the private key decodes to 28 bytes, expected 32",
        ),
        (
            [], {"CPCOMPILE_SIGN_KEY": "cpcompile-ed25519-secret:" + SECRET + "\n" + SECRET},
            "environment variable CPCOMPILE_SIGN_KEY: a private key file holds exactly one line",
        ),
    ],
    ids=["unset", "empty", "no-name", "not-a-key", "default-not-a-key", "bad-base64", "short", "two-lines"],
)
def test_a_bad_key_variable_is_a_usage_error_that_never_shows_the_value(
    example: Path, tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    result = _build(example, tmp_path / "out", *args, env=env)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert SECRET not in result.output and SECRET[:12] not in result.output
    assert not (tmp_path / "out").exists()  # nothing built


def test_a_public_key_in_the_variable_is_named_as_such(keys: Path, example: Path, tmp_path: Path) -> None:
    env = {"CPCOMPILE_SIGN_KEY": (keys / "cpcompile.pub").read_text()}
    result = _build(example, tmp_path / "out", env=env)
    assert result.exit_code == 2, result.output
    assert "environment variable CPCOMPILE_SIGN_KEY is a public key; signing needs the private key" in " ".join(
        result.output.split()
    )


def test_a_key_file_still_shows_what_it_found(example: Path, tmp_path: Path) -> None:
    # a file's first characters help find the wrong file; only a variable's value is withheld
    (tmp_path / "wrong.key").write_text("hello world\n")
    result = _build(example, tmp_path / "out", "--sign-key", tmp_path / "wrong.key")
    assert result.exit_code == 2, result.output
    assert "found 'hello world'" in result.output
