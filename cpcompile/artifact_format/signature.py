"""Detached artifact signatures: their file, and checking one (standard library only).

See docs/signing.md. What is signed is the artifact's ``revision`` string (``sha256:`` + hex of
the canonical body), so one signature covers ``artifact.json`` and ``artifact.msgpack`` alike.
A signature file is canonical JSON::

    {"algorithm":"ed25519","key_id":"…","revision":"sha256:…","signature":"<base64, 64 bytes>"}

Making one needs the private key: that is ``signer.signature_document``.
"""

from __future__ import annotations

import base64
import binascii
import json

from cpcompile.artifact_format import ed25519
from cpcompile.artifact_format.errors import (
    BadSignature,
    KeyMismatch,
    MalformedSignature,
    SignatureForOtherRevision,
    SignatureMissing,
    UnsupportedAlgorithm,
)
from cpcompile.artifact_format.keys import ALGORITHM, check_length, key_id

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SIGNATURE_FILENAME = "artifact.sig"
FIELDS = ("algorithm", "key_id", "revision", "signature")


def signature_fields(revision: str, public_key: bytes, signature: bytes) -> dict[str, str]:
    """The content of a signature file: ``signature`` (64 bytes) of ``revision`` by the
    holder of ``public_key``."""
    return {
        "algorithm": ALGORITHM,
        "key_id": key_id(public_key),
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


def check_signature(revision: str, signature: bytes | None, public_key: bytes) -> None:
    """Return if ``signature`` (the content of ``artifact.sig``) is a valid signature of
    ``revision`` by ``public_key`` (32 raw bytes, see ``keys.parse_public_key``).

    Raises ``SignatureMissing`` when there is none, a ``SignatureInvalid`` subclass saying what
    is wrong otherwise.
    """
    if signature is None:
        raise SignatureMissing(
            "the artifact is not signed (no signature given) but a public key was, so it must be"
        )
    if not isinstance(signature, (bytes, bytearray)):
        raise TypeError(f"signature must be bytes, not {type(signature).__name__}")
    if not isinstance(revision, str):
        raise TypeError(f"revision must be a str, not {type(revision).__name__}")
    check_length(public_key, "public key")
    doc = _decode(bytes(signature))
    if doc["algorithm"] != ALGORITHM:
        raise UnsupportedAlgorithm(
            f"the signature uses algorithm {doc['algorithm']!r}; only {ALGORITHM!r} is supported"
        )
    if doc["revision"] != revision:
        raise SignatureForOtherRevision(
            f"the signature is for revision {_printable(doc['revision'])}, but the artifact's "
            f"revision is {revision} (a signature file from another build?)"
        )
    given_id = key_id(public_key)
    if doc["key_id"] != given_id:
        raise KeyMismatch(f"signed with key {_printable(doc['key_id'])}, you gave key {given_id}")
    try:
        raw = base64.b64decode(doc["signature"].encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise MalformedSignature(
            "the signature file is malformed: 'signature' is not valid base64"
        ) from None
    if len(raw) != ed25519.SIGNATURE_SIZE:
        raise MalformedSignature(
            f"the signature file is malformed: 'signature' decodes to {len(raw)} bytes, "
            f"expected {ed25519.SIGNATURE_SIZE}"
        )
    if not ed25519.verify(bytes(public_key), revision.encode("utf-8"), raw):
        raise BadSignature(
            f"the signature of revision {revision} by key {given_id} does not verify: "
            "the signature file was altered or not made with this key"
        )


def _decode(signature: bytes) -> dict[str, str]:
    try:
        doc = json.loads(signature.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise MalformedSignature(
            "the signature file is not a cpcompile signature (not JSON)"
        ) from None
    except RecursionError:  # nested deeper than the interpreter's limit
        raise MalformedSignature(
            "the signature file is not a cpcompile signature (nested too deeply)"
        ) from None
    if not isinstance(doc, dict):
        raise MalformedSignature(
            "the signature file is not a cpcompile signature (not a JSON object)"
        )
    missing = [k for k in FIELDS if k not in doc]
    if missing:
        raise MalformedSignature(
            f"the signature file is not a cpcompile signature (missing {', '.join(missing)})"
        )
    for field in FIELDS:
        if not isinstance(doc[field], str):
            raise MalformedSignature(
                f"the signature file is malformed: {field!r} is not a string"
            )
    return doc
