"""Verify a canonical ``artifact.json`` completely without decoding its audiences.

Nearly all of an artifact's bytes are the datastreams' ``audiences`` objects, and decoding them
is what a load cannot otherwise avoid: it alone costs as much as ``json.loads`` of the file.
Their canonical form is rigid, so a regular expression proves each one canonical *and* of the
right shape on the bytes: an object of non-empty audience IDs, each ``{"mappings": [...],
"namespace": "..."}`` with at least one mapping ``{"destination": d}`` and optional integer
``end`` and ``start``, strings without escapes or control characters (their canonical form is
themselves), integers as ``str(int)`` writes them, keys in sorted order, no whitespace. What it
cannot see is checked on the matched bytes: audience IDs in increasing order, none twice (UTF-8
orders bytes as code points, which is how the encoder sorts keys), and every ``destination``
below the number of the datastream's destinations. Integers are bounded (nine digits for a
destination, eighteen for a time), so decoding one later cannot fail.

The rest of the file, the *skeleton*, the file with every ``"audiences":{...}`` replaced by
``"audiences":{}``, is small: it is decoded and must equal its canonical encoding, and the body's
bytes are hashed for the revision, the signature checked, and the skeleton's shape checked by
``build_index``. So ``verify_lazily`` returns only when the whole file is proven to be what
``read_document`` and ``build_index`` would accept, and the audiences, already proven, are decoded
per datastream on the first lookup that needs them (``Artifact``). Anything it cannot prove
(escapes, an audience without mappings, unknown keys, a problem of any kind) returns None, and
the caller reads the file the general way, which names the problem if there is one.

Why the spans are the datastreams' audiences: every text ``"audiences":{...}`` that the
expression matches is replaced; the skeleton must be canonical and each of its datastreams
must have ``"audiences": {}``, and there must be exactly as many spans as datastreams. Outside a
string (and a canonical string cannot hold an unescaped ``"``), ``"audiences":{}`` in the
skeleton is a key and its value; the datastreams' account for one each, so there is no other,
and the spans are the datastreams' in order.
"""

from __future__ import annotations

from cpcompile.artifact_format.document import (
    audiences_regex,
    canonical_json,
    check_header,
    decode_json,
    json_body_bytes,
    revision_of_body_bytes,
    with_empty_audiences,
)
from cpcompile.artifact_format.errors import ArtifactError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Tuple

    # datastream ID -> (file, start, end) of its audiences object in the file
    Spans = Dict[str, Tuple[bytes, int, int]]

_KEY_LENGTH = len(b'"audiences":')
_patterns: dict[str, Any] = {}
_at_least_patterns: dict[int, Any] = {}


def _compiled() -> tuple[Any, Any, Any]:
    """(the audiences objects, the first audience ID in one, the others), compiled on first
    use."""
    if not _patterns:
        import re

        _patterns["audiences"] = audiences_regex()
        # within a matched object, an audience ID is the first string, or follows `},`
        # (the end of the audience before it): mappings end with `}` and are followed by
        # `,{` or `]`
        _patterns["first"] = re.compile(rb'"audiences":\{"([^"]++)"')
        _patterns["ids"] = re.compile(rb'\},"([^"]++)":\{"m')
    return _patterns["audiences"], _patterns["first"], _patterns["ids"]


def _at_least(count: int) -> Any:
    """A pattern for a ``"destination":`` of ``count`` or more (canonical integers)."""
    pattern = _at_least_patterns.get(count)
    if pattern is None:
        import re

        digits = str(count)
        # more digits than count, or as many and not smaller
        choices = [b"[1-9][0-9]{%d,}" % len(digits), digits.encode()]
        for i, digit in enumerate(digits):
            if digit != "9":
                rest = len(digits) - i - 1
                choices.append(b"%s[%d-9][0-9]{%d}" % (digits[:i].encode(), int(digit) + 1, rest))
        if count == 0:
            choices = [b"[0-9]++"]
        pattern = re.compile(rb'"destination":(?:' + b"|".join(choices) + rb")(?![0-9])")
        _at_least_patterns[count] = pattern
    return pattern


def verify_lazily(
    data: bytes, public_key: bytes | None, signature: bytes | None
) -> tuple[dict[str, Any], Spans] | None:
    """``(document whose datastreams have empty audiences, where each datastream's audiences
    are in data)`` once everything is proven, or None: read the file the general way."""
    if not data.isascii():
        try:
            data.decode("utf-8")  # strict: no encoded surrogates, no overlong forms
        except UnicodeDecodeError:
            return None
    audiences_pattern, first_pattern, ids_pattern = _compiled()
    spans = [match.span() for match in audiences_pattern.finditer(data)]
    skeleton = with_empty_audiences(data, spans)
    try:
        document = decode_json(skeleton)
        check_header(document)
        if canonical_json(document) != skeleton:
            return None
    except (ArtifactError, ValueError, TypeError, RecursionError):
        return None
    datastreams = document["body"].get("datastreams")
    if type(datastreams) is not dict or len(datastreams) != len(spans):
        return None
    located: Spans = {}
    for (start, end), (datastream_id, entry) in zip(spans, datastreams.items()):
        if type(entry) is not dict or entry.get("audiences") != {} or type(entry["audiences"]) is not dict:
            return None
        destinations = entry.get("destinations")
        if type(destinations) is not list:
            return None  # build_index names it
        first = first_pattern.match(data, start, end)
        ids = [first[1]] if first else []
        ids += ids_pattern.findall(data, start, end)
        if not all(map(bytes.__lt__, ids, ids[1:])):
            return None  # out of order, or one ID twice
        if _at_least(len(destinations)).search(data, start, end):
            return None
        located[datastream_id] = (data, start + _KEY_LENGTH, end)
    # the revision, over the body's bytes in the file itself
    try:
        body = json_body_bytes(data, document)
    except ArtifactError:
        return None
    if revision_of_body_bytes(body) != document["revision"]:
        return None
    if public_key is not None:
        from cpcompile.artifact_format.signature import check_signature

        check_signature(document["revision"], signature, public_key)
    return document, located
