"""The private side of signing: private keys, key pairs, signatures. The compiler's only.

Signing and key generation use ``cryptography`` (constant-time in the secret); the bundled
``ed25519`` module is for verifying, where nothing is secret. Ed25519 is deterministic, so a
signature made here is byte for byte the one any correct implementation makes with the key.
The runtime never imports this module.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Mapping, Union

from cpcompile.atomic import write_atomic
from cpcompile.artifact_format.errors import KeyFileError
from cpcompile.artifact_format.keys import (
    KEY_SIZE,
    PublicKey,
    format_private_key,
    format_public_key,
    key_id,
    parse_key_text,
    read_key_file,
)
from cpcompile.artifact_format.signature import signature_fields

PathLike = Union[str, "os.PathLike[str]"]

# `cpcompile build` signs with the key text this variable holds when no --sign-key is given
SIGN_KEY_VARIABLE = "CPCOMPILE_SIGN_KEY"
# `--sign-key env:NAME` reads the key text from the environment variable NAME
ENV_PREFIX = "env:"


class PrivateKey(bytes):
    """The 32-byte Ed25519 seed (a ``bytes``); its repr never shows the secret."""

    @property
    def public_key(self) -> PublicKey:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return PublicKey(Ed25519PrivateKey.from_private_bytes(bytes(self)).public_key().public_bytes_raw())

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def __repr__(self) -> str:
        return f"PrivateKey(key_id={self.key_id!r})"

    __str__ = __repr__


def parse_private_key(text: str, *, source: str = "the key", quote: bool = True) -> PrivateKey:
    """Parse the content of a private key file; ``source`` names it in error messages, which
    quote none of ``text`` when ``quote`` is false."""
    return PrivateKey(parse_key_text(text, "private", source, quote=quote))


def load_private_key(path: PathLike) -> PrivateKey:
    """Read a private key file (``cpcompile.key``)."""
    return parse_private_key(read_key_file(path, "private"), source=os.fspath(path))


def private_key_from_env(name: str, environ: Mapping[str, str]) -> PrivateKey:
    """The private key whose file text the environment variable ``name`` holds, so that a CI
    secret never touches the disk. ``KeyFileError`` when it is unset, empty or not a key; the
    message never shows the variable's value."""
    text = environ.get(name)
    source = f"environment variable {name}"
    if text is None:
        raise KeyFileError(f"{source} is not set")
    if not text.strip():
        raise KeyFileError(f"{source} is empty")
    return parse_private_key(text, source=source, quote=False)


def signature_document(revision: str, key: bytes) -> dict[str, str]:
    """The detached signature of ``revision`` (the artifact's ``sha256:…`` string) by ``key``
    (the 32-byte seed), as ``signature.encode_signature`` writes it."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if not isinstance(revision, str):
        raise TypeError(f"revision must be a str, not {type(revision).__name__}")
    secret = Ed25519PrivateKey.from_private_bytes(bytes(key))
    public = secret.public_key().public_bytes_raw()
    return signature_fields(revision, public, secret.sign(revision.encode("utf-8")))


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
    write_atomic(path, content.encode("ascii"), mode=mode)


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
    seed = PrivateKey(secrets.token_bytes(KEY_SIZE))
    public = seed.public_key
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


def signing_key(option: str | None, environ: Mapping[str, str]) -> PrivateKey | None:
    """The key ``cpcompile build`` signs with: ``--sign-key FILE``; ``--sign-key env:NAME``,
    the key text held by the environment variable NAME; without the option, the key text in
    ``CPCOMPILE_SIGN_KEY`` when it is set and not empty (CI systems give builds that may not
    see a secret, such as pull requests from forks, an empty value); else None, no signature.
    ``KeyFileError`` for a key that cannot be used; no message shows a variable's value."""
    if option is None:
        if not environ.get(SIGN_KEY_VARIABLE, "").strip():
            return None
        return private_key_from_env(SIGN_KEY_VARIABLE, environ)
    if option.startswith(ENV_PREFIX):
        name = option[len(ENV_PREFIX) :]
        if not name:
            raise KeyFileError(f"{ENV_PREFIX} needs the name of an environment variable ({ENV_PREFIX}NAME)")
        return private_key_from_env(name, environ)
    return load_private_key(option)
