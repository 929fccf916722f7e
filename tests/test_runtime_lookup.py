"""Artifact.lookup through the public API: inputs, argument errors, returned objects.

The answer semantics (windows, statuses, ordering, attributes) are covered case by case by the
conformance vectors; these tests cover what vectors cannot express.
"""

from __future__ import annotations

import datetime
import types
from collections import OrderedDict
from typing import Any

import pytest
from runtime_helpers import AUD_1, AUD_2, DEST_A, DEST_B, DS, document_bytes

from cpcompile import runtime

ADA = {"person": {"name": {"firstName": "Ada"}}}
INSIDE = 1_500_000_000  # inside AUD_2's window


@pytest.fixture(scope="module")
def artifact() -> runtime.Artifact:
    return runtime.loads(document_bytes())


def _aliases(payload: list[dict[str, Any]]) -> list[str]:
    return [item["alias"] for item in payload]


def test_answer_shape(artifact: runtime.Artifact) -> None:
    assert artifact.lookup(DS, [AUD_1], now=INSIDE) == [
        {
            "type": "profileLookup",
            "destinationId": DEST_A,
            "alias": "adServerAlias",
            "segments": [{"id": AUD_1, "namespace": "ups"}],
        },
        {
            "type": "profileLookup",
            "destinationId": DEST_B,
            "alias": "personalizationAlias",
            "segments": [{"id": AUD_1, "namespace": "ups"}],
        },
    ]


@pytest.mark.parametrize(
    "memberships",
    [
        [AUD_2, AUD_1],
        (AUD_2, AUD_1),
        {AUD_2, AUD_1},
        frozenset({AUD_1, AUD_2}),
        {AUD_1: 1, AUD_2: 2}.keys(),
        iter([AUD_1, AUD_2]),
        (a for a in [AUD_1, AUD_2]),
        OrderedDict({"ups": OrderedDict({AUD_1: {"status": "realized"}, AUD_2: {"status": "existing"}})}),
        types.MappingProxyType({"ups": {AUD_1: {"status": "existing"}, AUD_2: {"status": "realized"}}}),
    ],
    ids=lambda m: type(m).__name__,
)
def test_membership_inputs(artifact: runtime.Artifact, memberships: Any) -> None:
    payload = artifact.lookup(DS, memberships, now=INSIDE)
    assert [[s["id"] for s in item["segments"]] for item in payload] == [[AUD_1], [AUD_1, AUD_2]]


def test_ids_that_are_not_strings_never_match(artifact: runtime.Artifact) -> None:
    assert artifact.lookup(DS, [1, None, b"x", (AUD_1,)], now=INSIDE) == []


@pytest.mark.parametrize(
    "now",
    [
        INSIDE,
        float(INSIDE),
        datetime.datetime.fromtimestamp(INSIDE, datetime.timezone.utc),
        datetime.datetime.fromtimestamp(INSIDE, datetime.timezone(datetime.timedelta(hours=-7))),
        datetime.datetime.fromtimestamp(INSIDE, datetime.timezone.utc).replace(tzinfo=None),
    ],
    ids=["int", "float", "aware-utc", "aware-offset", "naive-is-utc"],
)
def test_now_forms(artifact: runtime.Artifact, now: Any) -> None:
    assert _aliases(artifact.lookup(DS, [AUD_2], now=now)) == ["personalizationAlias"]


def test_naive_datetime_is_utc_not_local_time(artifact: runtime.Artifact) -> None:
    end = datetime.datetime(2033, 5, 18, 3, 33, 20)  # 2_000_000_000 as naive UTC
    assert artifact.lookup(DS, [AUD_2], now=end - datetime.timedelta(seconds=1)) != []
    assert artifact.lookup(DS, [AUD_2], now=end) == []


def test_now_defaults_to_the_clock(artifact: runtime.Artifact) -> None:
    # AUD_2's window ends in 2033
    assert _aliases(artifact.lookup(DS, [AUD_2])) == ["personalizationAlias"]


def test_fractional_now_against_an_integer_end(artifact: runtime.Artifact) -> None:
    assert artifact.lookup(DS, [AUD_2], now=1_999_999_999.999) != []
    assert artifact.lookup(DS, [AUD_2], now=2_000_000_000.0) == []


