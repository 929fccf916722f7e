"""The ASGI application of ``cpcompile serve``: routes, limits, CORS, identity, answers.

Plain ASGI, no framework: each request is a handful of dictionary operations around one
``Artifact.lookup``, and a framework's routing and request objects would cost more than the
lookup itself. Any ASGI server can run it; ``cpcompile serve`` uses Granian (README: why).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
from typing import Any, Awaitable, Callable, Mapping
from urllib.parse import parse_qsl

import orjson

from cpcompile.runtime import Artifact
from cpcompile.runtime._response import random_uuid

from .edge import (
    BadRequest,
    consent_choice,
    consent_handle,
    identity_handles,
    invalid,
    parse_interact,
    envelope,
    parse_json_body,
    problem,
)
from .identity import (
    ECID_NAMESPACE,
    Identity,
    IdentityError,
    cookie_prefix,
    decode_identity_cookie,
    ecid_in,
    mint_ecid,
    parse_cookie_header,
    state_entries,
    valid_identity,
)
from .metrics import Metrics, whole_count
from .settings import ServeSettings
from .source import ArtifactSource
from .worker_metrics import INTERVAL as WORKER_INTERVAL, WorkerFiles
from .store import MAX_MEMBERSHIPS, Profile, ProfileError, ProfileStore, StoreUnavailable, profile_from_json

_log = logging.getLogger("cpcompile.serve")
MAX_BODY = 64 * 1024
# a body over the limit but under this is read and dropped before the 413, see _read_body
MAX_DRAINED = 1024 * 1024
BODY_TIMEOUT = 10.0
_REQUEST_ID = re.compile(r"[A-Za-z0-9\-]{1,64}")
_JSON = (b"content-type", b"application/json")
_PROBLEM = (b"content-type", b"application/problem+json")

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]


class Answer:
    __slots__ = ("status", "body", "headers")

    def __init__(self, status: int, body: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.status, self.body, self.headers = status, body, headers or []


def json_answer(document: Any, status: int = 200) -> Answer:
    return Answer(status, orjson.dumps(document), [_JSON])


def problem_answer(error: BadRequest, request_id: str | None = None) -> Answer:
    return Answer(error.status, orjson.dumps(problem(error, request_id)), [_PROBLEM])


class ServeApp:
    def __init__(
        self, settings: ServeSettings, source: ArtifactSource, store: ProfileStore, worker_files: WorkerFiles | None = None
    ) -> None:
        self.settings = settings
        self.source = source
        self.store = store
        self.metrics = Metrics()
        # the other workers' counters, under `cpcompile serve --workers N` (worker_metrics.py)
        self.workers = worker_files
        self._sharing: asyncio.Task[None] | None = None
        self._origins = frozenset(settings.allowed_origins)
        self._tokens = [t.encode() for t in settings.api_tokens]
        self._identity_cookie = cookie_prefix(settings.org_id or "") + "identity"
        self._base = settings.edge_base_path
        base = f"/{self._base}"
        # route template -> (method, handler); the hinted Web SDK routes are matched in _route
        self._exact: dict[str, tuple[str, Handler]] = {
            f"{base}/v1/interact": ("POST", _web_interact),
            f"{base}/v1/collect": ("POST", _collect),
            f"{base}/v2/interact": ("POST", _server_interact),
            f"{base}/v1/identity/acquire": ("POST", _identity_acquire),
            f"{base}/v1/privacy/set-consent": ("POST", _set_consent),
            "/v1/lookup": ("POST", _lookup),
            "/livez": ("GET", _livez),
            "/healthz": ("GET", _healthz),
            "/readyz": ("GET", _readyz),
            "/metrics": ("GET", _metrics),
        }
        self._poller: asyncio.Task[None] | None = None
        self._known: tuple[str, frozenset[str]] = ("", frozenset())
        self.started_at = time.time()

    # -- ASGI ----------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def start(self) -> None:
        if self._poller is None:
            self._poller = asyncio.get_running_loop().create_task(self.source.run())
        if self.workers is not None and self._sharing is None:
            self._sharing = asyncio.get_running_loop().create_task(self._share_counters(self.workers))

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None
        if self._sharing is not None:
            self._sharing.cancel()
            self._sharing = None
        if self.workers is not None:
            self.workers.write(self.counters())
        await self.store.close()

    def counters(self) -> dict[str, Any]:
        """This worker's counters: requests, durations, degraded answers and reloads."""
        source = self.source
        return {**self.metrics.snapshot(), "reloads": source.reloads, "reload_failures": source.reload_failures}

    async def _share_counters(self, workers: WorkerFiles) -> None:
        while True:
            workers.write(self.counters())
            await asyncio.sleep(WORKER_INTERVAL)

    async def _http(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in _WANTED_HEADERS and name not in headers:
                headers[name] = value
        method: str = scope["method"]
        route, handler = self._route(scope["path"], method)
        artifact = self.source.current
        try:
            if handler is None:
                answer = _not_found()
            elif method == "OPTIONS":
                answer = self._preflight(headers)
            else:
                body = await _read_body(receive, headers) if method in ("POST", "PUT") else b""
                answer = await handler(self, scope, headers, body, artifact)
        except BadRequest as error:
            answer = problem_answer(error, _request_id(scope))
        except Exception:  # noqa: BLE001 - a bug must cost one answer, never the process
            _log.exception("cpcompile serve: internal error on %s %s", method, route)
            answer = problem_answer(BadRequest(500, "internal", "Internal Server Error", "the service failed; see its log"))
        out = answer.headers
        out.append((b"x-cpcompile-revision", artifact.revision.encode()))
        if self.source.is_stale():
            out.append((b"x-cpcompile-stale", str(int(self.source.stale_for())).encode()))
        origin = headers.get(b"origin")
        if origin is not None and origin.decode("latin-1") in self._origins:
            out += [
                (b"access-control-allow-origin", origin),
                (b"access-control-allow-credentials", b"true"),
                (b"access-control-expose-headers", b"x-cpcompile-revision, x-cpcompile-stale, x-cpcompile-degraded"),
                (b"vary", b"Origin"),
            ]
        out.append((b"content-length", str(len(answer.body)).encode()))
        await send({"type": "http.response.start", "status": answer.status, "headers": out})
        await send({"type": "http.response.body", "body": answer.body})
        self.metrics.observe(route, answer.status, time.perf_counter() - started)

    def _route(self, path: str, method: str) -> tuple[str, Handler | None]:
        exact = self._exact.get(path)
        if exact is not None:
            allowed, handler = exact
            return path, _allow(method, allowed, handler)
        parts = path.strip("/").split("/")
        if len(parts) in (4, 5) and parts[0] == self._base and _HINT.fullmatch(parts[1]):
            rest = "/".join(parts[2:])
            hinted = self._exact.get(f"/{self._base}/{rest}")
            if hinted is not None:
                return f"/{self._base}/{{hint}}/{rest}", _allow(method, *hinted)
        if len(parts) == 4 and parts[:2] == ["v1", "profiles"]:
            return "/v1/profiles/{namespace}/{id}", _allow(method, "PUT", _put_profile)
        return "unmatched", None

    def _preflight(self, headers: Mapping[bytes, bytes]) -> Answer:
        origin = headers.get(b"origin", b"").decode("latin-1")
        if origin not in self._origins:
            return Answer(403)
        return Answer(204, b"", [
            (b"access-control-allow-methods", b"POST, PUT, GET"),
            (b"access-control-allow-headers", b"authorization, content-type"),
            (b"access-control-max-age", b"600"),
        ])

    # -- helpers used by the handlers -----------------------------------------------------
    def authenticated(self, headers: Mapping[bytes, bytes]) -> bool:
        """True for a valid bearer token; a wrong one is refused rather than treated as anonymous."""
        value = headers.get(b"authorization")
        if value is None:
            return False
        scheme, _, token = value.partition(b" ")
        if scheme.lower() == b"bearer":
            token = token.strip()
            if any(hmac.compare_digest(token, known) for known in self._tokens):
                return True
        raise BadRequest(401, "unauthorized", "Unauthorized", "the bearer token is not valid")

    def knows(self, artifact: Artifact, datastream_id: str) -> bool:
        revision, ids = self._known
        if revision != artifact.revision:
            ids = frozenset(artifact.datastream_ids)
            self._known = (artifact.revision, ids)
        return datastream_id in ids or datastream_id.lower() in ids

    def refuse_if_stale(self) -> None:
        if self.settings.stale_policy == "fail" and self.source.is_stale():
            raise BadRequest(
                503, "stale-artifact", "Service Unavailable",
                f"the artifact has not been refreshed for {int(self.source.stale_for())} s "
                f"(max_stale {self.settings.max_stale:g} s); answers are refused until it is",
            )

    async def profile_of(self, identity: Identity | None, degraded: list[tuple[bytes, bytes]]) -> Profile | None:
        if identity is None:
            return None
        try:
            return await self.store.get(identity)
        except StoreUnavailable:
            self.metrics.count_degraded("profile-store")
            degraded.append((b"x-cpcompile-degraded", b"profile-store"))
            return None

    def web_sdk_org(self) -> str:
        """The org the Web SDK is configured with, which names its cookies; without one, its
        routes cannot answer."""
        if self.settings.org_id is None:
            raise BadRequest(422, "no-org-id", "Configuration Error",
                             "the service has no org_id setting, so it cannot name the Web SDK's cookies")
        return self.settings.org_id

    def visitor_ecid(self, headers: Mapping[bytes, bytes], meta: Mapping[str, Any]) -> str | None:
        cookie = headers.get(b"cookie")
        value = None
        if cookie is not None:
            value = parse_cookie_header(cookie.decode("latin-1"), (self._identity_cookie,)).get(self._identity_cookie)
        if value is None:
            value = state_entries(meta, (self._identity_cookie,)).get(self._identity_cookie)
        return decode_identity_cookie(value) if value else None


Handler = Callable[[ServeApp, dict[str, Any], Mapping[bytes, bytes], bytes, Artifact], Awaitable[Answer]]
_LOOKUP_FIELDS = frozenset({"datastream", "memberships", "attributes", "now"})
_WANTED_HEADERS = frozenset({b"origin", b"cookie", b"authorization", b"content-length"})
_HINT = re.compile(r"[a-z0-9]{1,16}")


def _allow(method: str, allowed: str, handler: Handler) -> Handler | None:
    return handler if method in (allowed, "OPTIONS") else _method_not_allowed(allowed)


def _method_not_allowed(allowed: str) -> Handler:
    async def refuse(app: ServeApp, scope: dict[str, Any], headers: Mapping[bytes, bytes], body: bytes, artifact: Artifact) -> Answer:
        answer = problem_answer(BadRequest(405, "method-not-allowed", "Method Not Allowed", f"this route answers {allowed} only"))
        answer.headers.append((b"allow", allowed.encode()))
        return answer
    return refuse


def _not_found() -> Answer:
    return problem_answer(BadRequest(404, "not-found", "Not Found", "no such route; see docs/serve.md for the routes"))


def _request_id(scope: Mapping[str, Any]) -> str | None:
    """The request's own ID, for an error report (whatever else is wrong with its query)."""
    raw = scope.get("query_string") or b""
    if b"requestId=" not in raw:
        return None
    return _parse_query(raw.decode("latin-1")).get("requestId")


def _query(scope: Mapping[str, Any]) -> dict[str, str]:
    raw: bytes = scope.get("query_string") or b""
    if len(raw) > 4096:
        raise invalid("the query string is longer than 4096 bytes")
    return _parse_query(raw.decode("latin-1"))


def _parse_query(text: str) -> dict[str, str]:
    """The query's parameters; a requestId that is not a plain ID is left out (it is echoed)."""
    if "%" in text or "+" in text:
        query = dict(parse_qsl(text))
    else:  # the Web SDK's configId and requestId need no decoding: split, as parse_qsl would
        query = {}
        for pair in text.split("&"):
            name, sep, value = pair.partition("=")
            if sep and value:
                query[name] = value
    request_id = query.get("requestId")
    if request_id is not None and not _REQUEST_ID.fullmatch(request_id):
        del query["requestId"]
    return query


def _too_large() -> BadRequest:
    return BadRequest(413, "payload-too-large", "Payload Too Large", f"request bodies are limited to {MAX_BODY // 1024} KB")


async def _read_body(receive: Receive, headers: Mapping[bytes, bytes]) -> bytes:
    declared = headers.get(b"content-length")
    if declared is not None and not declared.isdigit():
        raise BadRequest(400, "invalid-request", "Invalid request", "Content-Length is not a number")
    if declared is not None and int(declared) > MAX_DRAINED:
        raise _too_large()  # not worth reading: the connection is closed under the client
    first = await receive()
    if first["type"] != "http.request":
        raise BadRequest(400, "disconnected", "Bad Request", "the client went away")
    body: bytes = first.get("body", b"")
    if not first.get("more_body", False) or (declared is not None and len(body) == int(declared)):
        # the common case: the whole body in one message (Granian then sends an empty last
        # one, which need not be awaited: the declared length is all there)
        if len(body) > MAX_BODY:
            raise _too_large()
        return body
    # a body in pieces: a timer (several microseconds to arm, so not for every request) bounds
    # a client that stops sending halfway
    chunks = [body]
    size = len(body)
    try:
        async with asyncio.timeout(BODY_TIMEOUT):
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    raise BadRequest(400, "disconnected", "Bad Request", "the client went away")
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > MAX_DRAINED:
                    raise _too_large()
                if size <= MAX_BODY:
                    chunks.append(chunk)
                if not message.get("more_body", False):
                    break
    except TimeoutError:
        raise BadRequest(408, "request-timeout", "Request Timeout", f"the body did not arrive within {BODY_TIMEOUT:g} s") from None
    if size > MAX_BODY:
        # read to its end (up to MAX_DRAINED) so that the client, which is still sending, gets
        # the 413 instead of a connection closed under it
        raise _too_large()
    return b"".join(chunks)


# -- handlers -------------------------------------------------------------------------------
async def _web_interact(app: ServeApp, scope: dict[str, Any], headers: Mapping[bytes, bytes], body: bytes, artifact: Artifact) -> Answer:
    request = parse_interact(_query(scope), body, server_api=False)
    app.refuse_if_stale()
    if not app.knows(artifact, request.datastream_id):
        raise _unknown_datastream(request.datastream_id)
    org_id = app.web_sdk_org()
    # the device's ECID: from the SDK's identity cookie, else one the page sent, else a new one
    ecid = app.visitor_ecid(headers, request.meta) or ecid_in(request.identity_maps) or mint_ecid()
    # the profile: the identity the page marks primary (a signed-in person) when there is one,
    # as Adobe's Edge uses it; else the device's ECID
    visitor = request.primary or Identity(ECID_NAMESPACE, ecid)
    extra: list[tuple[bytes, bytes]] = []
    profile = await app.profile_of(visitor, extra)
    payload = artifact.lookup_bytes(request.datastream_id, profile.memberships if profile else ())
    identity = identity_handles(org_id, ecid, app.settings.location_hint)
    answer = Answer(200, envelope(request.request_id or _new_request_id(), payload, request.event_count, identity), [_JSON])
    answer.headers += extra
    return answer


async def _server_interact(app: ServeApp, scope: dict[str, Any], headers: Mapping[bytes, bytes], body: bytes, artifact: Artifact) -> Answer:
    authenticated = app.authenticated(headers)
    request = parse_interact(_query(scope), body, server_api=True)
    app.refuse_if_stale()
    if not app.knows(artifact, request.datastream_id):
        raise _unknown_datastream(request.datastream_id)
    if request.primary is None:
        raise invalid("mark exactly one identity in event.xdm.identityMap as primary (Adobe evaluates only such requests)")
    extra: list[tuple[bytes, bytes]] = []
    profile = await app.profile_of(request.primary, extra)
    payload = artifact.lookup_bytes(
        request.datastream_id,
        profile.memberships if profile else (),
        attributes=profile.attributes if profile and authenticated else None,
        authenticated=authenticated,
    )
    answer = Answer(200, envelope(request.request_id or _new_request_id(), payload, request.event_count), [_JSON])
    answer.headers += extra
    return answer


async def _collect(app: ServeApp, scope: dict[str, Any], headers: Mapping[bytes, bytes], body: bytes, artifact: Artifact) -> Answer:
    return Answer(204)


async def _identity_acquire(app: ServeApp, scope: dict[str, Any], headers: Mapping[bytes, bytes], body: bytes, artifact: Artifact) -> Answer:
    document = parse_json_body(body) if body else {}
    meta = document.get("meta") if isinstance(document, dict) else None
    org_id = app.web_sdk_org()
    ecid = app.visitor_ecid(headers, meta if isinstance(meta, dict) else {}) or mint_ecid()
    request_id = _query(scope).get("requestId") or _new_request_id()
    return json_answer({"requestId": request_id, "handle": identity_handles(org_id, ecid, app.settings.location_hint)})


async def _set_consent(app: ServeApp, scope: dict[str, Any], headers: Mapping[bytes, bytes], body: bytes, artifact: Artifact) -> Answer:
    """``setConsent``: the SDK reads the consent it set from the cookie this asks it to store."""
    org_id = app.web_sdk_org()
    document = parse_json_body(body)
    if not isinstance(document, dict):
        raise invalid("the body must be a JSON object with 'consent'")
    general = consent_choice(document.get("consent"))
    meta = document.get("meta")
    ecid = app.visitor_ecid(headers, meta if isinstance(meta, dict) else {}) or mint_ecid()
    handles = identity_handles(org_id, ecid, app.settings.location_hint)
    handles.append(consent_handle(org_id, general))
    request_id = _query(scope).get("requestId") or _new_request_id()
    return json_answer({"requestId": request_id, "handle": handles})


async def _lookup(app: ServeApp, scope: dict[str, Any], headers: Mapping[bytes, bytes], body: bytes, artifact: Artifact) -> Answer:
    authenticated = app.authenticated(headers)
    document = parse_json_body(body)
    if not isinstance(document, dict):
        raise invalid("the body must be a JSON object: {\"datastream\": ..., \"memberships\": [...]}")
    datastream = document.get("datastream")
    if not isinstance(datastream, str) or not datastream:
        raise invalid("'datastream' (the datastream ID) is missing")
    if not document.keys() <= _LOOKUP_FIELDS:
        unknown = set(document) - _LOOKUP_FIELDS
        raise invalid(f"unknown field {sorted(unknown)[0]!r}; expected datastream, memberships, attributes, now")
    app.refuse_if_stale()
    if not app.knows(artifact, datastream):
        raise _unknown_datastream(datastream)
    memberships = document.get("memberships", [])
    if isinstance(memberships, list):
        if len(memberships) > MAX_MEMBERSHIPS or not all(type(m) is str for m in memberships):
            raise invalid(f"'memberships' must be a list of at most {MAX_MEMBERSHIPS} audience IDs (strings), or a segmentMembership map")
    elif not isinstance(memberships, dict):
        raise invalid("'memberships' must be a list of audience IDs or a segmentMembership map")
    attributes = document.get("attributes")
    if attributes is not None and not isinstance(attributes, dict):
        raise invalid("'attributes' must be a JSON object")
    now = document.get("now")
    if now is not None and (isinstance(now, bool) or not isinstance(now, (int, float))):
        raise invalid("'now' must be Unix seconds")
    try:
        payload = artifact.lookup_bytes(
            datastream, memberships, now=now,
            attributes=attributes, authenticated=authenticated,
        )
    except (TypeError, ValueError, OverflowError) as err:
        raise invalid(str(err)) from None
    return Answer(200, payload, [_JSON])


async def _put_profile(app: ServeApp, scope: dict[str, Any], headers: Mapping[bytes, bytes], body: bytes, artifact: Artifact) -> Answer:
    if not app._tokens:
        raise BadRequest(403, "forbidden", "Forbidden", "profile writes need an API token; none is configured (api_tokens)")
    if not app.authenticated(headers):
        raise BadRequest(401, "unauthorized", "Unauthorized", "profile writes need 'Authorization: Bearer <token>'")
    _, _, namespace, identity_id = scope["path"].strip("/").split("/")
    try:
        identity = valid_identity(namespace, identity_id)
        profile = profile_from_json(parse_json_body(body))
    except (IdentityError, ProfileError) as err:
        raise invalid(str(err)) from None
    try:
        await app.store.put(identity, profile)
    except StoreUnavailable as err:
        # the store's own message can name the key, i.e. the visitor: it goes to the log only
        _log.warning("cpcompile serve: a profile write failed: %s", err)
        raise BadRequest(503, "store-unavailable", "Service Unavailable", "the profile store did not take the write; try again") from None
    return Answer(204)


async def _livez(app: ServeApp, scope: dict[str, Any], headers: Mapping[bytes, bytes], body: bytes, artifact: Artifact) -> Answer:
    """The liveness probe: the process answers. Constant, so it is also the benchmarks' floor."""
    return Answer(200, b"ok\n", [(b"content-type", b"text/plain")])


async def _healthz(app: ServeApp, scope: dict[str, Any], headers: Mapping[bytes, bytes], body: bytes, artifact: Artifact) -> Answer:
    source = app.source
    now = time.time()
    return json_answer({
        "status": "stale" if source.is_stale(now) else "ok",
        "revision": artifact.revision,
        "source": source.location,
        "artifact_age_seconds": round(now - source.loaded_at, 3),
        "seconds_since_last_refresh": round(source.stale_for(now), 3),
        "reloads": source.reloads,
        "reload_failures": source.reload_failures,
        "last_reload_error": source.last_error,
    })


async def _readyz(app: ServeApp, scope: dict[str, Any], headers: Mapping[bytes, bytes], body: bytes, artifact: Artifact) -> Answer:
    store_ok = await app.store.ready()
    refused = app.settings.stale_policy == "fail" and app.source.is_stale()
    ready = store_ok and not refused
    return json_answer({"ready": ready, "profile_store": store_ok, "stale": app.source.is_stale()}, 200 if ready else 503)


async def _metrics(app: ServeApp, scope: dict[str, Any], headers: Mapping[bytes, bytes], body: bytes, artifact: Artifact) -> Answer:
    source = app.source
    now = time.time()
    metrics, reloads, failures = app.metrics, source.reloads, source.reload_failures
    others = app.workers.others() if app.workers is not None else []
    if others:  # this worker's live counters, and the others' latest
        metrics = Metrics()
        metrics.add(app.metrics.snapshot())
        for counters in others:
            metrics.add(counters)
            if isinstance(counters, dict):
                reloads += whole_count(counters.get("reloads"))
                failures += whole_count(counters.get("reload_failures"))
    text = metrics.render(
        [
            ("cpcompile_artifact_age_seconds", "gauge", "Seconds since the current artifact was loaded.", now - source.loaded_at),
            ("cpcompile_artifact_seconds_since_refresh", "gauge", "Seconds since the artifact source was last read successfully.", source.stale_for(now)),
            ("cpcompile_artifact_stale", "gauge", "1 when refreshes have failed for longer than max_stale.", 1.0 if source.is_stale(now) else 0.0),
            ("cpcompile_artifact_reloads_total", "counter", "New artifacts swapped in.", reloads),
            ("cpcompile_artifact_reload_failures_total", "counter", "Refreshes that failed (fetch or verification).", failures),
        ],
        {"revision": artifact.revision},
    )
    return Answer(200, text.encode("utf-8"), [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8")])


def _unknown_datastream(datastream_id: str) -> BadRequest:
    shown = datastream_id if _REQUEST_ID.fullmatch(datastream_id) else "(not an ID)"
    return BadRequest(400, "unknown-datastream", "Invalid datastream", f"the datastream {shown} is not configured in the served artifact")


_new_request_id = random_uuid
