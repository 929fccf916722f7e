"""The artifact file format shared by the compiler, the runtime and ``cpcompile verify``.

Standard library only. See docs/artifact.md. The revision is the sha256 of the canonical JSON
encoding of ``body``; as the artifact file itself is canonical JSON with sorted keys, ``body`` is
its first member and its bytes can be hashed in place, without re-encoding.

Import cost matters: every service replica imports the runtime, which imports this module. So
``json``, ``hashlib`` and ``typing`` (together ~20 ms of import time, mostly ``re`` and
``typing``) are imported inside the functions that need them, on first use.

Reading an artifact is ``read_document(data, encoding=..., public_key=..., signature=...)``:
decode, check the header (format, versions), check the revision, check the signature, in that
order, each failure a distinct ``ArtifactError`` subclass. It does not look inside ``body``; the
reader that builds an index from it checks the body's shape.
"""

from __future__ import annotations

import binascii
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Union

    KeySource = Union[bytes, bytearray, str, "os.PathLike[str]"]

FORMAT = "cpcompile-artifact"
SCHEMA_VERSION = 1
# the newest schema_version this code can read, and the reader version it implements
READER_VERSION = 1
REVISION_PREFIX = "sha256:"
JSON_BODY_PREFIX = b'{"body":'
ENCODINGS = ("json", "msgpack")

SIGNATURE_ALGORITHM = "ed25519"
PUBLIC_KEY_PREFIX = "cpcompile-ed25519-public:"
_PRIVATE_KEY_PREFIX = "cpcompile-ed25519-secret:"
_KEY_TEXT_PREFIX = "cpcompile-ed25519-"
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64

_HEX_DIGITS = frozenset("0123456789abcdef")
_REVISION_LENGTH = len(REVISION_PREFIX) + 64


# --- errors ----------------------------------------------------------------------------------


class ArtifactError(Exception):
    """The artifact cannot be used; the message says why, for a human."""


class ArtifactCorrupt(ArtifactError):
    """Truncated, not JSON / msgpack, or not shaped like a cpcompile artifact of its version."""


class UnknownFormat(ArtifactError):
    """Decodes fine but is not a cpcompile artifact (no or another ``format``)."""


class UnsupportedVersion(ArtifactError):
    """A newer ``schema_version`` or ``min_reader_version`` than this reader supports."""


class RevisionMismatch(ArtifactError):
    """The body does not hash to the recorded revision: edited, damaged or re-formatted."""


class SignatureError(ArtifactError):
    """Base of the signature failures (only raised when a public key is given)."""


class SignatureMissing(SignatureError):
    """A public key was given but there is no signature to check."""


class SignatureInvalid(SignatureError):
    """The signature is malformed, for another revision or key, or does not verify."""