def test_fresh_objects_each_call(artifact: runtime.Artifact) -> None:
    first = artifact.lookup(DS, [AUD_1], now=INSIDE, attributes=ADA, authenticated=True)
    first[1]["segments"].append({"id": "x"})
    first[1]["segments"][0]["id"] = "changed"
    first[1]["attributes"]["firstName"]["value"] = "changed"
    first[0]["alias"] = "changed"
    first.clear()
    second = artifact.lookup(DS, [AUD_1], now=INSIDE, attributes=ADA, authenticated=True)
    assert second[1] == {
        "type": "profileLookup",
        "destinationId": DEST_B,
        "alias": "personalizationAlias",
        "segments": [{"id": AUD_1, "namespace": "ups"}],
        "attributes": {"firstName": {"value": "Ada"}},
    }
    assert second[0]["alias"] == "adServerAlias"


def test_attribute_mapping_types_accepted(artifact: runtime.Artifact) -> None:
    attributes = types.MappingProxyType({"person": OrderedDict(name={"firstName": "Ada"})})
    payload = artifact.lookup(DS, [], attributes=attributes, authenticated=True)
    assert payload[0]["attributes"] == {"firstName": {"value": "Ada"}}


@pytest.mark.parametrize("value", [float("nan"), float("inf"), object(), b"Ada"])
def test_attribute_values_json_cannot_carry_are_left_out(
    artifact: runtime.Artifact, value: object
) -> None:
    attributes = {"person": {"name": {"firstName": value}}}
    assert artifact.lookup(DS, [], attributes=attributes, authenticated=True) == []


def test_unknown_datastream_is_counted_not_raised(artifact: runtime.Artifact) -> None:
    fresh = runtime.loads(document_bytes())
    assert fresh.stats.unknown_datastreams == 0
    assert fresh.lookup("nope", [AUD_1]) == []
    assert fresh.lookup("", []) == []
    assert fresh.lookup(DS, [AUD_1]) != []
    assert fresh.stats.unknown_datastreams == 2


def test_revision_and_datastream_ids(artifact: runtime.Artifact) -> None:
    assert artifact.revision.startswith("sha256:") and len(artifact.revision) == 71
    assert artifact.datastream_ids == (DS,)
    assert DS[:8] not in repr(artifact) and artifact.revision[:19] in repr(artifact)


@pytest.mark.parametrize("datastream_id", [None, 42, b"ds", ["ds"], {"ds": 1}])
def test_datastream_id_must_be_a_string(artifact: runtime.Artifact, datastream_id: Any) -> None:
    with pytest.raises(TypeError, match="datastream_id must be a str"):
        artifact.lookup(datastream_id, [AUD_1])


