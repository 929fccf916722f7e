"""The Edge Network's request and response shapes, as the Web SDK and the Server API use them.

Pure functions: bytes and query parameters in, plain data out. See docs/serve.md for what each
route reads and answers, and ../web-sdk notes in docs for the client's expectations.
"""

from __future__ import annotations

import orjson
from dataclasses import dataclass, field
from typing import Any, Mapping

from .identity import Identity, IdentityError, cookie_prefix, encode_identity_cookie, primary_identity

MAX_EVENTS = 64
IDENTITY_MAX_AGE = 34_128_000  # 395 days, as Adobe sets it
CLUSTER_MAX_AGE = 1_800
ERROR_TYPE = "urn:cpcompile:error:"


class BadRequest(ValueError):
    """A request the service refuses; ``slug`` names the problem type, ``status`` the HTTP status."""

    def __init__(self, status: int, slug: str, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail


def invalid(detail: str) -> BadRequest:
    return BadRequest(400, "invalid-request", "Invalid request", detail)


@dataclass(slots=True)
class EdgeRequest:
    """What the service needs of an ``/ee/.../interact`` request."""

    datastream_id: str
    request_id: str | None
    event_count: int
    primary: Identity | None
    identity_maps: list[Any] = field(default_factory=list)
    meta: Mapping[str, Any] = field(default_factory=dict)


def parse_json_body(body: bytes) -> Any:
    """JSON whatever the content type says (the Web SDK labels it text/plain)."""
    try:
        return orjson.loads(body)
    except (ValueError, RecursionError):
        raise invalid("the request body is not valid JSON (UTF-8)") from None


def query_value(query: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = query.get(name)
        if value:
            return value
    return None


def parse_interact(query: Mapping[str, str], body: bytes, *, server_api: bool) -> EdgeRequest:
    """A Web SDK (``events: [...]``) or Server API (``event: {...}``) interact request."""
    datastream_id = query_value(query, "dataStreamId", "configId") if server_api else query_value(query, "configId", "dataStreamId")
    if not datastream_id:
        name = "dataStreamId" if server_api else "configId"
        raise invalid(f"the query parameter {name} (the datastream ID) is missing")
    document = parse_json_body(body)
    if not isinstance(document, dict):
        raise invalid("the request body must be a JSON object")
    events = document.get("events")
    if events is None and "event" in document:
        events = [document["event"]]
    if not isinstance(events, list) or not events:
        raise invalid("the request needs 'events': a non-empty list of event objects (or 'event')")
    if len(events) > MAX_EVENTS:
        raise invalid(f"a request may carry at most {MAX_EVENTS} events, this one has {len(events)}")
    identity_maps: list[Any] = []
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise invalid(f"events[{index}] must be a JSON object")
        xdm = event.get("xdm")
        if xdm is not None and not isinstance(xdm, dict):
            raise invalid(f"events[{index}].xdm must be a JSON object")
        if xdm and "identityMap" in xdm:
            if not isinstance(xdm["identityMap"], dict):
                raise invalid(f"events[{index}].xdm.identityMap must map namespaces to lists of identities")
            identity_maps.append(xdm["identityMap"])
    try:
        primary = primary_identity(identity_maps)
    except IdentityError as err:
        raise invalid(str(err)) from None
    meta = document.get("meta")
    return EdgeRequest(
        datastream_id=datastream_id,
        request_id=query.get("requestId") or None,
        event_count=len(events),
        primary=primary,
        identity_maps=identity_maps,
        meta=meta if isinstance(meta, dict) else {},
    )


def envelope(request_id: str, payload: bytes, event_count: int, more: list[dict[str, Any]] | None = None) -> bytes:
    """The response body: one ``activation:pull`` handle per event (each with its
    ``eventIndex``) around ``payload``, the encoded answer (``Artifact.lookup_bytes``), then the
    ``more`` handles. Spliced as bytes: the answer is encoded once, however many events."""
    pulls = b",".join(
        b'{"type":"activation:pull","eventIndex":%d,"payload":%b}' % (index, payload) for index in range(event_count)
    )
    rest = b"," + orjson.dumps(more)[1:-1] if more else b""
    return b'{"requestId":' + orjson.dumps(request_id) + b',"handle":[' + pulls + rest + b"]}"


def identity_handles(org_id: str, ecid: str, location_hint: str) -> list[dict[str, Any]]:
    """The handles that give the Web SDK its ECID and cluster cookies (``state:store``)."""
    prefix = cookie_prefix(org_id)
    return [
        {"type": "identity:result", "payload": [{"id": ecid, "namespace": {"code": "ECID"}}]},
        {
            "type": "state:store",
            "payload": [
                {"key": prefix + "identity", "value": encode_identity_cookie(ecid),
                 "maxAge": IDENTITY_MAX_AGE, "attrs": {"SameSite": "None"}},
                {"key": prefix + "cluster", "value": location_hint,
                 "maxAge": CLUSTER_MAX_AGE, "attrs": {"SameSite": "None"}},
            ],
        },
        {"type": "locationHint:result",
         "payload": [{"scope": "EdgeNetwork", "hint": location_hint, "ttlSeconds": CLUSTER_MAX_AGE}]},
    ]


CONSENT_MAX_AGE = 15_552_000  # 180 days


def consent_choice(consent: object) -> str:
    """"in" or "out" from a ``setConsent`` request's ``consent`` list (Adobe 1.0 ``general``,
    or Adobe 2.0 ``collect.val``); other standards (IAB TCF) are refused, not guessed."""
    if not isinstance(consent, list) or not consent:
        raise invalid("'consent' must be a non-empty list of {standard, version, value}")
    for item in consent[:8]:
        if not isinstance(item, dict) or item.get("standard") != "Adobe":
            continue
        value = item.get("value")
        if item.get("version") == "1.0" and isinstance(value, dict) and value.get("general") in ("in", "out"):
            return str(value["general"])
        if item.get("version") == "2.0" and isinstance(value, dict):
            collect = value.get("collect")
            choice = collect.get("val") if isinstance(collect, dict) else None
            if choice in ("y", "n"):
                return "in" if choice == "y" else "out"
    raise invalid(
        "no consent this service understands: give the Adobe 1.0 standard ({\"general\": \"in\"|\"out\"}) "
        "or Adobe 2.0 ({\"collect\": {\"val\": \"y\"|\"n\"}})"
    )


def consent_handle(org_id: str, general: str) -> dict[str, Any]:
    """The ``state:store`` of the consent cookie the Web SDK reads after ``setConsent``."""
    return {
        "type": "state:store",
        "payload": [{"key": cookie_prefix(org_id) + "consent", "value": f"general={general}",
                     "maxAge": CONSENT_MAX_AGE, "attrs": {"SameSite": "None"}}],
    }


def problem(error: BadRequest, request_id: str | None) -> dict[str, Any]:
    """An RFC 7807 problem document, the shape the Edge Network answers errors in."""
    document: dict[str, Any] = {
        "type": ERROR_TYPE + error.slug,
        "status": error.status,
        "title": error.title,
        "detail": error.detail,
    }
    if request_id is not None:
        document["report"] = {"requestId": request_id}
    return document
