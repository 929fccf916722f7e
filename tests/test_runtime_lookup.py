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
        OrderedDict({"ups": OrderedDict({AUD_1: {"status": "realized"}, AUD_2: {}})}),
        types.MappingProxyType({"ups": {AUD_1: {}, AUD_2: {"status": "existing"}}}),
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
        ({"ups": {AUD_1: "realized"}}, r"must be an object like \{'status': 'realized'\}"),
    ],
)
def test_bad_membership_entries(artifact: runtime.Artifact, memberships: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        artifact.lookup(DS, memberships)


def test_whole_xdm_object_is_refused(artifact: runtime.Artifact) -> None:
    with pytest.raises(ValueError, match=r"xdm\['segmentMembership'\]"):
        artifact.lookup(DS, {"segmentMembership": {"ups": {AUD_1: {}}}})


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