@pytest.mark.parametrize("datastream_id", [DS, "unknown"])
@pytest.mark.parametrize(
    ("memberships", "message"),
    [
        (AUD_1, "not a single str; wrap one ID in a list"),
        (AUD_1.encode(), "not a single bytes"),
        (42, "got int"),
        (None, "got NoneType"),
    ],
)
def test_memberships_must_be_a_collection(
    artifact: runtime.Artifact, datastream_id: str, memberships: Any, message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        artifact.lookup(datastream_id, memberships)


@pytest.mark.parametrize(
    ("memberships", "message"),
    [
        ([[AUD_1]], "must hold audience ID strings"),
        ([{"id": AUD_1}], "must hold audience ID strings"),
        (iter([[AUD_1]]), "must hold audience ID strings"),
        ({"ups": [AUD_1]}, r"segmentMembership\['ups'\] must map audience IDs"),
    ],
)
def test_bad_membership_entries(artifact: runtime.Artifact, memberships: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        artifact.lookup(DS, memberships)


def test_whole_xdm_object_is_refused(artifact: runtime.Artifact) -> None:
    with pytest.raises(ValueError, match=r"xdm\['segmentMembership'\]"):
        artifact.lookup(DS, {"segmentMembership": {"ups": {AUD_1: {"status": "realized"}}}})


@pytest.mark.parametrize(
    ("now", "error", "message"),
    [
        ("2026-01-01", TypeError, "now must be a datetime, Unix seconds"),
        (datetime.date(2026, 1, 1), TypeError, "got date"),
        (True, TypeError, "got bool"),
        (float("nan"), ValueError, "finite"),
        (float("inf"), ValueError, "finite"),
    ],
)
def test_bad_now(artifact: runtime.Artifact, now: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        artifact.lookup(DS, [AUD_1], now=now)


@pytest.mark.parametrize("authenticated", [True, False])
def test_attributes_must_be_a_mapping(artifact: runtime.Artifact, authenticated: bool) -> None:
    with pytest.raises(TypeError, match="attributes must be a mapping"):
        artifact.lookup(DS, [AUD_1], attributes=[("firstName", "Ada")], authenticated=authenticated)


def test_edge_response_envelope(artifact: runtime.Artifact) -> None:
    payload = artifact.lookup(DS, [AUD_1], now=INSIDE)
    assert runtime.edge_response(payload, request_id="r-1") == {
        "requestId": "r-1",
        "handle": [{"type": "activation:pull", "eventIndex": 0, "payload": payload}],
    }


def test_edge_response_makes_up_a_uuid4_request_id() -> None:
    import uuid

    ids = {runtime.edge_response([])["requestId"] for _ in range(50)}
    assert len(ids) == 50
    for request_id in ids:
        parsed = uuid.UUID(request_id)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == request_id


@pytest.mark.parametrize(("payload", "request_id"), [((), None), ([], 7)])
def test_edge_response_argument_types(payload: Any, request_id: Any) -> None:
    with pytest.raises(TypeError):
        runtime.edge_response(payload, request_id=request_id)


# --- statuses: only realized and existing count ---------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    [
        {"status": "exited"}, {"status": "EXITED"}, {"status": "Exited"}, {"status": "REALIZED"},
        {"status": "inactive"}, {"status": ""}, {"status": None}, {"status": 1}, {"status": ["realized"]},
        {}, {"lastQualificationTime": "2026-01-01T00:00:00Z"}, "realized", None, 1, ["realized"],
    ],
    ids=repr,
)
def test_statuses_other_than_realized_or_existing_do_not_count(entry: Any) -> None:
    fresh = runtime.loads(document_bytes())
    assert fresh.lookup(DS, {"ups": {AUD_1: entry}}) == []
    assert fresh.stats.ignored_statuses == 1


def test_ignored_statuses_are_counted_per_entry_of_a_mapped_audience() -> None:
    fresh = runtime.loads(document_bytes())
    memberships = {
        "ups": {AUD_1: {"status": "exited"}, AUD_2: {"status": "existing"}, "unmapped": {"status": "gone"}},
        "CustomerAudienceUpload": {AUD_1: {"status": "odd"}},  # not AUD_1's namespace: not looked at
    }
    assert [[s["id"] for s in item["segments"]] for item in fresh.lookup(DS, memberships, now=INSIDE)] == [[AUD_2]]
    assert fresh.stats.ignored_statuses == 1
    assert "ignored_statuses=1" in repr(fresh.stats)


# --- IDs compare in lower case ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        list, tuple, set, frozenset, lambda ids: dict.fromkeys(ids).keys(), iter, lambda ids: (i for i in ids),
        lambda ids: {"ups": {i: {"status": "realized"} for i in ids}},
        lambda ids: types.MappingProxyType({"ups": {i: {"status": "existing"} for i in ids}}),
    ],
    ids=["list", "tuple", "set", "frozenset", "dict_keys", "iterator", "generator", "map", "mappingproxy"],
)
@pytest.mark.parametrize("case", [str.upper, lambda s: s[:9] + s[9:].upper(), str.lower])
def test_ids_in_any_case_answer_as_lower_case(artifact: runtime.Artifact, make: Any, case: Any) -> None:
    expected = artifact.lookup(DS, make([AUD_1, AUD_2]), now=INSIDE)
    assert [[s["id"] for s in item["segments"]] for item in expected] == [[AUD_1], [AUD_1, AUD_2]]
    assert artifact.lookup(case(DS), make([case(AUD_1), case(AUD_2)]), now=INSIDE) == expected


def test_one_id_in_two_cases_counts_once(artifact: runtime.Artifact) -> None:
    payload = artifact.lookup(DS, [AUD_1, AUD_1.upper(), 7], now=INSIDE)
    assert [item["segments"] for item in payload] == [[{"id": AUD_1, "namespace": "ups"}]] * 2
    # in a map, a member entry under either spelling counts
    memberships = {"ups": {AUD_1.upper(): {"status": "exited"}, AUD_1: {"status": "realized"}}}
    assert len(artifact.lookup(DS, memberships, now=INSIDE)) == 2
    memberships = {"ups": {AUD_1: {"status": "exited"}, AUD_1.upper(): {"status": "realized"}}}
    assert len(artifact.lookup(DS, memberships, now=INSIDE)) == 2


