"""The Edge Network response envelope around a lookup payload."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def edge_response(
    payload: list[dict[str, Any]], *, request_id: str | None = None
) -> dict[str, Any]:
    """``{"requestId", "handle": [{"type": "activation:pull", "eventIndex": 0, "payload"}]}``.

    The Web SDK flattens the payloads of all ``activation:pull`` handles into
    ``results.destinations``; a request ID is made up (a random UUID) when none is given.
    """
    if not isinstance(payload, list):
        raise TypeError(
            f"payload must be a list (what lookup returns), got {type(payload).__name__}"
        )
    request_id = _request_id(request_id)
    return {
        "requestId": request_id,
        "handle": [{"type": "activation:pull", "eventIndex": 0, "payload": payload}],
    }


def edge_response_bytes(payload: bytes, *, request_id: str | None = None) -> bytes:
    """``edge_response`` for a payload that ``Artifact.lookup_bytes`` encoded: the same
    envelope as UTF-8 JSON, with the payload's bytes spliced in as they are."""
    if not isinstance(payload, (bytes, bytearray)):
        raise TypeError(
            f"payload must be bytes (what lookup_bytes returns), got {type(payload).__name__}"
        )
    request_id = _request_id(request_id)
    from json.encoder import encode_basestring as quote  # json.dumps's, ensure_ascii=False

    try:
        request_id_json = quote(request_id).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: escaped, as json.dumps does by default
        from json.encoder import encode_basestring_ascii

        request_id_json = encode_basestring_ascii(request_id).encode("ascii")
    return (
        b'{"requestId":' + request_id_json
        + b',"handle":[{"type":"activation:pull","eventIndex":0,"payload":'
        + bytes(payload) + b"}]}"
    )


def _request_id(request_id: object) -> str:
    """The given request ID, or a new one when none is given."""
    if request_id is None:
        return random_uuid()
    if not isinstance(request_id, str):
        raise TypeError(f"request_id must be a str, got {type(request_id).__name__}")
    return request_id


def random_uuid() -> str:
    """A version 4 UUID; built here because ``import uuid`` costs ~10 ms on every replica."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
