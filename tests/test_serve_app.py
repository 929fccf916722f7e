"""The routes of `cpcompile serve`, driven in-process through its ASGI interface."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cpcompile.serve.identity import decode_identity_cookie, encode_identity_cookie, mint_ecid

from runtime_helpers import AUD_1, AUD_2, DEST_A, DEST_B, DS, small_body
from serve_helpers import IDENTITY_COOKIE, Client, bearer, make_client

ECID = "12345678901234567890123456789012345678"


@pytest.fixture
def client(tmp_path: Path):
    c = make_client(tmp_path)
    yield c
    c.close()


def put_profile(client: Client, namespace: str, identity: str, document: dict) -> None:
    response = client.request("PUT", f"/v1/profiles/{namespace}/{identity}", document, headers=bearer())
    assert response.status == 204, response.body


def web_event(identity_map: dict | None = None) -> dict:
    xdm: dict = {"eventType": "web.webpagedetails.pageViews"}
    if identity_map is not None:
        xdm["identityMap"] = identity_map
    return {"xdm": xdm}


# -- Web SDK interact ------------------------------------------------------------------------
def test_new_visitor_gets_an_ecid_through_state_store_and_identity_result(client: Client) -> None:
    r = client.post("/ee/v1/interact", {"events": [web_event()]}, query=f"configId={DS}&requestId=req-1")
    assert r.status == 200
    document = r.json()
    assert document["requestId"] == "req-1"
    [identity] = r.handle("identity:result")
    ecid = identity["payload"][0]["id"]
    assert len(ecid) == 38 and ecid.isdigit()
    [store] = r.handle("state:store")
    cookies = {entry["key"]: entry for entry in store["payload"]}
    assert decode_identity_cookie(cookies[IDENTITY_COOKIE]["value"]) == ecid
    assert cookies["kndctr_ABC123_AdobeOrg_cluster"]["value"] == "local"
    assert r.handle("locationHint:result")[0]["payload"] == [{"scope": "EdgeNetwork", "hint": "local", "ttlSeconds": 1800}]
    assert r.destinations() == []
    assert r.headers["x-cpcompile-revision"].startswith("sha256:")


def test_identity_cookie_picks_the_profile_and_is_kept(client: Client) -> None:
    put_profile(client, "ECID", ECID, {"memberships": [AUD_1]})
    cookie = f"other=1; {IDENTITY_COOKIE}={encode_identity_cookie(ECID)}"
    r = client.post("/ee/v1/interact", {"events": [web_event()]}, query=f"configId={DS}", headers={"Cookie": cookie})
    assert {d["alias"] for d in r.destinations()} == {"adServerAlias", "personalizationAlias"}
    assert r.handle("identity:result")[0]["payload"][0]["id"] == ECID
    # cross-site pages carry the cookie in meta.state.entries instead
    body = {"events": [web_event()], "meta": {"state": {"entries": [{"key": IDENTITY_COOKIE, "value": encode_identity_cookie(ECID)}]}}}
    r2 = client.post("/ee/v1/interact", body, query=f"configId={DS}")
    assert r2.destinations() == r.destinations()


def test_each_event_gets_its_own_event_index(client: Client) -> None:
    put_profile(client, "ECID", ECID, {"memberships": [AUD_1]})
    cookie = f"{IDENTITY_COOKIE}={encode_identity_cookie(ECID)}"
    r = client.post("/ee/v1/interact", {"events": [web_event()] * 3}, query=f"configId={DS}", headers={"Cookie": cookie})
    pulls = r.handle("activation:pull")
    assert [h["eventIndex"] for h in pulls] == [0, 1, 2]
    assert all(h["payload"] == pulls[0]["payload"] != [] for h in pulls)


def test_primary_identity_is_the_visitor_without_a_cookie(client: Client) -> None:
    put_profile(client, "Email", "a@example.com", {"memberships": [AUD_2]})
    event = web_event({"Email": [{"id": "a@example.com", "primary": True}], "Phone": [{"id": "1"}]})
    r = client.post("/ee/v1/interact", {"events": [event]}, query=f"configId={DS}")
    assert [(d["alias"], [s["id"] for s in d["segments"]]) for d in r.destinations()] == [("personalizationAlias", [AUD_2])]


def test_two_primary_identities_are_refused(client: Client) -> None:
    event = web_event({"Email": [{"id": "a@example.com", "primary": True}], "CRM": [{"id": "9", "primary": True}]})
    r = client.post("/ee/v1/interact", {"events": [event]}, query=f"configId={DS}&requestId=r9")
    assert r.status == 400
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["status"] == 400 and "exactly one identity" in problem["detail"]
    assert problem["report"] == {"requestId": "r9"}


def test_exited_memberships_and_closed_windows_give_nothing(tmp_path: Path) -> None:
    body = small_body()
    body["datastreams"][DS]["audiences"][AUD_2]["mappings"][0].update(start=1_000, end=2_000)
    client = make_client(tmp_path, body)
    put_profile(client, "ECID", ECID, {"segmentMembership": {"ups": {AUD_1: {"status": "exited"}, AUD_2: {"status": "realized"}}}})
    cookie = f"{IDENTITY_COOKIE}={encode_identity_cookie(ECID)}"
    r = client.post("/ee/v1/interact", {"events": [web_event()]}, query=f"configId={DS}", headers={"Cookie": cookie})
    assert r.status == 200 and r.destinations() == []
    client.close()


def test_location_hint_path_and_collect(client: Client) -> None:
    r = client.post("/ee/or2/v1/interact", {"events": [web_event()]}, query=f"configId={DS}")
    assert r.status == 200
    assert client.post("/ee/or2/v1/collect", {"events": [web_event()]}, query=f"configId={DS}").status == 204
    assert client.post("/ee/OR2!/v1/interact", {"events": [web_event()]}, query=f"configId={DS}").status == 404
    metrics = client.get("/metrics").body.decode()
    assert 'cpcompile_requests_total{route="/ee/{hint}/v1/interact",status="200"} 1' in metrics


def test_identity_acquire_answers_get_identity(client: Client) -> None:
    r = client.post("/ee/v1/identity/acquire", {"query": {"identity": {"fetch": ["ECID"]}}}, query=f"configId={DS}",
                    headers={"Cookie": f"{IDENTITY_COOKIE}={encode_identity_cookie(ECID)}"})
    assert r.handle("identity:result")[0]["payload"][0]["id"] == ECID
    assert r.destinations() == []


def test_unknown_datastream_and_missing_config_id(client: Client) -> None:
    r = client.post("/ee/v1/interact", {"events": [web_event()]}, query="configId=ffffffff-0000-4000-8000-000000000000")
    assert r.status == 400 and r.json()["type"].endswith("unknown-datastream")
    r = client.post("/ee/v1/interact", {"events": [web_event()]})
    assert r.status == 400 and "configId" in r.json()["detail"]
    # IDs compare without regard to case, as everywhere else
    assert client.post("/ee/v1/interact", {"events": [web_event()]}, query=f"configId={DS.upper()}").status == 200


def test_without_org_id_web_sdk_routes_refuse_clearly(tmp_path: Path) -> None:
    client = make_client(tmp_path, org_id=None)
    r = client.post("/ee/v1/interact", {"events": [web_event()]}, query=f"configId={DS}")
    assert r.status == 422 and "org_id" in r.json()["detail"]
    client.close()


# -- Server API -------------------------------------------------------------------------------
SERVER_EVENT = {"event": {"xdm": {"identityMap": {"Email": [{"id": "a@example.com", "primary": True}]}}}}


def test_server_api_gives_attributes_only_to_authenticated_calls(client: Client) -> None:
    put_profile(client, "Email", "a@example.com", {"memberships": [AUD_1], "attributes": {"person": {"name": {"firstName": "Ada"}}}})
    anonymous = client.post("/ee/v2/interact", SERVER_EVENT, query=f"dataStreamId={DS}")
    assert anonymous.status == 200
    assert all("attributes" not in d for d in anonymous.destinations())
    signed_in = client.post("/ee/v2/interact", SERVER_EVENT, query=f"dataStreamId={DS}", headers=bearer())
    by_alias = {d["alias"]: d for d in signed_in.destinations()}
    assert by_alias["personalizationAlias"]["attributes"] == {"firstName": {"value": "Ada"}}
    assert by_alias["personalizationAlias"]["destinationId"] == DEST_B and by_alias["adServerAlias"]["destinationId"] == DEST_A
    assert client.post("/ee/v2/interact", SERVER_EVENT, query=f"dataStreamId={DS}", headers=bearer("wrong-token-0123456789")).status == 401


def test_server_api_needs_a_primary_identity(client: Client) -> None:
    r = client.post("/ee/v2/interact", {"event": {"xdm": {}}}, query=f"dataStreamId={DS}", headers=bearer())
    assert r.status == 400 and "primary" in r.json()["detail"]


def test_authenticated_only_datastream_answers_nothing_to_anonymous_calls(tmp_path: Path) -> None:
    body = small_body()
    body["datastreams"][DS]["access"] = "authenticated-only"
    client = make_client(tmp_path, body)
    put_profile(client, "Email", "a@example.com", {"memberships": [AUD_1]})
    assert client.post("/ee/v2/interact", SERVER_EVENT, query=f"dataStreamId={DS}").destinations() == []
    assert client.post("/ee/v2/interact", SERVER_EVENT, query=f"dataStreamId={DS}", headers=bearer()).destinations() != []
    client.close()


# -- /v1/lookup and profile writes -------------------------------------------------------------
def test_lookup_route(client: Client) -> None:
    r = client.post("/v1/lookup", {"datastream": DS, "memberships": [AUD_1]})
    assert r.status == 200
    assert [d["alias"] for d in r.json()] == ["adServerAlias", "personalizationAlias"]
    with_attributes = client.post("/v1/lookup", {"datastream": DS, "memberships": [AUD_1], "attributes": {"person": {"name": {"firstName": "Ada"}}}}, headers=bearer())
    assert with_attributes.json()[1]["attributes"] == {"firstName": {"value": "Ada"}}
    anonymous = client.post("/v1/lookup", {"datastream": DS, "memberships": [AUD_1], "attributes": {"person": {"name": {"firstName": "Ada"}}}})
    assert "attributes" not in anonymous.json()[1]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"memberships": [AUD_1]}, "'datastream'"),
        ({"datastream": DS, "memberships": [1, 2]}, "memberships"),
        ({"datastream": DS, "segments": [AUD_1]}, "unknown field 'segments'"),
        ({"datastream": DS, "now": "yesterday"}, "'now'"),
        ({"datastream": DS, "attributes": [1]}, "'attributes'"),
        ([DS], "JSON object"),
    ],
)
def test_lookup_route_refuses_bad_bodies(client: Client, body: object, detail: str) -> None:
    r = client.post("/v1/lookup", body)
    assert r.status == 400, r.body
    assert detail in r.json()["detail"]


def test_profile_writes_need_a_token(tmp_path: Path) -> None:
    client = make_client(tmp_path, api_tokens=())
    r = client.request("PUT", f"/v1/profiles/ECID/{ECID}", {"memberships": [AUD_1]}, headers=bearer())
    assert r.status == 403
    client.close()
    client = make_client(tmp_path)
    assert client.request("PUT", f"/v1/profiles/ECID/{ECID}", {"memberships": [AUD_1]}).status == 401
    assert client.request("PUT", f"/v1/profiles/ECID/{ECID}", {"memberships": [AUD_1]}, headers=bearer("x" * 20)).status == 401
    bad = client.request("PUT", f"/v1/profiles/ECID/{ECID}", {"memberships": [AUD_1], "attribute": {}}, headers=bearer())
    assert bad.status == 400 and "did" not in bad.json()["detail"] and "'attribute'" in bad.json()["detail"]
    bad = client.request("PUT", "/v1/profiles/E CID/1", {"memberships": []}, headers=bearer())
    assert bad.status == 400
    client.close()


# -- limits and hostile input -----------------------------------------------------------------
def test_bodies_over_64_kb_are_refused(client: Client) -> None:
    big = b'{"events": [' + b" " * (64 * 1024) + b"]}"
    assert client.post("/ee/v1/interact", big, query=f"configId={DS}").status == 413
    assert client.post("/ee/v1/interact", query=f"configId={DS}", headers={"Content-Length": str(10**9)}).status == 413
    streamed = client.request("POST", "/v1/lookup", chunks=[b" " * 40_000, b" " * 40_000])
    assert streamed.status == 413


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"[]", b'"x"', b'{"events": []}', b'{"events": {}}', b'{"events": [1]}',
     b'{"events": [{"xdm": 1}]}', b'{"events": [{"xdm": {"identityMap": []}}]}',
     b'{"events": [' + b"{}," * 64 + b"{}]}", b"[" * 60_000, b"\xff\xfe"],
)
def test_malformed_interact_bodies_are_400_with_a_problem_document(client: Client, body: bytes) -> None:
    r = client.post("/ee/v1/interact", body, query=f"configId={DS}")
    assert r.status == 400, r.body
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["title"]


def test_unknown_routes_and_methods(client: Client) -> None:
    assert client.get("/nope").status == 404
    r = client.get("/ee/v1/interact")
    assert r.status == 405 and r.headers["allow"] == "POST"


def test_request_id_is_echoed_only_when_safe(client: Client) -> None:
    r = client.post("/ee/v1/interact", {"events": [web_event()]}, query=f"configId={DS}&requestId=%3Cscript%3E")
    assert r.status == 200 and r.json()["requestId"] != "<script>"


# -- CORS ------------------------------------------------------------------------------------
def test_cors_allows_exact_origins_with_credentials(tmp_path: Path) -> None:
    client = make_client(tmp_path, allowed_origins=("https://www.example.com",))
    ok = client.post("/ee/v1/interact", {"events": [web_event()]}, query=f"configId={DS}", headers={"Origin": "https://www.example.com"})
    assert ok.headers["access-control-allow-origin"] == "https://www.example.com"
    assert ok.headers["access-control-allow-credentials"] == "true"
    assert ok.headers["vary"] == "Origin"
    other = client.post("/ee/v1/interact", {"events": [web_event()]}, query=f"configId={DS}", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    preflight = client.request("OPTIONS", "/v1/lookup", headers={"Origin": "https://www.example.com"})
    assert preflight.status == 204 and "POST" in preflight.headers["access-control-allow-methods"]
    assert client.request("OPTIONS", "/v1/lookup", headers={"Origin": "https://evil.example"}).status == 403
    client.close()


def test_a_wildcard_origin_is_refused_by_the_settings(tmp_path: Path) -> None:
    from cpcompile.serve.settings import SettingsError

    with pytest.raises(SettingsError, match="never allowed"):
        make_client(tmp_path, allowed_origins=("*",))


# -- health, metrics, degraded store -------------------------------------------------------------
def test_healthz_and_metrics(client: Client) -> None:
    client.post("/v1/lookup", {"datastream": DS, "memberships": [AUD_1]})
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["revision"].startswith("sha256:")
    assert health["last_reload_error"] is None and health["reload_failures"] == 0
    text = client.get("/metrics").body.decode()
    assert 'cpcompile_requests_total{route="/v1/lookup",status="200"} 1' in text
    assert 'cpcompile_request_duration_seconds_bucket{route="/v1/lookup",le="+Inf"} 1' in text
    assert f'cpcompile_artifact_info{{revision="{health["revision"]}"}} 1' in text
    assert "cpcompile_artifact_reload_failures_total 0" in text
    assert client.get("/readyz").json()["ready"] is True


def test_a_failing_store_gives_degraded_answers_not_errors(tmp_path: Path) -> None:
    client = make_client(tmp_path)
    put_profile(client, "ECID", ECID, {"memberships": [AUD_1]})
    with sqlite3.connect(tmp_path / "profiles.sqlite3") as db:
        db.execute("DROP TABLE profiles")
    cookie = f"{IDENTITY_COOKIE}={encode_identity_cookie(ECID)}"
    r = client.post("/ee/v1/interact", {"events": [web_event()]}, query=f"configId={DS}", headers={"Cookie": cookie})
    assert r.status == 200 and r.destinations() == []
    assert r.headers["x-cpcompile-degraded"] == "profile-store"
    assert 'cpcompile_degraded_answers_total{reason="profile-store"} 1' in client.get("/metrics").body.decode()
    assert client.get("/readyz").status == 200  # SELECT 1 still answers; the table is what is gone
    client.close()


def test_cookie_codec_round_trips_and_rejects_junk() -> None:
    ecid = mint_ecid()
    assert decode_identity_cookie(encode_identity_cookie(ecid)) == ecid
    assert encode_identity_cookie(ECID).startswith("CiY")
    for junk in ["", "!!!", "CiY", "A" * 600, encode_identity_cookie("1234"), "CgA"]:
        assert decode_identity_cookie(junk) is None


def test_a_primary_identity_wins_over_the_device_cookie(client: Client) -> None:
    # a visitor who browsed anonymously (ECID cookie set) and then signed in: Adobe's Edge uses
    # the identity the page marks primary, so the person's memberships count
    put_profile(client, "CRMID", "ada", {"memberships": [AUD_2]})
    put_profile(client, "ECID", ECID, {"memberships": [AUD_1]})
    cookie = f"{IDENTITY_COOKIE}={encode_identity_cookie(ECID)}"
    signed_in = client.post("/ee/v1/interact", {"events": [web_event({"CRMID": [{"id": "ada", "primary": True}]})]},
                            query=f"configId={DS}", headers={"Cookie": cookie})
    assert [[s["id"] for s in d["segments"]] for d in signed_in.destinations()] == [[AUD_2]]
    assert signed_in.handle("identity:result")[0]["payload"][0]["id"] == ECID  # the device keeps its ECID
    anonymous = client.post("/ee/v1/interact", {"events": [web_event()]}, query=f"configId={DS}", headers={"Cookie": cookie})
    assert {d["alias"] for d in anonymous.destinations()} == {"adServerAlias", "personalizationAlias"}


@pytest.mark.parametrize(
    ("consent", "general"),
    [
        ([{"standard": "Adobe", "version": "2.0", "value": {"collect": {"val": "y"}}}], "in"),
        ([{"standard": "Adobe", "version": "2.0", "value": {"collect": {"val": "n"}}}], "out"),
        ([{"standard": "Adobe", "version": "1.0", "value": {"general": "out"}}], "out"),
    ],
)
def test_set_consent_asks_the_sdk_to_store_its_consent_cookie(client: Client, consent: list, general: str) -> None:
    for path in ("/ee/v1/privacy/set-consent", "/ee/or2/v1/privacy/set-consent"):
        r = client.post(path, {"consent": consent, "identityMap": {}}, query=f"configId={DS}&requestId=c1")
        assert r.status == 200, r.body
        stored = {e["key"]: e for h in r.handle("state:store") for e in h["payload"]}
        assert stored["kndctr_ABC123_AdobeOrg_consent"]["value"] == f"general={general}"
        assert r.json()["requestId"] == "c1"


def test_set_consent_refuses_what_it_cannot_read(client: Client) -> None:
    for consent in ([], [{"standard": "IAB TCF", "version": "2.0", "value": "CO..."}], "y"):
        r = client.post("/ee/v1/privacy/set-consent", {"consent": consent}, query=f"configId={DS}")
        assert r.status == 400 and "consent" in r.json()["detail"]
