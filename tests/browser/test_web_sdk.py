"""The real Adobe Web SDK in a real browser against ``cpcompile serve``.

Headless Debian chromium (``/usr/bin/chromium``, driven by Python Playwright; no browser is
downloaded) loads a page that runs the unmodified ``@adobe/alloy@2.32.0`` standalone build,
fetched with ``npm pack`` at test time into ``$XDG_CACHE_HOME/cpcompile-tests`` (default
``~/.cache``) and checked against its pinned registry integrity hash before each use. 2.32.0 is
pinned because 2.33.x never returns ``results.destinations`` and older versions ship no
standalone build.

The SDK only speaks HTTPS and accepts no port in ``edgeDomain``, so both servers use a
certificate made for the test, and chromium's host resolver maps ``edge.alloy.test`` to
``cpcompile serve`` and every other ``*.alloy.test`` name to the page server; every other name
fails to resolve, so nothing leaves the machine. Pages:

- ``https://www.alloy.test``: same site as the edge, another origin; allowed (``--allowed-origin``).
- ``https://127.0.0.1:PORT``: another site; allowed. The SDK sends its cookies in
  ``meta.state.entries`` instead of the Cookie header.
- ``https://shop.alloy.test``: not allowed.
- ``https://edge.alloy.test/`` (served by Playwright's request routing): same origin, no CORS.

One server and one browser per module, a fresh browser context (no cookies) per test.

Missing prerequisites: without ``/usr/bin/chromium``, Python playwright, ``npm`` or registry
access these tests are skipped, unless the environment variable ``CI`` is set: then they fail,
so CI cannot pass without running them. A tarball that does not match the pinned integrity
always fails.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest

from web_sdk_helpers import (
    AD_TARGET, ADS_ID, ALLOWED_PAGE, COOKIE_PREFIX, DENIED_PAGE, DS_BARE, DS_MEMBERS, DS_WEB, EDGE_HOST,
    EVERGREEN, FIRST_TIME, HERO_ID, HINT, ORG, PAGE, TOKEN, Stack, launched_browser, load_alloy,
    playwright_api, running_stack,
)

HINTED_ROUTE = "/ee/{hint}/v1/interact"
PLAIN_ROUTE = "/ee/v1/interact"
HINTED_COLLECT_ROUTE = "/ee/{hint}/v1/collect"
ACQUIRE_ROUTE = "/ee/v1/identity/acquire"


@pytest.fixture(scope="module")
def alloy_js() -> bytes:
    return load_alloy()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, alloy_js: bytes) -> Iterator[Stack]:
    playwright_api()  # no server is started for a browser that is not there
    with running_stack(tmp_path_factory.mktemp("browser"), alloy_js) as running:
        yield running


@pytest.fixture(scope="module")
def browser(stack: Stack) -> Iterator[Any]:
    with launched_browser(playwright_api(), stack) as launched:
        yield launched


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser profile per test: no cookies, so no identity, carried over."""
    fresh = browser.new_context(ignore_https_errors=True)
    fresh.set_default_timeout(10_000)
    try:
        yield fresh
    finally:
        fresh.close()


CONFIGURE = """async (config) => { await window.alloy("configure", config); }"""

# the outcome of an alloy command, resolved or rejected, as JSON; a command that has not settled
# after a few seconds is an outcome too (page.evaluate itself would wait forever)
COMMAND = """async ([command, options]) => {
  const late = new Promise((resolve) => setTimeout(() => resolve({error: "not settled after 5 s"}), 5000));
  const settled = window.alloy(command, options).then(
    (result) => ({destinations: result && result.destinations !== undefined ? result.destinations : null}),
    (e) => ({error: String(e && e.message || e)}));
  return Promise.race([settled, late]);
}"""

GET_ECID = """async () => (await window.alloy("getIdentity", {namespaces: ["ECID"]})).identity.ECID"""


def crm(identity: str) -> dict[str, Any]:
    """sendEvent options naming the visitor by a primary CRMID in the XDM identity map."""
    return {"xdm": {"identityMap": {"CRMID": [{"id": identity, "authenticatedState": "authenticated", "primary": True}]}}}


def load(context: Any, origin: str, datastream: str = DS_WEB) -> Any:
    """A new page at ``origin`` with the Web SDK configured for ``datastream`` and the edge."""
    page = context.new_page()
    page.goto(origin + "/")
    page.evaluate(CONFIGURE, {
        "datastreamId": datastream, "orgId": ORG, "edgeDomain": EDGE_HOST,
        "thirdPartyCookiesEnabled": False, "clickCollectionEnabled": False, "debugEnabled": False,
    })
    return page


