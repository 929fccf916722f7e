"""Who the visitor is: ECIDs, the Web SDK's identity cookie, and the request's primary identity.

The Web SDK keeps the visitor's ECID in a first-party cookie ``kndctr_<org>_identity`` that the
server asks it to write (a ``state:store`` handle). Its value is URL-safe base64, unpadded, of a
protobuf message whose field 1 is the ECID string; the SDK decodes it for ``getIdentity``.
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

ECID_NAMESPACE = "ECID"
_ECID = re.compile(r"[0-9]{38}")
# an identity value or namespace from a request: printable, bounded (Adobe's own ids are short)
_IDENTITY_TEXT = re.compile(r"[\x21-\x7e]{1,256}")
_NAMESPACE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_MAX_COOKIE_VALUE = 512


@dataclass(frozen=True, slots=True)
class Identity:
    namespace: str
    id: str


class IdentityError(ValueError):
    """The request names its visitor in a way Adobe refuses (e.g. two primary identities)."""


def mint_ecid() -> str:
    """A new 38-digit ECID (the length of Adobe's)."""
    digits = int.from_bytes(os.urandom(16), "big") % 10**38
    return f"{digits:038d}"


def cookie_prefix(org_id: str) -> str:
    return "kndctr_" + org_id.replace("@", "_") + "_"


def encode_identity_cookie(ecid: str) -> str:
    raw = ecid.encode("ascii")
    message = b"\x0a" + _varint(len(raw)) + raw
    return base64.urlsafe_b64encode(message).rstrip(b"=").decode("ascii")


def decode_identity_cookie(value: str) -> str | None:
    """The ECID in a ``kndctr_<org>_identity`` value, or None when it holds none we trust."""
    if not value or len(value) > _MAX_COOKIE_VALUE:
        return None
    try:
        message = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (ValueError, TypeError):
        return None
    ecid = _first_string_field(message)
    if ecid is None or not _ECID.fullmatch(ecid):
        return None
    return ecid


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


def _first_string_field(message: bytes) -> str | None:
    """Field 1 (length-delimited) of a protobuf message; other fields are skipped."""
    at = 0
    try:
        while at < len(message):
            tag, at = _read_varint(message, at)
            field, wire = tag >> 3, tag & 7
            if wire == 0:
                _, at = _read_varint(message, at)
            elif wire == 2:
                size, at = _read_varint(message, at)
                if at + size > len(message):
                    return None
                chunk = message[at:at + size]
                at += size
                if field == 1:
                    return chunk.decode("ascii")
            elif wire == 1:
                at += 8
            elif wire == 5:
                at += 4
            else:
                return None
    except (ValueError, UnicodeDecodeError):
        return None
    return None


def parse_cookie_header(header: str, wanted: Iterable[str]) -> dict[str, str]:
    """The values of the ``wanted`` cookies in a Cookie header (first one wins)."""
    names = set(wanted)
    found: dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name in names and name not in found:
            found[name] = value.strip().strip('"')
    return found


def state_entries(meta: object, wanted: Iterable[str]) -> dict[str, str]:
    """Cookies the Web SDK copied into ``meta.state.entries`` (cross-site requests)."""
    names = set(wanted)
    found: dict[str, str] = {}
    state = meta.get("state") if isinstance(meta, Mapping) else None
    entries = state.get("entries") if isinstance(state, Mapping) else None
    if not isinstance(entries, list):
        return found
    for entry in entries[:64]:
        if isinstance(entry, Mapping):
            key, value = entry.get("key"), entry.get("value")
            if isinstance(key, str) and isinstance(value, str) and key in names and key not in found:
                found[key] = value
    return found


def primary_identity(identity_maps: Iterable[Any]) -> Identity | None:
    """The one identity marked primary across the request's ``xdm.identityMap``s.

    Adobe's edge segmentation honours only requests with exactly one primary identity: two
    different primaries are refused, none gives None.
    """
    primaries: set[Identity] = set()
    for identity_map in identity_maps:
        if not isinstance(identity_map, Mapping):
            continue
        for namespace, identities in list(identity_map.items())[:32]:
            if not isinstance(identities, list):
                continue
            for item in identities[:32]:
                if isinstance(item, Mapping) and item.get("primary") is True:
                    primaries.add(_identity(namespace, item.get("id"), "xdm.identityMap"))
    if len(primaries) > 1:
        shown = ", ".join(sorted(p.namespace for p in primaries))
        raise IdentityError(
            f"the request marks {len(primaries)} identities as primary ({shown}); "
            "mark exactly one identity in xdm.identityMap as primary"
        )
    return next(iter(primaries), None)


def ecid_in(identity_maps: Iterable[Any]) -> str | None:
    """An ECID the page put in ``xdm.identityMap`` itself."""
    for identity_map in identity_maps:
        if isinstance(identity_map, Mapping):
            items = identity_map.get(ECID_NAMESPACE)
            if isinstance(items, list):
                for item in items[:32]:
                    value = item.get("id") if isinstance(item, Mapping) else None
                    if isinstance(value, str) and _ECID.fullmatch(value):
                        return value
    return None


def _identity(namespace: object, value: object, where: str) -> Identity:
    if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
        raise IdentityError(
            f"an identity namespace ({where}) must be 1 to 64 letters, digits, '_', '.' or '-'"
        )
    if not isinstance(value, str) or not _IDENTITY_TEXT.fullmatch(value):
        raise IdentityError(
            f"the {namespace} identity ({where}) needs an id of 1 to 256 printable ASCII characters"
        )
    return Identity(namespace, value)


def valid_identity(namespace: object, value: object, where: str = "namespace and id") -> Identity:
    """An identity named outside a request body (a URL path, an import line), checked alike."""
    return _identity(namespace, value, where)
