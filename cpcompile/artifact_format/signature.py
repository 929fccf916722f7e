"""Ed25519 key files and detached artifact signatures (standard library only).

See docs/signing.md. What is signed is the artifact's ``revision`` string (``sha256:`` + hex of
the canonical body), so one signature covers ``artifact.json`` and ``artifact.msgpack`` alike.

Key files are one line each::

    cpcompile-ed25519-secret:<base64 of the 32-byte seed>
    cpcompile-ed25519-public:<base64 of the 32-byte public key>

A signature file is canonical JSON::

    {"algorithm":"ed25519","key_id":"…","revision":"sha256:…","signature":"<base64, 64 bytes>"}
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any, Union

from cpcompile import _ed25519

__all__ = [
    "ALGORITHM",
    "PRIVATE_KEY_PREFIX",
    "PUBLIC_KEY_PREFIX",
    "PRIVATE_KEY_FILENAME",
    "PUBLIC_KEY_FILENAME",
    "SIGNATURE_FILENAME",
    "KeyFileError",
    "SignatureError",
    "MalformedSignatureError",
    "UnsupportedAlgorithmError",
    "RevisionMismatchError",
    "KeyMismatchError",
    "BadSignatureError",
    "PrivateKey",
    "PublicKey",
    "generate_keypair",
    "format_private_key",
    "format_public_key",
    "parse_private_key",
    "parse_public_key",
    "load_private_key",
    "load_public_key",
    "key_id",
    "signature_document",
    "encode_signature",
    "check_signature",
]

ALGORITHM = "ed25519"
PRIVATE_KEY_PREFIX = "cpcompile-ed25519-secret:"
PUBLIC_KEY_PREFIX = "cpcompile-ed25519-public:"
PRIVATE_KEY_FILENAME = "cpcompile.key"
PUBLIC_KEY_FILENAME = "cpcompile.pub"
SIGNATURE_FILENAME = "artifact.sig"
_KEY_SIZE = 32
_COMMON_PREFIX = "cpcompile-ed25519-"

PathLike = Union[str, "os.PathLike[str]"]


class KeyFileError(ValueError):
    """A key file (or key text) is missing, of the wrong kind or malformed."""


class SignatureError(Exception):
    """A signature does not prove that the holder of the given key signed this revision."""


class MalformedSignatureError(SignatureError):
    """The signature file cannot be read as a cpcompile signature."""


class UnsupportedAlgorithmError(SignatureError):
    """The signature names an algorithm other than ed25519."""


class RevisionMismatchError(SignatureError):
    """The signature is for another revision than the artifact's."""


class KeyMismatchError(SignatureError):
    """The signature was made with another key than the one given."""


class BadSignatureError(SignatureError):
    """The signature bytes do not verify."""


class PublicKey(bytes):
    """The 32 raw bytes of an Ed25519 public key (a ``bytes``, usable wherever bytes are)."""

    @property
    def key_id(self) -> str:
        return key_id(self)

    def to_text(self) -> str:
        return format_public_key(self)

    def __repr__(self) -> str:
        return f"PublicKey(key_id={self.key_id!r})"

    __str__ = __repr__


class PrivateKey(bytes):
    """The 32-byte Ed25519 seed (a ``bytes``); its repr never shows the secret."""

    @property
    def public_key(self) -> PublicKey:
        return PublicKey(_ed25519.public_key_from_seed(self))

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def __repr__(self) -> str:
        return f"PrivateKey(key_id={self.key_id!r})"

    __str__ = __repr__


# --- key text ------------------------------------------------------------------------------------


def format_private_key(seed: bytes) -> str:
    """The private key file content: one line, newline-terminated."""
    _check_length(seed, "seed")
    return PRIVATE_KEY_PREFIX + base64.b64encode(bytes(seed)).decode("ascii") + "\n"


def format_public_key(public_key: bytes) -> str:
    """The public key file content: one line, newline-terminated."""
    _check_length(public_key, "public key")
    return PUBLIC_KEY_PREFIX + base64.b64encode(bytes(public_key)).decode("ascii") + "\n"


def _check_length(value: bytes, what: str) -> None:
    if not isinstance(value, (bytes, bytearray)):
        raise TypeError(f"{what} must be bytes, not {type(value).__name__}")
    if len(value) != _KEY_SIZE:
        raise ValueError(f"an Ed25519 {what} is {_KEY_SIZE} bytes, got {len(value)}")