# --- encoding --------------------------------------------------------------------------------


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8, integers only (floats never appear in an artifact)."""
    import json

    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def revision_of_body_bytes(body_bytes: bytes | memoryview) -> str:
    import hashlib

    return REVISION_PREFIX + hashlib.sha256(body_bytes).hexdigest()


def revision_of(body: Any) -> str:
    return revision_of_body_bytes(canonical_json(body))


def make_document(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "body": body,
        "format": FORMAT,
        "min_reader_version": READER_VERSION,
        "revision": revision_of(body),
        "schema_version": SCHEMA_VERSION,
    }


# --- decoding --------------------------------------------------------------------------------


def decode_json(data: bytes) -> Any:
    import json

    try:
        return json.loads(data)
    except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError too
        raise ArtifactCorrupt(f"artifact is truncated or not valid JSON: {e}") from None


def decode_msgpack(data: bytes) -> Any:
    try:
        import msgpack
    except ImportError:
        raise ArtifactError(
            "reading a .msgpack artifact needs the msgpack package; install it or load "
            "artifact.json (the same content)"
        ) from None
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as e:  # msgpack raises ValueError, ExtraData, FormatError, StackError...
        raise ArtifactCorrupt(f"artifact is truncated or not valid msgpack: {e}") from None


def _kind(value: object) -> str:
    return {dict: "object", list: "array", str: "string", int: "integer"}.get(
        type(value), type(value).__name__
    )


def _version_field(doc: dict[str, Any], name: str) -> int:
    value = doc.get(name)
    if type(value) is not int or value < 1:
        raise ArtifactCorrupt(f"artifact {name} must be a positive integer, got {value!r}")
    return value


def check_header(doc: Any) -> str:
    """Check everything but the body and the revision hash; return the recorded revision.

    Versions are checked before the shape of the rest: a newer artifact may be shaped
    differently, and "upgrade the reader" is the useful message then.
    """
    if type(doc) is not dict:
        raise UnknownFormat(f"not a cpcompile artifact: the document is a {_kind(doc)}")
    if "format" not in doc:
        raise UnknownFormat("not a cpcompile artifact: the document has no 'format' field")
    if doc["format"] != FORMAT:
        raise UnknownFormat(
            f"not a cpcompile artifact: format is {doc['format']!r}, expected {FORMAT!r}"
        )
    schema = _version_field(doc, "schema_version")
    if schema > SCHEMA_VERSION:
        raise UnsupportedVersion(
            f"artifact schema_version {schema} is newer than this reader supports "
            f"(up to {SCHEMA_VERSION}); upgrade cpcompile to read it"
        )
    reader = _version_field(doc, "min_reader_version")
    if reader > READER_VERSION:
        raise UnsupportedVersion(
            f"artifact needs reader version {reader} or newer; this reader is version "
            f"{READER_VERSION}; upgrade cpcompile to read it"
        )
    revision: str = doc.get("revision")
    if not _is_revision(revision):
        raise ArtifactCorrupt(
            f"artifact revision must be 'sha256:' and 64 lowercase hex digits, got {revision!r}"
        )
    if type(doc.get("body")) is not dict:
        raise ArtifactCorrupt(f"artifact body must be an object, got {_kind(doc.get('body'))}")
    return revision


def _is_revision(value: object) -> bool:
    return (
        type(value) is str
        and len(value) == _REVISION_LENGTH
        and value.startswith(REVISION_PREFIX)
        and set(value[len(REVISION_PREFIX) :]) <= _HEX_DIGITS
    )


def json_body_bytes(data: bytes, doc: dict[str, Any]) -> memoryview:
    """The bytes of ``body`` inside a canonical ``artifact.json``, without copying them.

    Everything after the body is the canonical encoding of the other members, so the tail is
    rebuilt from the decoded header rather than searched for: a body whose strings contain
    ``,"format":`` cannot confuse it, and a re-formatted file is told apart from a tampered one.
    """
    header = {key: value for key, value in doc.items() if key != "body"}
    tail = b"," + canonical_json(header)[1:]
    body_end = len(data) - len(tail)
    if not (
        data.startswith(JSON_BODY_PREFIX)
        and data.endswith(tail)
        and body_end > len(JSON_BODY_PREFIX)
    ):
        raise RevisionMismatch(
            "artifact.json is not in canonical form (re-formatted or edited?), so its body "
            "cannot be checked against its revision; rebuild it with `cpcompile build`"
        )
    return memoryview(data)[len(JSON_BODY_PREFIX) : body_end]


def check_revision(recorded: str, body_bytes: bytes | memoryview) -> None:
    actual = revision_of_body_bytes(body_bytes)
    if actual != recorded:
        raise RevisionMismatch(
            f"artifact body does not match its revision (edited or damaged): the file says "
            f"{recorded}, the body hashes to {actual}"
        )


# --- signatures ------------------------------------------------------------------------------


def parse_public_key(key: KeySource) -> bytes:
    """32 raw bytes from raw bytes, key-file text (``cpcompile-ed25519-public:<base64>``), or
    the path of a key file. Raises ``ValueError`` for a malformed key, ``OSError`` for an
    unreadable file."""
    if isinstance(key, (bytes, bytearray)):
        if len(key) == PUBLIC_KEY_SIZE:
            return bytes(key)
        return _parse_key_text(bytes(key).decode("utf-8", "replace"), "the public key")
    if isinstance(key, str) and key.lstrip().startswith(_KEY_TEXT_PREFIX):
        return _parse_key_text(key, "the public key")
    if isinstance(key, (str, os.PathLike)):
        with open(key, encoding="utf-8", errors="replace") as f:
            return _parse_key_text(f.read(), f"public key file {os.fspath(key)}")
    raise TypeError(
        f"public_key must be 32 raw bytes, key-file text or a path, got {type(key).__name__}"
    )


def _parse_key_text(text: str, source: str) -> bytes:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if any(line.startswith(_PRIVATE_KEY_PREFIX) for line in lines):
        raise ValueError(
            f"{source} is a private key: verifying needs the public key "
            f"(the line starting with {PUBLIC_KEY_PREFIX!r}); keep the private key off servers"
        )
    if len(lines) != 1 or not lines[0].startswith(PUBLIC_KEY_PREFIX):
        raise ValueError(
            f"{source} is not a cpcompile public key: expected one line "
            f"'{PUBLIC_KEY_PREFIX}<base64 of {PUBLIC_KEY_SIZE} bytes>'"
        )
    raw = _b64decode(lines[0][len(PUBLIC_KEY_PREFIX) :])
    if raw is None or len(raw) != PUBLIC_KEY_SIZE:
        raise ValueError(f"{source} is malformed: the key is not base64 of {PUBLIC_KEY_SIZE} bytes")
    return raw


def _b64decode(text: str) -> bytes | None:
    try:
        return binascii.a2b_base64(text.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError):
        return None


def key_id(public_key: bytes) -> str:
    """The first 16 hex digits of sha256(public key), as signature files record it."""
    import hashlib

    return hashlib.sha256(public_key).hexdigest()[:16]


def check_signature(revision: str, signature: bytes | None, public_key: bytes) -> None:
    """Check a detached signature file's content (``artifact.sig``) against ``revision``."""
    if signature is None:
        raise SignatureMissing(
            "the artifact is not signed (no signature given) but a public key was, so it must be"
        )
    doc = _signature_document(signature)
    if doc["algorithm"] != SIGNATURE_ALGORITHM:
        raise SignatureInvalid(
            f"the signature uses algorithm {doc['algorithm']!r}; only "
            f"{SIGNATURE_ALGORITHM!r} is supported"
        )
    if doc["revision"] != revision:
        raise SignatureInvalid(
            f"the signature is for revision {doc['revision']}, but the artifact's revision is "
            f"{revision} (a signature file from another build?)"
        )
    given = key_id(public_key)
    if "key_id" in doc and doc["key_id"] != given:
        raise SignatureInvalid(f"signed with key {doc['key_id']}, but the given key is {given}")
    raw = _b64decode(doc["signature"])
    if raw is None or len(raw) != SIGNATURE_SIZE:
        raise SignatureInvalid(
            f"the signature file is malformed: 'signature' is not base64 of {SIGNATURE_SIZE} bytes"
        )
    from cpcompile import _ed25519  # only signed deployments pay for importing it

    if not _ed25519.verify(public_key, revision.encode("utf-8"), raw):
        raise SignatureInvalid(
            f"the signature of revision {revision} does not verify with key {given}: the "
            "signature or the artifact was altered, or it was signed with another key"
        )


