"""The artifact document: its header, canonical encoding, revision, and reading it back.

Standard library only. See docs/artifact.md and README.md beside this file. The revision is the sha256 of the canonical JSON
encoding of ``body``; as the artifact file itself is canonical JSON with sorted keys, ``body`` is
its first member and its bytes can be hashed in place, without re-encoding.

Import cost matters: every service replica imports the runtime, which imports this module. So
``json``, ``hashlib`` and ``typing`` (together ~20 ms of import time, mostly ``re`` and
``typing``) are imported inside the functions that need them, on first use.

Reading an artifact is ``read_document(data, encoding=..., public_key=..., signature=...)``:
decode, check the header (format, versions), check that the file is the canonical encoding of
what it decodes to, check the revision, check the signature, in that order, each failure a
distinct ``ArtifactError`` subclass (errors.py). It does not look inside ``body``; the reader
that builds an index from it checks the body's shape (body.py declares it).
"""

from __future__ import annotations

from cpcompile.artifact_format.errors import (
    ArtifactCorrupt,
    ArtifactError,
    RevisionMismatch,
    UnknownFormat,
    UnsupportedVersion,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FORMAT = "cpcompile-artifact"
# the schema_version the compiler writes and the newest this code can read; version 2 added
# each datastream's `access`, which a version 1 reader would ignore and so fail open
SCHEMA_VERSION = 2
# the reader version this code implements, and the min_reader_version the compiler writes
READER_VERSION = 2
REVISION_PREFIX = "sha256:"
JSON_BODY_PREFIX = b'{"body":'
ENCODINGS = ("json", "msgpack")

_HEX_DIGITS = frozenset("0123456789abcdef")
_REVISION_LENGTH = len(REVISION_PREFIX) + 64


# --- encoding --------------------------------------------------------------------------------


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8, integers only (floats never appear in an artifact).

    Raises ``ValueError`` for NaN and infinities, ``UnicodeEncodeError`` (a ``ValueError``) for
    a lone surrogate, ``TypeError`` for what JSON has no type for, ``RecursionError`` for
    nesting deeper than the interpreter allows.
    """
    import json

    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        check_circular=False,  # decoded JSON and compiled bodies have no cycles; saves ~12 %
    ).encode("utf-8")


def revision_of_body_bytes(body_bytes: bytes | memoryview) -> str:
    import hashlib

    return REVISION_PREFIX + hashlib.sha256(body_bytes).hexdigest()


def revision_of(body: Any) -> str:
    return revision_of_body_bytes(canonical_json(body))


def make_document(body: dict[str, Any]) -> dict[str, Any]:
    return encode_document(body)[0]


def document_header(revision: str) -> dict[str, Any]:
    """Every member of the document but ``body``, in sorted key order."""
    return {"format": FORMAT, "min_reader_version": READER_VERSION, "revision": revision, "schema_version": SCHEMA_VERSION}


def encode_document(body: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """The document and its canonical JSON, encoding the (large) body only once: with sorted
    keys the body comes first, so the file is ``{"body":`` + body + the rest of the header."""
    body_bytes = canonical_json(body)
    header = document_header(revision_of_body_bytes(body_bytes))
    # one join: concatenating one piece after another copied the (large) body each time
    data = b"".join((JSON_BODY_PREFIX, body_bytes, b",", canonical_json(header)[1:]))
    return {"body": body, **header}, data


# --- decoding --------------------------------------------------------------------------------


def decode_json(data: bytes) -> Any:
    import json

    try:
        return json.loads(data, parse_constant=_not_json, parse_float=_finite_float)
    except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError too
        raise ArtifactCorrupt(f"artifact is truncated or not valid JSON: {e}") from None


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if value - value != 0.0:  # inf - inf is NaN; only finite numbers give 0.0
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def decode_msgpack(data: bytes) -> Any:
    msgpack = _msgpack()
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as e:  # msgpack raises ValueError, ExtraData, FormatError, StackError...
        raise ArtifactCorrupt(f"artifact is truncated or not valid msgpack: {e}") from None


def _msgpack() -> Any:
    try:
        import msgpack
    except ImportError:
        raise ArtifactError(
            "reading a .msgpack artifact needs the msgpack package; install it or load "
            "artifact.json (the same content)"
        ) from None
    return msgpack


# --- canonical form --------------------------------------------------------------------------
# The revision identifies the content, so one content must have one encoding: otherwise the
# same body could be shipped under many revisions, and, worse, a file with a key given twice
# reads as one thing to a human (or another JSON parser, many keep the first) and as another
# to this reader (which keeps the last). So the whole file must equal the canonical encoding
# of what it decodes to. Re-encoding is the check: it is as cheap as any scan in Python could
# be, and it catches every deviation (whitespace, key order, duplicate keys, escapes, number
# forms) at once; only when it fails is the file decoded again to name a duplicate key.


def canonical_document(doc: dict[str, Any]) -> bytes:
    """The canonical JSON of a decoded document, or ``ArtifactCorrupt`` saying why it has none."""
    try:
        return canonical_json(doc)
    except RecursionError:
        raise ArtifactCorrupt("artifact is nested too deeply to be an artifact") from None
    except UnicodeEncodeError:
        raise ArtifactCorrupt(
            "artifact holds a string that is not valid Unicode (a lone surrogate such as "
            "\\ud800), which UTF-8 cannot encode"
        ) from None
    except (TypeError, ValueError) as e:  # bytes, NaN, non-str keys: not artifact content
        raise ArtifactCorrupt(f"artifact holds a value JSON cannot represent: {e}") from None


# Re-encoding the whole document costs as much as decoding it. Nearly all of an artifact's bytes
# are the datastreams' `audiences` objects, whose canonical form is rigid: so those are checked
# by a regular expression over the bytes (3 x faster than encoding), the order and uniqueness of
# their keys on the decoded dicts, and only the rest (the "skeleton") is re-encoded. Anything
# the fast path cannot prove canonical (escapes, unknown keys, another shape) gets the full
# check, which also names the problem.

_AUDIENCES_PLACEHOLDER = b'"audiences":{}'
_AUDIENCE_ENTRY_START = b'{"mappings":['
_audiences_pattern: Any = None


def with_empty_audiences(data: bytes, spans: list[tuple[int, int]]) -> bytes:
    """``data`` with each ``"audiences":{...}`` at ``spans`` (in order) written as ``"audiences":{}``."""
    parts = []
    position = 0
    for start, end in spans:
        parts.append(data[position:start])
        parts.append(_AUDIENCES_PLACEHOLDER)
        position = end
    parts.append(data[position:])
    return b"".join(parts)


def audiences_regex() -> Any:
    """``"audiences":{...}`` in canonical form and of the body's shape: non-empty strings
    without escapes, quotes or control characters (their canonical form is themselves),
    integers as ``str(int)`` writes them (a destination of up to nine digits, a time of up to
    eighteen, so that decoding one cannot fail), each audience with at least one mapping, each
    audience's and each mapping's keys in sorted order, no whitespace. Compiled on first use;
    ``canonical_by_parts`` and the runtime's proof of a file (``runtime/_lazy.py``) use it."""
    global _audiences_pattern
    if _audiences_pattern is None:
        import re

        # possessive repeats (`*+`, `?+`): nothing here is worth backtracking into, and not
        # keeping the positions to go back to makes the pass about a third faster
        string = rb'"[^"\\\x00-\x1f]++"'
        time = rb"(?:0|-?[1-9][0-9]{0,17}+)"
        mapping = (
            rb'\{"destination":(?:0|[1-9][0-9]{0,8}+)'
            + rb'(?:,"end":' + time + rb')?+(?:,"start":' + time + rb")?+\}"
        )
        entry = (
            string + rb':\{"mappings":\[' + mapping + rb"(?:," + mapping + rb')*+\],"namespace":'
            + string + rb"\}"
        )
        _audiences_pattern = re.compile(rb'"audiences":\{(?:' + entry + rb"(?:," + entry + rb")*+)?+\}")
    return _audiences_pattern


def canonical_by_parts(data: bytes, doc: dict[str, Any]) -> bool:
    """True when ``data`` is proven to be the canonical JSON of ``doc`` (what it decoded to)
    without encoding the audiences again; False means "not proven": do the full check.

    Why it is sound: every ``"audiences":{...}`` the expression finds is replaced by
    ``"audiences":{}``, and the result must equal the canonical encoding of the document with
    every datastream's audiences emptied. Any other text ``"audiences":{}`` would itself have
    been found, so the spans are exactly the datastreams' audiences, in order. Each span is
    canonical token by token (the expression), and its entries are in sorted order with no key
    twice: the decoded dict keeps first occurrences in file order, so its keys must be sorted and
    as many as the span's entries (each entry has exactly one ``{"mappings":[``, which no
    string in a span can contain). The bytes must be strict UTF-8 (the decoder lets encoded
    surrogates through, which have no canonical encoding).
    """
    body = doc.get("body")
    if type(body) is not dict:
        return False
    datastreams = body.get("datastreams")
    if type(datastreams) is not dict:
        return False
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return False
    spans = [match.span() for match in audiences_regex().finditer(data)]
    if len(spans) != len(datastreams):
        return False
    skeleton = {}
    for datastream_id, entry in datastreams.items():
        if type(entry) is not dict or type(entry.get("audiences")) is not dict:
            return False
        skeleton[datastream_id] = {**entry, "audiences": {}}
    try:
        expected = canonical_json({**doc, "body": {**body, "datastreams": skeleton}})
    except (ValueError, TypeError, RecursionError):
        return False
    if with_empty_audiences(data, spans) != expected:
        return False
    for (start, end), entry in zip(spans, datastreams.values()):
        audiences = entry["audiences"]
        if data.count(_AUDIENCE_ENTRY_START, start, end) != len(audiences):
            return False  # a key given twice
        ids = list(audiences)
        if ids != sorted(ids):
            return False
    return True


def check_canonical_json(data: bytes, canonical: bytes) -> None:
    if data != canonical:
        raise ArtifactCorrupt(_not_canonical("artifact.json", data, canonical, _json_pairs))


def check_canonical_msgpack(data: bytes, doc: dict[str, Any], canonical: bytes) -> None:
    """``data`` is the canonical packing: minimal encodings, maps in sorted key order."""
    import json

    msgpack = _msgpack()
    try:
        packed = msgpack.packb(doc, use_bin_type=True)
        # packing reproduces the file's key order; JSON without sorting shows that order
        in_order = json.dumps(
            doc, separators=(",", ":"), ensure_ascii=False, check_circular=False
        ).encode("utf-8") == canonical
    except (ValueError, TypeError, OverflowError, RecursionError):
        packed, in_order = b"", False
    if packed != data or not in_order:
        raise ArtifactCorrupt(
            _not_canonical("artifact.msgpack", data, packed if in_order else b"", _msgpack_pairs)
        )


def _not_canonical(name: str, data: bytes, canonical: bytes, decode_pairs: Any) -> str:
    duplicate = decode_pairs(data)
    if duplicate is not None:
        key = repr(duplicate)  # escapes line breaks, control characters, lone surrogates
        if len(key) > 80:
            key = key[:77] + "..."
        return (
            f"{name} is not canonical: duplicate key {key} in an object (readers "
            "disagree on which value counts); rebuild it with `cpcompile build`"
        )
    where = ""
    if canonical:
        where = f" from byte {_first_difference(data, canonical)}"
    return (
        f"{name} is not canonical (re-formatted, keys out of order, or edited?){where}; "
        "rebuild it with `cpcompile build`"
    )


def _first_difference(a: bytes, b: bytes) -> int:
    low, high = 0, min(len(a), len(b))  # a[:low] == b[:low]; the difference is before `high`
    if a[:high] == b[:high]:
        return high
    while high - low > 1:
        middle = (low + high) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle
    return low


class _DuplicateKey(Exception):
    pass


def _unique_pairs(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return result


def _json_pairs(data: bytes) -> Any:
    """The first duplicate key in ``data`` (JSON), or None."""
    import json

    try:
        json.loads(data, object_pairs_hook=_unique_pairs)
    except _DuplicateKey as e:
        return e.args[0]
    except (ValueError, RecursionError):  # pragma: no cover - it decoded before
        pass
    return None


def _msgpack_pairs(data: bytes) -> Any:
    try:
        _msgpack().unpackb(data, raw=False, strict_map_key=True, object_pairs_hook=_unique_pairs)
    except _DuplicateKey as e:
        return e.args[0]
    except Exception:  # pragma: no cover - it decoded before
        pass
    return None


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
    revision: Any = doc.get("revision")
    if not _is_revision(revision):
        raise ArtifactCorrupt(
            f"artifact revision must be 'sha256:' and 64 lowercase hex digits, got {revision!r}"
        )
    if type(doc.get("body")) is not dict:
        raise ArtifactCorrupt(f"artifact body must be an object, got {_kind(doc.get('body'))}")
    checked: str = revision
    return checked


def _is_revision(value: object) -> bool:
    return (
        type(value) is str
        and len(value) == _REVISION_LENGTH
        and value.startswith(REVISION_PREFIX)
        and set(value[len(REVISION_PREFIX) :]) <= _HEX_DIGITS
    )


def json_body_bytes(data: bytes, doc: dict[str, Any]) -> memoryview:
    """The bytes of ``body`` inside a canonical ``artifact.json`` (or its canonical
    re-encoding), without copying them.

    Everything after the body is the canonical encoding of the other members, so the tail is
    rebuilt from the decoded header rather than searched for: a body whose strings contain
    ``,"format":`` cannot confuse it.
    """
    header = {key: value for key, value in doc.items() if key != "body"}
    tail = b"," + canonical_json(header)[1:] if header else b"}"
    body_end = len(data) - len(tail)
    if not (
        data.startswith(JSON_BODY_PREFIX)
        and data.endswith(tail)
        and body_end > len(JSON_BODY_PREFIX)
    ):
        raise ArtifactCorrupt(
            "artifact.json must begin with its body ({\"body\": ...), as every header key "
            "sorts after 'body'; a key before it is not part of the format"
        )
    return memoryview(data)[len(JSON_BODY_PREFIX) : body_end]


def check_revision(recorded: str, body_bytes: bytes | memoryview) -> None:
    actual = revision_of_body_bytes(body_bytes)
    if actual != recorded:
        raise RevisionMismatch(
            f"artifact body does not match its revision (edited or damaged): the file says "
            f"{recorded}, the body hashes to {actual}"
        )


# --- all of it -------------------------------------------------------------------------------


def read_document(
    data: bytes,
    *,
    encoding: str = "json",
    public_key: bytes | None = None,
    signature: bytes | None = None,
) -> dict[str, Any]:
    """Decode and verify an artifact; return the document (``body`` not yet shape-checked).

    ``public_key`` is 32 raw bytes (see ``keys.parse_public_key``); when given, ``signature`` (the
    content of ``artifact.sig``) must be present and valid. Without a key the signature is not
    looked at.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"artifact data must be bytes, got {type(data).__name__}")
    if encoding == "json":
        doc = decode_json(data)
        revision = check_header(doc)
        if not canonical_by_parts(data, doc):
            check_canonical_json(data, canonical_document(doc))
        check_revision(revision, json_body_bytes(data, doc))
    elif encoding == "msgpack":
        doc = decode_msgpack(data)
        revision = check_header(doc)
        canonical = canonical_document(doc)
        check_canonical_msgpack(data, doc, canonical)
        check_revision(revision, json_body_bytes(canonical, doc))
    else:
        raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}, got {encoding!r}")
    if public_key is not None:
        from cpcompile.artifact_format.signature import check_signature

        check_signature(revision, signature, public_key)
    result: dict[str, Any] = doc
    return result