def _parse(text: str, expected_prefix: str, kind: str, source: str) -> bytes:
    line = text.strip()
    if "\n" in line:
        raise KeyFileError(f"{source}: a {kind} key file holds exactly one line")
    if not line.startswith(expected_prefix):
        if kind == "private" and line.startswith(PUBLIC_KEY_PREFIX):
            raise KeyFileError(
                f"{source} is a public key; signing needs the private key "
                f"({PRIVATE_KEY_FILENAME}, the line starting with {PRIVATE_KEY_PREFIX!r})"
            )
        if kind == "public" and line.startswith(PRIVATE_KEY_PREFIX):
            raise KeyFileError(
                f"{source} is a private key; verifying needs the public key "
                f"({PUBLIC_KEY_FILENAME}, the line starting with {PUBLIC_KEY_PREFIX!r}). "
                "Keep the private key out of the places that only verify"
            )
        shown = line[:40] + ("…" if len(line) > 40 else "")
        raise KeyFileError(
            f"{source} is not a cpcompile {kind} key: expected a line starting with "
            f"{expected_prefix!r}, found {shown!r}"
        )
    encoded = line[len(expected_prefix) :]
    try:
        raw = base64.b64decode(encoded.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise KeyFileError(f"{source}: the {kind} key is not valid base64") from None
    if len(raw) != _KEY_SIZE:
        raise KeyFileError(
            f"{source}: the {kind} key decodes to {len(raw)} bytes, expected {_KEY_SIZE}"
        )
    return raw


def parse_private_key(text: str, *, source: str = "the key") -> PrivateKey:
    """Parse the content of a private key file; ``source`` names it in error messages."""
    return PrivateKey(_parse(text, PRIVATE_KEY_PREFIX, "private", source))


def parse_public_key(text: str, *, source: str = "the key") -> PublicKey:
    """Parse the content of a public key file; ``source`` names it in error messages."""
    return PublicKey(_parse(text, PUBLIC_KEY_PREFIX, "public", source))


def _read_key_file(path: PathLike, kind: str) -> str:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"{kind} key file {os.fspath(path)} does not exist") from None
    except IsADirectoryError:
        raise KeyFileError(f"{kind} key file {os.fspath(path)} is a directory") from None
    except OSError as exc:
        raise KeyFileError(
            f"cannot read {kind} key file {os.fspath(path)}: {exc.strerror or exc}"
        ) from None
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise KeyFileError(
            f"{os.fspath(path)} is not a cpcompile {kind} key (not a text file)"
        ) from None


def load_private_key(path: PathLike) -> PrivateKey:
    """Read a private key file (``cpcompile.key``)."""
    return parse_private_key(_read_key_file(path, "private"), source=os.fspath(path))


def load_public_key(path_or_text_or_bytes: PathLike | bytes) -> PublicKey:
    """A public key from a file path, from the file's text, or from the file's bytes.

    A ``PublicKey`` is returned as is. A ``str`` starting with ``cpcompile-ed25519-`` is key text;
    any other ``str`` (or an ``os.PathLike``) is a path. ``bytes`` are the file's content.
    """
    value = path_or_text_or_bytes
    if isinstance(value, PublicKey):
        return value
    if isinstance(value, (bytes, bytearray)):
        try:
            text = bytes(value).decode("ascii")
        except UnicodeDecodeError:
            raise KeyFileError("the public key is not a cpcompile key (not text)") from None
        return parse_public_key(text)
    if isinstance(value, str) and value.lstrip().startswith(_COMMON_PREFIX):
        return parse_public_key(value)
    if isinstance(value, (str, os.PathLike)):
        return parse_public_key(_read_key_file(value, "public"), source=os.fspath(value))
    raise TypeError(
        f"expected a path, key text or key file bytes, not {type(value).__name__}"
    )


# --- key generation ------------------------------------------------------------------------------