def _signature_document(signature: bytes) -> dict[str, str]:
    import json

    try:
        doc = json.loads(signature)
    except (ValueError, RecursionError, TypeError):
        doc = None
    if type(doc) is not dict:
        raise SignatureInvalid(
            "the signature file is not a cpcompile signature (not a JSON object)"
        )
    for field in ("algorithm", "revision", "signature"):
        if type(doc.get(field)) is not str:
            raise SignatureInvalid(
                f"the signature file is malformed: {field!r} is missing or not a string"
            )
    return doc


# --- all of it -------------------------------------------------------------------------------


def read_document(
    data: bytes,
    *,
    encoding: str = "json",
    public_key: bytes | None = None,
    signature: bytes | None = None,
) -> dict[str, Any]:
    """Decode and verify an artifact; return the document (``body`` not yet shape-checked).

    ``public_key`` is 32 raw bytes (see ``parse_public_key``); when given, ``signature`` (the
    content of ``artifact.sig``) must be present and valid. Without a key the signature is not
    looked at.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"artifact data must be bytes, got {type(data).__name__}")
    if encoding == "json":
        doc = decode_json(data)
        revision = check_header(doc)
        check_revision(revision, json_body_bytes(data, doc))
    elif encoding == "msgpack":
        doc = decode_msgpack(data)
        revision = check_header(doc)
        check_revision(revision, _reencode_body(doc["body"]))
    else:
        raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}, got {encoding!r}")
    if public_key is not None:
        check_signature(revision, signature, public_key)
    result: dict[str, Any] = doc
    return result


def _reencode_body(body: Any) -> bytes:
    try:
        return canonical_json(body)
    except (TypeError, ValueError) as e:  # bytes, NaN, non-str keys: not artifact content
        raise ArtifactCorrupt(f"artifact body holds a value JSON cannot represent: {e}") from None
