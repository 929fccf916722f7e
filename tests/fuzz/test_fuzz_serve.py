"""No request to `cpcompile serve`, however hostile, gets a 5xx or an exception."""

from __future__ import annotations


from hypothesis import HealthCheck, given, settings, strategies as st

from runtime_helpers import AUD_1, DS
from serve_helpers import TOKEN, make_client

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
# shapes near the real ones, so the fuzzer gets past the first check
interact_bodies = st.fixed_dictionaries(
    {"events": st.lists(st.fixed_dictionaries({"xdm": st.fixed_dictionaries({"identityMap": st.dictionaries(
        st.sampled_from(["ECID", "Email", "", "a b"]),
        st.lists(st.fixed_dictionaries({"id": json_values, "primary": st.sampled_from([True, False, 1, None])}), max_size=3),
        max_size=3)})}), max_size=3),
     "meta": st.fixed_dictionaries({"state": st.fixed_dictionaries({"entries": st.lists(st.fixed_dictionaries(
         {"key": st.sampled_from(["kndctr_ABC123_AdobeOrg_identity", "x"]), "value": st.text(max_size=60)}), max_size=3)})})},
)
lookup_bodies = st.fixed_dictionaries(
    {"datastream": st.sampled_from([DS, DS.upper(), "", "x"]) | json_values,
     "memberships": st.lists(st.sampled_from([AUD_1, AUD_1.upper()]) | json_values, max_size=4) | json_values},
    optional={"attributes": json_values, "now": json_values},
)
paths = st.sampled_from([
    "/ee/v1/interact", "/ee/or2/v1/interact", "/ee/v2/interact", "/v1/lookup", "/ee/v1/identity/acquire",
    "/v1/profiles/ECID/1", "/v1/profiles/a/b/c", "/healthz", "/metrics", "/", "//", "/ee//v1/interact",
]) | st.text(max_size=30).map(lambda t: "/" + t)
methods = st.sampled_from(["GET", "POST", "PUT", "OPTIONS", "DELETE", "PATCH"])
headers = st.dictionaries(
    st.sampled_from(["Cookie", "Origin", "Authorization", "Content-Length", "X-Other"]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=80) | st.just(f"Bearer {TOKEN}"),
    max_size=4,
)


def _client(tmp_path_factory):
    return make_client(tmp_path_factory.mktemp("fuzz-serve"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(method=methods, path=paths, body=st.one_of(interact_bodies, lookup_bodies, json_values, st.binary(max_size=200)),
       query=st.sampled_from([f"configId={DS}", f"dataStreamId={DS}", "configId=", "requestId=%00", "", "a=%ZZ&&=="]) | st.text(max_size=40),
       header_values=headers)
def test_no_request_gets_a_server_error(tmp_path_factory, method, path, body, query, header_values) -> None:
    client = _CLIENT.get("c") or _CLIENT.setdefault("c", _client(tmp_path_factory))
    response = client.request(method, path, body if isinstance(body, bytes) else _dump(body), query=query, headers=header_values)
    assert response.status < 500, (response.status, response.body)


_CLIENT: dict = {}


def _dump(value: object) -> bytes:
    import json

    return json.dumps(value).encode()