def _write_new(path: Path, content: str, mode: int) -> None:
    """Create ``path`` with ``mode``; fail if it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode)
    try:
        with os.fdopen(fd, "wb") as f:
            fd = -1
            f.write(content.encode("ascii"))
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        if fd != -1:
            os.close(fd)
        path.unlink(missing_ok=True)
        raise


def _replace(path: Path, content: str, mode: int) -> None:
    """Atomically replace (or create) ``path`` with a new file of ``mode``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(tmp, mode)  # mkstemp creates 0600; the public key gets 0644
        with os.fdopen(fd, "wb") as f:
            f.write(content.encode("ascii"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def generate_keypair(
    private_path: PathLike, public_path: PathLike, *, overwrite: bool = False
) -> PublicKey:
    """Make a new key pair: the private key file with mode 0600, the public one with 0644.

    Refuses (``FileExistsError``) to overwrite either file unless ``overwrite=True``; when it
    refuses, neither file is touched.
    """
    private_path = Path(private_path)
    public_path = Path(public_path)
    if private_path.resolve() == public_path.resolve():
        raise ValueError("the private and public key paths are the same file")
    seed = secrets.token_bytes(_KEY_SIZE)
    public = PublicKey(_ed25519.public_key_from_seed(seed))
    private_text = format_private_key(seed)
    public_text = format_public_key(public)
    if overwrite:
        _replace(private_path, private_text, 0o600)
        _replace(public_path, public_text, 0o644)
        return public
    for path in (private_path, public_path):
        if path.exists() or path.is_symlink():
            raise FileExistsError(
                f"{path} already exists; refusing to overwrite a key (pass overwrite=True, "
                "and remember that artifacts signed with the old key will no longer verify "
                "against the new public key)"
            )
    _write_new(private_path, private_text, 0o600)
    try:
        _write_new(public_path, public_text, 0o644)
    except BaseException:
        private_path.unlink(missing_ok=True)
        raise
    return public


# --- signatures ----------------------------------------------------------------------------------


def key_id(public_key: bytes) -> str:
    """The first 16 hex digits of sha256(public key): a short name for a key, not a secret."""
    if not isinstance(public_key, (bytes, bytearray)):
        raise TypeError(f"public key must be bytes, not {type(public_key).__name__}")
    return hashlib.sha256(bytes(public_key)).hexdigest()[:16]


def signature_document(revision: str, seed: bytes) -> dict[str, str]:
    """The detached signature of ``revision`` (the artifact's ``sha256:…`` revision string)."""
    if not isinstance(revision, str):
        raise TypeError(f"revision must be a str, not {type(revision).__name__}")
    public = _ed25519.public_key_from_seed(seed)
    signature = _ed25519.sign(seed, revision.encode("utf-8"))
    return {
        "algorithm": ALGORITHM,
        "key_id": key_id(public),
        "revision": revision,
        "signature": base64.b64encode(signature).decode("ascii"),
    }


def encode_signature(doc: dict[str, Any]) -> bytes:
    """Canonical JSON (sorted keys, no whitespace, no trailing newline)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _printable(value: str) -> str:
    """A value from the signature file as it may appear in a message: as it is when it is
    plain printable ASCII (a revision, a key id), else quoted with escapes, so that no control
    character, line break or lone surrogate reaches a log or a terminal."""
    if value.isascii() and value.isprintable():
        return value
    return ascii(value)


def check_signature(sig_bytes: bytes, revision: str, public_key: bytes) -> None:
    """Return if ``sig_bytes`` is a valid signature of ``revision`` by ``public_key``.

    Raises a ``SignatureError`` subclass saying what is wrong otherwise.
    """
    if not isinstance(sig_bytes, (bytes, bytearray)):
        raise TypeError(f"signature must be bytes, not {type(sig_bytes).__name__}")
    if not isinstance(revision, str):
        raise TypeError(f"revision must be a str, not {type(revision).__name__}")
    _check_length(public_key, "public key")
    try:
        doc = json.loads(bytes(sig_bytes).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise MalformedSignatureError(
            "the signature file is not a cpcompile signature (not JSON)"
        ) from None
    except RecursionError:  # nested deeper than the interpreter's limit
        raise MalformedSignatureError(
            "the signature file is not a cpcompile signature (nested too deeply)"
        ) from None
    if not isinstance(doc, dict):
        raise MalformedSignatureError(
            "the signature file is not a cpcompile signature (not a JSON object)"
        )
    missing = [k for k in ("algorithm", "key_id", "revision", "signature") if k not in doc]
    if missing:
        raise MalformedSignatureError(
            f"the signature file is not a cpcompile signature (missing {', '.join(missing)})"
        )
    for field in ("algorithm", "key_id", "revision", "signature"):
        if not isinstance(doc[field], str):
            raise MalformedSignatureError(
                f"the signature file is malformed: {field!r} is not a string"
            )
    if doc["algorithm"] != ALGORITHM:
        raise UnsupportedAlgorithmError(
            f"the signature uses algorithm {doc['algorithm']!r}; only {ALGORITHM!r} is supported"
        )
    if doc["revision"] != revision:
        raise RevisionMismatchError(
            f"the signature is for revision {_printable(doc['revision'])}, but the artifact's "
            f"revision is {revision} (a signature file from another build?)"
        )
    given_id = key_id(public_key)
    if doc["key_id"] != given_id:
        raise KeyMismatchError(
            f"signed with key {_printable(doc['key_id'])}, you gave key {given_id}"
        )
    try:
        raw = base64.b64decode(doc["signature"].encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise MalformedSignatureError(
            "the signature file is malformed: 'signature' is not valid base64"
        ) from None
    if len(raw) != _ed25519.SIGNATURE_SIZE:
        raise MalformedSignatureError(
            f"the signature file is malformed: 'signature' decodes to {len(raw)} bytes, "
            f"expected {_ed25519.SIGNATURE_SIZE}"
        )
    if not _ed25519.verify(bytes(public_key), revision.encode("utf-8"), raw):
        raise BadSignatureError(
            f"the signature of revision {revision} by key {given_id} does not verify: "
            "the signature file was altered or not made with this key"
        )
