"""Artifact.lookup_bytes and edge_response_bytes: the encoded answers servers send.

Whatever the request, ``json.loads(lookup_bytes(...))`` must equal ``lookup(...)`` with the
same arguments, raise the same errors and count the same statistics; each conformance vector
and generated requests check it.
"""

from __future__ import annotations

import datetime
import json
import os
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from runtime_helpers import AUD_1, AUD_2, DS, document_bytes

from cpcompile import runtime
from cpcompile.artifact_format.document import canonical_json, make_document

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "conformance")
VECTOR_DIR = os.path.join(HERE, "vectors")

# strings that JSON must escape, and some it must not
TRICKY_ALIAS = 'say "hi" \\ back\nslash\t\u00e9\u2028\U0001f600\x7f\x01'
DS_T = "aa000000-0000-4000-8000-0000000000d5"
DEST_T = ["d0000000-0000-4000-8000-00000000000" + str(i) for i in range(3)]
AUDIENCES_T = ["a0000000-0000-4000-8000-00000000000" + c for c in "0123456789"]
WEIRD_AUDIENCE = "Segment \"quoted\" \u00fc\\"


def _tricky_body() -> dict[str, Any]:
    """Three destinations (aliases that need escaping, one with attributes), audiences mapped
    once, several times, with windows, in two namespaces, and an ID that is not a UUID."""
    audiences: dict[str, Any] = {}
    for i, audience_id in enumerate(AUDIENCES_T):
        mappings: list[dict[str, int]] = [{"destination": i % 3}]
        if i % 3 == 1:
            mappings.append({"destination": 2, "end": 2_000_000_000, "start": 1_000_000_000})
        if i % 4 == 3:
            mappings = [{"destination": 0, "start": 1_500_000_000}]
        audiences[audience_id] = {
            "mappings": mappings,
            "namespace": "CustomerAudienceUpload" if i % 5 == 4 else "ups",
        }
    audiences[WEIRD_AUDIENCE] = {"mappings": [{"destination": 1}], "namespace": "ups"}
    return {
        "datastreams": {
            DS_T: {
                "access": "mixed",
                "destinations": [
                    {"alias": TRICKY_ALIAS, "destinationId": DEST_T[0]},
                    {"alias": "plain", "destinationId": DEST_T[1]},
                    {
                        "alias": "with attributes \u00e9",
                        "attributes": [
                            {"source": "person.name.firstName", "target": "first \"name\""},
                            {"source": "loyalty.points", "target": "points"},
                        ],
                        "destinationId": DEST_T[2],
                    },
                ],
                "audiences": dict(sorted(audiences.items())),
            }
        }
    }


@pytest.fixture(scope="module")
def tricky() -> runtime.Artifact:
    return runtime.loads(canonical_json(make_document(_tricky_body())))


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "ok", call()
    except Exception as e:  # the type is compared, the message may name the method
        return "raised", type(e)


def _same_answer(artifact: runtime.Artifact, *args: Any, **kwargs: Any) -> Any:
    """Both methods on the same arguments, each on a fresh artifact-level counter snapshot."""
    before = _counters(artifact)
    expected = _outcome(lambda: artifact.lookup(*args, **kwargs))
    middle = _counters(artifact)
    encoded = _outcome(lambda: artifact.lookup_bytes(*args, **kwargs))
    after = _counters(artifact)
    assert [middle[i] - before[i] for i in range(3)] == [after[i] - middle[i] for i in range(3)]
    assert expected[0] == encoded[0], (expected, encoded)
    if expected[0] == "raised":
        assert expected[1] is encoded[1]
        return None
    assert type(encoded[1]) is bytes
    assert json.loads(encoded[1].decode("utf-8")) == expected[1]
    # and the same as the obvious encoding of lookup's answer
    assert json.loads(json.dumps(expected[1])) == json.loads(encoded[1])
    return expected[1]


def _counters(artifact: runtime.Artifact) -> list[int]:
    s = artifact.stats
    return [s.unknown_datastreams, s.ignored_statuses, s.refused_unauthenticated]


# --- the conformance vectors -------------------------------------------------------------------


def _vector_cases() -> list[Any]:
    params = []
    for filename in sorted(os.listdir(VECTOR_DIR)):
        if not filename.endswith(".json"):
            continue
        with open(os.path.join(VECTOR_DIR, filename), encoding="utf-8") as f:
            vector = json.load(f)
        for case in vector["cases"]:
            params.append(pytest.param(vector["artifact"], case, id=f"{filename[:-5]}:{case['name']}"))
    return params


_loaded: dict[str, runtime.Artifact] = {}


def _vector_artifact(spec: dict[str, Any]) -> runtime.Artifact:
    key = json.dumps(spec, sort_keys=True)
    if key not in _loaded:
        if "file" in spec:
            _loaded[key] = runtime.load(os.path.join(HERE, spec["file"]))
        else:
            _loaded[key] = runtime.loads(canonical_json(make_document(spec["body"])))
    return _loaded[key]


@pytest.mark.parametrize(("artifact", "case"), _vector_cases())
def test_vector(artifact: dict[str, Any], case: dict[str, Any]) -> None:
    request = case["request"]
    loaded = _vector_artifact(artifact)
    encoded = loaded.lookup_bytes(
        request["datastream"],
        request["memberships"],
        now=request["now"],
        attributes=request.get("attributes"),
        authenticated=request.get("authenticated", False),
    )
    assert json.loads(encoded) == case["expected"]
    _same_answer(
        loaded,
        request["datastream"],
        request["memberships"],
        now=request["now"],
        attributes=request.get("attributes"),
        authenticated=request.get("authenticated", False),
    )