def test_an_unknown_datastream_in_upper_case_is_still_unknown() -> None:
    fresh = runtime.loads(document_bytes())
    assert fresh.lookup("NO-SUCH-DATASTREAM", [AUD_1]) == []
    assert fresh.stats.unknown_datastreams == 1


# --- access: authenticated-only datastreams answer authenticated calls only -----------------------


@pytest.fixture(scope="module")
def signed_in_only() -> runtime.Artifact:
    from runtime_helpers import small_body

    body = small_body()
    body["datastreams"][DS]["access"] = "authenticated-only"
    return runtime.loads(document_bytes(body))


def test_unauthenticated_lookup_on_authenticated_only_answers_nothing(signed_in_only: runtime.Artifact) -> None:
    before = signed_in_only.stats.refused_unauthenticated
    assert signed_in_only.lookup(DS, [AUD_1], now=INSIDE) == []
    assert signed_in_only.lookup(DS.upper(), {"ups": {AUD_1: {"status": "realized"}}}, attributes=ADA) == []
    assert signed_in_only.stats.refused_unauthenticated == before + 2
    assert signed_in_only.stats.unknown_datastreams == 0


def test_authenticated_lookup_on_authenticated_only_answers(signed_in_only: runtime.Artifact, artifact: runtime.Artifact) -> None:
    kwargs: dict[str, Any] = {"now": INSIDE, "attributes": ADA, "authenticated": True}
    assert signed_in_only.lookup(DS, [AUD_1], **kwargs) == artifact.lookup(DS, [AUD_1], **kwargs) != []


@pytest.mark.parametrize(
    ("memberships", "kwargs", "error"),
    [
        (AUD_1, {}, TypeError), (None, {}, TypeError), ([AUD_1], {"now": "today"}, TypeError),
        ([AUD_1], {"now": float("nan")}, ValueError), ([AUD_1], {"attributes": [1]}, TypeError),
    ],
)
def test_refused_lookups_still_check_their_arguments(
    signed_in_only: runtime.Artifact, memberships: Any, kwargs: dict[str, Any], error: type
) -> None:
    with pytest.raises(error):
        signed_in_only.lookup(DS, memberships, **kwargs)


# --- attribute values JSON cannot carry exactly -----------------------------------------------------


class _HugeInt(int):
    def __repr__(self) -> str:
        return "10**5000"


@pytest.mark.parametrize(
    "value",
    [_HugeInt(10**5000), 2**53, -(2**53), 2**64, "\ud800", "Ad\udcffa", float("-inf")],
    ids=["10**5000", "2**53", "-2**53", "2**64", "lone-high-surrogate", "lone-low-surrogate", "-inf"],
)
def test_attribute_values_json_cannot_carry_exactly_are_left_out(artifact: runtime.Artifact, value: object) -> None:
    import json

    payload = artifact.lookup(DS, [], attributes={"person": {"name": {"firstName": value}}}, authenticated=True)
    assert payload == []
    json.dumps(payload, allow_nan=False).encode("utf-8")


@pytest.mark.parametrize("value", [2**53 - 1, -(2**53 - 1), 0, True, -0.0, 1e308, "Zoë 😀", ""])
def test_attribute_values_json_carries_are_kept(artifact: runtime.Artifact, value: object) -> None:
    payload = artifact.lookup(DS, [], attributes={"person": {"name": {"firstName": value}}}, authenticated=True)
    assert payload[0]["attributes"] == {"firstName": {"value": value}}


@pytest.mark.parametrize("audience", ["seg-zz", "kunden-München", "b2"])
def test_ids_that_are_not_hex_also_compare_in_lower_case(audience: str) -> None:
    # the compiler writes lower-case UUIDs; an artifact made otherwise may hold other IDs
    from runtime_helpers import small_body

    body = small_body()
    audiences = body["datastreams"][DS]["audiences"]
    audiences[audience.lower()] = audiences.pop(AUD_1)
    fresh = runtime.loads(document_bytes(body))
    for memberships in ([audience.upper()], {"ups": {audience.upper(): {"status": "realized"}}}):
        payload = fresh.lookup(DS, memberships, now=INSIDE)
        assert [item["segments"] for item in payload] == [[{"id": audience.lower(), "namespace": "ups"}]] * 2