def send(page: Any, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """``alloy("sendEvent", options)``: ``{"destinations": ...}`` or ``{"error": message}``."""
    return command(page, "sendEvent", options or {})


def command(page: Any, name: str, options: dict[str, Any]) -> dict[str, Any]:
    outcome: dict[str, Any] = page.evaluate(COMMAND, [name, options])
    return outcome


def ecid_of(page: Any) -> str:
    ecid = page.evaluate(GET_ECID)
    assert isinstance(ecid, str) and len(ecid) == 38 and ecid.isdigit(), ecid
    return ecid


def by_alias(destinations: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Each returned destination's segment ids, by alias (each alias at most once)."""
    aliases = [d["alias"] for d in destinations]
    assert len(aliases) == len(set(aliases)), destinations
    return {d["alias"]: sorted(s["id"] for s in d["segments"]) for d in destinations}


def destinations_of(outcome: dict[str, Any]) -> list[dict[str, Any]]:
    assert "error" not in outcome, outcome["error"]
    found = outcome["destinations"]
    assert isinstance(found, list), f"sendEvent resolved without destinations: {outcome}"
    return found


def test_two_aliases_on_one_datastream(stack: Stack, context: Any) -> None:
    found = destinations_of(send(load(context, ALLOWED_PAGE), crm("two-aliases")))
    assert by_alias(found) == {"heroAlias": [FIRST_TIME], "adAlias": [AD_TARGET]}
    assert {d["type"] for d in found} == {"profileLookup"}
    assert {d["alias"]: d["destinationId"] for d in found} == {"heroAlias": HERO_ID, "adAlias": ADS_ID}


def test_the_web_sdk_never_receives_profile_attributes(stack: Stack, context: Any) -> None:
    # heroAlias maps firstName, and the profile has one: only authenticated server calls get it
    found = destinations_of(send(load(context, ALLOWED_PAGE), crm("two-aliases")))
    assert "Ada" not in json.dumps(found)
    assert all(not d.get("attributes") for d in found), found


def test_authenticated_only_datastream_answers_the_web_sdk_nothing(stack: Stack, context: Any) -> None:
    assert destinations_of(send(load(context, ALLOWED_PAGE, DS_MEMBERS), crm("two-aliases"))) == []


def test_datastream_override_of_one_event(stack: Stack, context: Any) -> None:
    page = load(context, ALLOWED_PAGE)
    override = dict(crm("two-aliases"), edgeConfigOverrides={"datastreamId": DS_BARE})
    assert destinations_of(send(page, override)) == []


def test_datastream_without_destinations_answers_an_empty_list(stack: Stack, context: Any) -> None:
    assert destinations_of(send(load(context, ALLOWED_PAGE, DS_BARE), crm("two-aliases"))) == []


def test_exited_membership_is_not_returned(stack: Stack, context: Any) -> None:
    # FIRST_TIME realized; LAPSED (heroAlias) and AD_TARGET (adAlias, its only audience) exited
    found = destinations_of(send(load(context, ALLOWED_PAGE), crm("exited")))
    assert by_alias(found) == {"heroAlias": [FIRST_TIME]}


def test_only_mappings_with_an_open_activation_window_are_returned(stack: Stack, context: Any) -> None:
    # the profile is in all three: WINTER_2020 (closed), EVERGREEN (open), YEAR_9000 (not yet open)
    found = destinations_of(send(load(context, ALLOWED_PAGE), crm("windows")))
    assert by_alias(found) == {"heroAlias": [EVERGREEN]}


def test_unknown_datastream_rejects_send_event(stack: Stack, context: Any) -> None:
    outcome = send(load(context, ALLOWED_PAGE, "99999999-0000-4000-8000-000000000000"))
    assert "status code 400" in outcome.get("error", ""), outcome


@pytest.mark.parametrize("site", ["same-site", "cross-site"])
def test_identity_cookie_is_kept_across_page_loads(stack: Stack, context: Any, site: str) -> None:
    # cross-site, the SDK sends its cookies in meta.state.entries rather than the Cookie header
    origin = ALLOWED_PAGE if site == "same-site" else stack.cross_site_page
    first = load(context, origin)
    assert destinations_of(send(first)) == []
    ecid = ecid_of(first)
    assert {COOKIE_PREFIX + "identity", COOKIE_PREFIX + "cluster"} <= {c["name"] for c in context.cookies()}
    first.close()

    status, body = stack.request("PUT", f"/v1/profiles/ECID/{ecid}", {"memberships": [FIRST_TIME]}, token=TOKEN)
    assert status in (200, 204), body

    second = load(context, origin)
    assert ecid_of(second) == ecid
    assert by_alias(destinations_of(send(second))) == {"heroAlias": [FIRST_TIME]}


def test_visitor_who_signs_in_is_looked_up_by_the_primary_identity(stack: Stack, context: Any) -> None:
    # an anonymous first event gives the browser an ECID cookie; after signing in, the page marks
    # its CRMID primary, which Adobe's profile lookup then uses (the ECID is only the default)
    page = load(context, ALLOWED_PAGE)
    assert destinations_of(send(page)) == []
    found = destinations_of(send(page, crm("two-aliases")))
    assert by_alias(found) == {"heroAlias": [FIRST_TIME], "adAlias": [AD_TARGET]}


def test_get_identity_before_any_event(stack: Stack, context: Any) -> None:
    page = load(context, ALLOWED_PAGE)
    acquired_before = stack.requests_total(ACQUIRE_ROUTE)
    ecid = ecid_of(page)
    assert stack.requests_since(acquired_before, ACQUIRE_ROUTE) == 1
    status, body = stack.request("PUT", f"/v1/profiles/ECID/{ecid}", {"memberships": [FIRST_TIME]}, token=TOKEN)
    assert status in (200, 204), body
    # the identity cookie set by identity/acquire names the visitor of the next event
    assert by_alias(destinations_of(send(page))) == {"heroAlias": [FIRST_TIME]}


def test_event_sent_while_the_page_unloads_goes_to_collect(stack: Stack, context: Any) -> None:
    page = load(context, ALLOWED_PAGE)
    assert destinations_of(send(page)) == []  # sets the identity and cluster cookies
    collected_before = stack.requests_total(HINTED_COLLECT_ROUTE, 204)
    # with an identity, the SDK sends it with navigator.sendBeacon and reads no answer
    assert send(page, {"documentUnloading": True}) == {"destinations": []}
    assert stack.requests_since(collected_before, HINTED_COLLECT_ROUTE, 204) == 1


@pytest.mark.parametrize(("given", "then"), [("y", "sent"), ("n", "declined")])
def test_consent_given_or_refused(stack: Stack, context: Any, given: str, then: str) -> None:
    page = load(context, ALLOWED_PAGE)
    interacts: list[str] = []
    page.on("request", lambda r: interacts.append(r.url) if "/interact" in r.url else None)
    consent = {"consent": [{"standard": "Adobe", "version": "2.0", "value": {"collect": {"val": given}}}]}
    assert command(page, "setConsent", consent) == {"destinations": None}
    outcome = send(page, crm("two-aliases"))
    if then == "sent":
        assert by_alias(destinations_of(outcome)) == {"heroAlias": [FIRST_TIME], "adAlias": [AD_TARGET]}
    else:
        # the SDK resolves a refused event with an empty result and sends nothing
        assert outcome == {"destinations": None}
        assert interacts == []


def test_later_requests_use_the_location_hint_path(stack: Stack, context: Any) -> None:
    page = load(context, ALLOWED_PAGE)
    paths: list[str] = []
    page.on("request", lambda r: paths.append(r.url.split("?", 1)[0]) if "/interact" in r.url else None)
    assert destinations_of(send(page)) == []
    status, body = stack.request("PUT", f"/v1/profiles/ECID/{ecid_of(page)}", {"memberships": [AD_TARGET]}, token=TOKEN)
    assert status in (200, 204), body
    hinted_before = stack.requests_total(HINTED_ROUTE)

    found = destinations_of(send(page))

    assert paths == [f"https://{EDGE_HOST}/ee/v1/interact", f"https://{EDGE_HOST}/ee/{HINT}/v1/interact"]
    assert stack.requests_since(hinted_before, HINTED_ROUTE) == 1
    assert by_alias(found) == {"adAlias": [AD_TARGET]}


def test_cross_site_page_on_an_allowed_origin(stack: Stack, context: Any) -> None:
    found = destinations_of(send(load(context, stack.cross_site_page), crm("exited")))
    assert by_alias(found) == {"heroAlias": [FIRST_TIME]}


def test_page_on_an_origin_not_allowed_cannot_read_the_answer(stack: Stack, context: Any) -> None:
    page = load(context, DENIED_PAGE)
    answered_before = stack.requests_total(PLAIN_ROUTE)
    outcome = send(page, crm("two-aliases"))
    assert "Failed to fetch" in outcome.get("error", ""), outcome
    # the server did answer: the browser withheld the answer from the page (CORS)
    assert stack.requests_since(answered_before, PLAIN_ROUTE) == 1


def test_same_origin_page_needs_no_cors(stack: Stack, context: Any, alloy_js: bytes) -> None:
    # the page and the SDK come from the edge's own origin, which is in no --allowed-origin
    context.route(f"https://{EDGE_HOST}/", lambda route: route.fulfill(body=PAGE, content_type="text/html"))
    context.route(f"https://{EDGE_HOST}/alloy.js",
                  lambda route: route.fulfill(body=alloy_js, content_type="text/javascript"))
    found = destinations_of(send(load(context, f"https://{EDGE_HOST}"), crm("two-aliases")))
    assert by_alias(found) == {"heroAlias": [FIRST_TIME], "adAlias": [AD_TARGET]}