# --- generated requests ------------------------------------------------------------------------

_ids = st.sampled_from(AUDIENCES_T + [WEIRD_AUDIENCE, "not-mapped", AUD_1])
_spelled = st.tuples(_ids, st.sampled_from(["as is", "upper", "title"])).map(
    lambda p: p[0].upper() if p[1] == "upper" else p[0].title() if p[1] == "title" else p[0]
)
_members = st.one_of(
    st.lists(_spelled, max_size=14),
    st.lists(_spelled, max_size=14).map(tuple),
    st.sets(_spelled, max_size=14),
    st.lists(st.one_of(_spelled, st.integers(), st.none()), max_size=5),
    st.dictionaries(
        st.sampled_from(["ups", "CustomerAudienceUpload", "other"]),
        st.dictionaries(
            _spelled,
            st.one_of(
                st.fixed_dictionaries(
                    {"status": st.sampled_from(["realized", "existing", "exited", "REALIZED", None])}
                ),
                st.just("realized"),
                st.none(),
            ),
            max_size=8,
        ),
        max_size=3,
    ),
    st.just("a bare string"),
    st.just(42),
)
_now = st.one_of(
    st.none(),
    st.integers(min_value=900_000_000, max_value=2_100_000_000),
    st.floats(min_value=9e8, max_value=2.1e9),
    st.just(float("nan")),
    st.just("yesterday"),
    st.integers(min_value=900_000_000, max_value=2_100_000_000).map(
        lambda s: datetime.datetime.fromtimestamp(s, datetime.timezone.utc)
    ),
)
_attribute_values = st.one_of(
    st.text(max_size=6),
    st.integers(min_value=-(2**60), max_value=2**60),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
)
_attributes = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "person": st.fixed_dictionaries({}, optional={"name": st.fixed_dictionaries({}, optional={"firstName": _attribute_values})}),
            "loyalty": st.one_of(st.fixed_dictionaries({}, optional={"points": _attribute_values}), st.text(max_size=3)),
        },
    ),
    st.just(["not", "a", "mapping"]),
)
_datastreams = st.sampled_from([DS_T, DS_T.upper(), DS, "unknown-datastream", 7, ["unhashable"]])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    datastream=_datastreams,
    memberships=_members,
    now=_now,
    attributes=_attributes,
    authenticated=st.booleans(),
)
def test_generated_requests_answer_alike(
    tricky: runtime.Artifact,
    datastream: Any,
    memberships: Any,
    now: Any,
    attributes: Any,
    authenticated: bool,
) -> None:
    _same_answer(
        tricky, datastream, memberships, now=now, attributes=attributes, authenticated=authenticated
    )


def test_escaping_and_windows(tricky: runtime.Artifact) -> None:
    everything = AUDIENCES_T + [WEIRD_AUDIENCE]
    for now in (1_200_000_000, 1_600_000_000, 2_050_000_000):
        payload = _same_answer(tricky, DS_T, everything, now=now)
        assert payload[0]["alias"] == TRICKY_ALIAS
        assert [item["destinationId"] for item in payload] == DEST_T
    encoded = tricky.lookup_bytes(DS_T, [WEIRD_AUDIENCE], now=1_600_000_000)
    assert encoded.decode("utf-8") == json.dumps(
        tricky.lookup(DS_T, [WEIRD_AUDIENCE], now=1_600_000_000),
        ensure_ascii=False,
        separators=(",", ":"),
    )


def test_repeated_calls_give_the_same_bytes(tricky: runtime.Artifact) -> None:
    # the fragments are encoded on first use and kept: later answers must not change
    first = [tricky.lookup_bytes(DS_T, AUDIENCES_T[:k], now=1_600_000_000) for k in range(11)]
    again = [tricky.lookup_bytes(DS_T, AUDIENCES_T[:k], now=1_600_000_000) for k in range(11)]
    assert first == again
    assert first[0] == b"[]"


def test_empty_answers_are_empty_arrays() -> None:
    artifact = runtime.loads(document_bytes())
    assert artifact.lookup_bytes("unknown", [AUD_1]) == b"[]"
    assert artifact.lookup_bytes(DS, []) == b"[]"
    assert artifact.lookup_bytes(DS, [AUD_2], now=0) == b"[]"
    assert artifact.stats.unknown_datastreams == 1


# --- edge_response_bytes -----------------------------------------------------------------------


@pytest.mark.parametrize("request_id", ["req-1", "\u00e9\"\\\n", "\ud800 lone"])
def test_edge_response_bytes_is_edge_response(request_id: str) -> None:
    artifact = runtime.loads(document_bytes())
    payload = artifact.lookup(DS, [AUD_1, AUD_2], now=1_500_000_000)
    encoded = artifact.lookup_bytes(DS, [AUD_1, AUD_2], now=1_500_000_000)
    body = runtime.edge_response_bytes(encoded, request_id=request_id)
    assert json.loads(body) == runtime.edge_response(payload, request_id=request_id)


def test_edge_response_bytes_makes_up_a_request_id() -> None:
    first = json.loads(runtime.edge_response_bytes(b"[]"))
    second = json.loads(runtime.edge_response_bytes(b"[]"))
    assert first["requestId"] != second["requestId"]
    assert first["handle"] == [{"type": "activation:pull", "eventIndex": 0, "payload": []}]


@pytest.mark.parametrize(
    ("payload", "request_id"), [([], None), ("[]", None), (b"[]", 5)], ids=["list", "str", "id"]
)
def test_edge_response_bytes_refuses_wrong_types(payload: Any, request_id: Any) -> None:
    with pytest.raises(TypeError):
        runtime.edge_response_bytes(payload, request_id=request_id)
