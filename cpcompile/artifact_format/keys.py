"""Ed25519 key files: their text, and the one public-key parser (standard library only).

Key files are one line each::

    cpcompile-ed25519-secret:<base64 of the 32-byte seed>
    cpcompile-ed25519-public:<base64 of the 32-byte public key>

The runtime imports this module on every replica: what it needs from the standard library is
imported on first use. Verifying needs only ``parse_public_key``; the private side (reading a key, signing, making a
key pair) is ``signer``'s, which the runtime never imports.
"""

from __future__ import annotations

import os

from cpcompile.artifact_format.errors import KeyFileError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Union

    PathLike = Union[str, "os.PathLike[str]"]
    # what a public key may be given as: see parse_public_key
    KeySource = Union[bytes, bytearray, str, "os.PathLike[str]"]

ALGORITHM = "ed25519"
PRIVATE_KEY_PREFIX = "cpcompile-ed25519-secret:"
PUBLIC_KEY_PREFIX = "cpcompile-ed25519-public:"
PRIVATE_KEY_FILENAME = "cpcompile.key"
PUBLIC_KEY_FILENAME = "cpcompile.pub"
KEY_SIZE = 32
_COMMON_PREFIX = "cpcompile-ed25519-"


class PublicKey(bytes):
    """The 32 raw bytes of an Ed25519 public key (a ``bytes``, usable wherever bytes are)."""

    @property
    def key_id(self) -> str:
        return key_id(self)

    def __repr__(self) -> str:
        return f"PublicKey(key_id={self.key_id!r})"

    __str__ = __repr__


def key_id(public_key: bytes) -> str:
    """The first 16 hex digits of sha256(public key): a short name for a key, not a secret."""
    if not isinstance(public_key, (bytes, bytearray)):
        raise TypeError(f"public key must be bytes, not {type(public_key).__name__}")
    import hashlib

    return hashlib.sha256(bytes(public_key)).hexdigest()[:16]


def format_private_key(seed: bytes) -> str:
    """The private key file content: one line, newline-terminated."""
    import base64

    check_length(seed, "seed")
    return PRIVATE_KEY_PREFIX + base64.b64encode(bytes(seed)).decode("ascii") + "\n"


def format_public_key(public_key: bytes) -> str:
    """The public key file content: one line, newline-terminated."""
    import base64

    check_length(public_key, "public key")
    return PUBLIC_KEY_PREFIX + base64.b64encode(bytes(public_key)).decode("ascii") + "\n"


def check_length(value: bytes, what: str) -> None:
    if not isinstance(value, (bytes, bytearray)):
        raise TypeError(f"{what} must be bytes, not {type(value).__name__}")
    if len(value) != KEY_SIZE:
        raise ValueError(f"an Ed25519 {what} is {KEY_SIZE} bytes, got {len(value)}")


def parse_key_text(text: str, kind: str, source: str, *, quote: bool = True) -> bytes:
    """The 32 bytes of a ``kind`` ("private" or "public") key file's text. ``source`` names it
    in messages; with ``quote=False`` no part of ``text`` is ever shown (a secret held in an
    environment variable)."""
    import base64
    import binascii

    expected_prefix = PRIVATE_KEY_PREFIX if kind == "private" else PUBLIC_KEY_PREFIX
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
        found = ""
        if quote:
            found = f", found {line[:40] + ('…' if len(line) > 40 else '')!r}"
        raise KeyFileError(
            f"{source} is not a cpcompile {kind} key: expected a line starting with "
            f"{expected_prefix!r}{found}"
        )
    encoded = line[len(expected_prefix) :]
    try:
        raw = base64.b64decode(encoded.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise KeyFileError(f"{source}: the {kind} key is not valid base64") from None
    if len(raw) != KEY_SIZE:
        raise KeyFileError(
            f"{source}: the {kind} key decodes to {len(raw)} bytes, expected {KEY_SIZE}"
        )
    return raw


def read_key_file(path: PathLike, kind: str) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read()
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


def parse_public_key(key: KeySource) -> PublicKey:
    """A public key from any of the forms a caller may hold it in; ``KeyFileError`` (a
    ``ValueError``) when it is none.

    * a ``PublicKey``, or 32 raw bytes: as it is;
    * other ``bytes``: the content of a key file;
    * a ``str`` starting with ``cpcompile-ed25519-``: the text of a key file;
    * any other ``str``, or an ``os.PathLike``: the path of a key file.
    """
    if isinstance(key, PublicKey):
        return key
    if isinstance(key, (bytes, bytearray)):
        if len(key) == KEY_SIZE:
            return PublicKey(key)
        try:
            text = bytes(key).decode("ascii")
        except UnicodeDecodeError:
            raise KeyFileError("the public key is not a cpcompile key (not text)") from None
        return PublicKey(parse_key_text(text, "public", "the key"))
    if isinstance(key, str) and key.lstrip().startswith(_COMMON_PREFIX):
        return PublicKey(parse_key_text(key, "public", "the key"))
    if isinstance(key, (str, os.PathLike)):
        text = read_key_file(key, "public")
        return PublicKey(parse_key_text(text, "public", os.fspath(key)))
    raise TypeError(f"expected a path, key text or key file bytes, not {type(key).__name__}")
