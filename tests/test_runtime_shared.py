"""``Artifact.lookup_shared``: ``lookup``'s answer with segments shared between calls, and the
per-datastream plan both lookups answer the common request from (current time, IDs)."""

from __future__ import annotations

import copy
import json
import pickle
import random
import sys
import threading
import time
import types
from typing import Any

import pytest
from runtime_helpers import AUD_1, AUD_2, DAY, DS, document_bytes, random_body, small_body

from cpcompile import runtime
from cpcompile.artifact_format.document import canonical_json, make_document

def _profiles(rng: random.Random, artifact: runtime.Artifact, body: dict[str, Any]) -> Any:
    everything = sorted({a for e in body["datastreams"].values() for a in e["audiences"]})
    for datastream_id in artifact.datastream_ids:
        mapped = sorted(body["datastreams"][datastream_id]["audiences"])
        for _ in range(60):
            size = rng.choice([0, 1, 2, 4, 5, 8, 50])
            ids = rng.sample(mapped, min(size, len(mapped))) + rng.sample(everything, rng.randint(0, 5))
            if rng.random() < 0.2:
                ids = [i.upper() if rng.random() < 0.5 else i for i in ids]
            if rng.random() < 0.1:
                ids += ids[:3]  # the same ID twice
            container = rng.choice([list, tuple, set, frozenset, lambda i: dict.fromkeys(i).keys()])
            yield datastream_id, container(ids)


def test_answers_equal_lookups_on_random_profiles() -> None:
    rng = random.Random(13)
    for _ in range(3):
        now = time.time()
        body = random_body(rng, now)
        artifact = runtime.loads(canonical_json(make_document(body)))
        for datastream_id, ids in _profiles(rng, artifact, body):
            shared = artifact.lookup_shared(datastream_id, ids)
            fresh = artifact.lookup(datastream_id, ids)
            # with `now` given, lookup takes its general path, which walks every mapping
            assert shared == fresh == artifact.lookup(datastream_id, ids, now=time.time())
            assert json.loads(artifact.lookup_bytes(datastream_id, ids)) == shared
            assert json.loads(json.dumps(shared)) == shared


@pytest.fixture(scope="module")
def artifact() -> runtime.Artifact:
    return runtime.loads(document_bytes())


def test_segments_are_shared_and_read_only(artifact: runtime.Artifact) -> None:
    first = artifact.lookup_shared(DS, [AUD_1, AUD_2])
    second = artifact.lookup_shared(DS, [AUD_2, AUD_1])
    assert first == second == artifact.lookup(DS, [AUD_1, AUD_2])
    segment = first[1]["segments"][0]
    assert segment is second[1]["segments"][0]
    assert segment == {"id": AUD_1, "namespace": "ups"}
    changes = [
        lambda: segment.__setitem__("id", "x"),
        lambda: segment.__delitem__("id"),
        lambda: segment.update(id="x"),
        lambda: segment.pop("id"),
        lambda: segment.popitem(),
        lambda: segment.clear(),
        lambda: segment.setdefault("other", "x"),
        lambda: segment.__ior__({"id": "x"}),
    ]
    for change in changes:
        with pytest.raises(TypeError, match="shared between answers"):
            change()
    assert artifact.lookup_shared(DS, [AUD_1])[0]["segments"] == [{"id": AUD_1, "namespace": "ups"}]
    # copies are plain dicts that can be changed
    for duplicate in (dict(segment), segment.copy(), copy.copy(segment), copy.deepcopy(segment),
                      pickle.loads(pickle.dumps(segment)), segment | {"x": "y"}):
        assert type(duplicate) is dict
        duplicate["id"] = "changed"
    assert segment["id"] == AUD_1


@pytest.mark.parametrize("ids", [[AUD_1], [AUD_1, AUD_2]])
def test_lists_and_items_are_new_each_call(artifact: runtime.Artifact, ids: list[str]) -> None:
    expected = artifact.lookup_shared(DS, ids)
    first = artifact.lookup_shared(DS, ids)
    first[0]["alias"] = "changed"
    first[0]["segments"].append({"id": "x"})
    first.append({})
    assert artifact.lookup_shared(DS, ids) == expected != first


def test_lookup_answers_from_the_plan_with_new_objects() -> None:
    """lookup with the current time answers few hits from the plan too: copies of its
    segments, never the shared ones."""
    now = time.time()
    body = random_body(random.Random(5), now)
    artifact = runtime.loads(canonical_json(make_document(body)))
    for datastream_id in artifact.datastream_ids:
        ids = list(body["datastreams"][datastream_id]["audiences"])[:3]
        shared = artifact.lookup_shared(datastream_id, ids)
        fresh = artifact.lookup(datastream_id, ids)
        assert fresh == shared
        for item, shared_item in zip(fresh, shared):
            for segment, shared_segment in zip(item["segments"], shared_item["segments"]):
                assert type(segment) is dict and segment is not shared_segment
                segment["id"] = "changed"
        assert artifact.lookup_shared(datastream_id, ids) == shared


def test_the_plan_follows_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plan holds between two window bounds; past one, it is made again."""
    import cpcompile.runtime._artifact as implementation

    artifact = runtime.loads(document_bytes())  # AUD_2: destination 1 from 1e9 to 2e9
    clock = [999_999_999.5]
    monkeypatch.setattr(implementation, "_time", lambda: clock[0])
    for lookup in (artifact.lookup_shared, artifact.lookup):
        clock[0] = 999_999_999.5
        assert lookup(DS, [AUD_2]) == []
        clock[0] = 1_000_000_000
        assert [item["alias"] for item in lookup(DS, [AUD_2])] == ["personalizationAlias"]
        clock[0] = 1_999_999_999.9
        assert [item["alias"] for item in lookup(DS, [AUD_2])] == ["personalizationAlias"]
        clock[0] = 2_000_000_000
        assert lookup(DS, [AUD_2]) == []
        clock[0] = 1_500_000_000  # the clock went back
        assert lookup(DS, [AUD_2, AUD_1])[1]["segments"] == [
            {"id": AUD_1, "namespace": "ups"}, {"id": AUD_2, "namespace": "ups"}
        ]


def test_an_audience_mapped_twice_to_one_destination_is_listed_twice() -> None:
    """Two mappings of one audience to one destination that both hold now (two windows) give
    it two places in that destination's segments, as the general path (``now`` given) does,
    on its first hit and after."""
    now = time.time()
    body = small_body()
    body["datastreams"][DS]["audiences"][AUD_1]["mappings"] = [
        {"destination": 0, "end": int(now + DAY), "start": int(now - DAY)},
        {"destination": 0, "start": int(now - 2 * DAY)},
        {"destination": 1},
    ]
    artifact = runtime.loads(document_bytes(body))
    expected = artifact.lookup(DS, [AUD_1, AUD_2], now=now)
    assert [len(item["segments"]) for item in expected] == [2, 2]
    for _ in range(2):
        assert artifact.lookup_shared(DS, [AUD_2, AUD_1]) == expected
        assert artifact.lookup(DS, [AUD_1, AUD_2]) == expected


def test_first_hits_in_many_threads_answer_as_one_thread() -> None:
    """Threads that hit the same audiences of new plans for the first time, each making their
    segments, all get the whole answer."""
    rng = random.Random(21)
    body = random_body(rng, time.time())
    data = canonical_json(make_document(body))
    reference = runtime.loads(data)
    profiles = list(_profiles(rng, reference, body))
    expected = [reference.lookup(datastream_id, ids) for datastream_id, ids in profiles]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    try:
        for _ in range(3):
            artifact = runtime.loads(data)
            answers: list[list[Any]] = [[] for _ in range(4)]
            start = threading.Barrier(len(answers))

            def ask(answers: list[Any]) -> None:
                start.wait()
                for datastream_id, ids in profiles:
                    answers.append(artifact.lookup_shared(datastream_id, ids))

            threads = [threading.Thread(target=ask, args=(a,)) for a in answers]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert all(a == expected for a in answers)
    finally:
        sys.setswitchinterval(interval)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((DS, {"ups": {AUD_1: {"status": "realized"}, AUD_2: {"status": "exited"}}}), {}),
        ((DS, types.MappingProxyType({"ups": {AUD_1: {"status": "existing"}}})), {}),
        ((DS, "iterator"), {}),
        ((DS, [AUD_1, AUD_2]), {"now": 1_500_000_000}),
        ((DS, [AUD_1]), {"attributes": {"person": {"name": {"firstName": "Ada"}}}, "authenticated": True}),
        ((DS.upper(), [AUD_1]), {}),
        ((DS, [AUD_1.upper(), 7, None]), {}),
        (("no-such-datastream", [AUD_1]), {}),
    ],
    ids=["map", "mappingproxy", "iterator", "now", "attributes", "upper-case-datastream", "mixed-ids", "unknown"],
)
def test_other_requests_answer_as_lookup(args: tuple[Any, Any], kwargs: dict[str, Any]) -> None:
    shared, fresh = runtime.loads(document_bytes()), runtime.loads(document_bytes())
    if args[1] == "iterator":  # one-shot: one for each call
        assert shared.lookup_shared(DS, iter([AUD_1, AUD_2])) == fresh.lookup(DS, iter([AUD_1, AUD_2])) != []
    else:
        assert shared.lookup_shared(*args, **kwargs) == fresh.lookup(*args, **kwargs)
    assert repr(shared.stats) == repr(fresh.stats)


@pytest.mark.parametrize(
    ("datastream_id", "memberships", "kwargs"),
    [
        (7, [AUD_1], {}),
        (DS, AUD_1, {}),
        (DS, 7, {}),
        (DS, [[AUD_1]], {}),
        (DS, [AUD_1], {"now": "tomorrow"}),
        (DS, [AUD_1], {"attributes": [1]}),
    ],
)
def test_bad_arguments_raise_as_in_lookup(
    artifact: runtime.Artifact, datastream_id: Any, memberships: Any, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(TypeError) as expected:
        artifact.lookup(datastream_id, memberships, **kwargs)
    with pytest.raises(TypeError) as raised:
        artifact.lookup_shared(datastream_id, memberships, **kwargs)
    assert str(raised.value) == str(expected.value)


def test_authenticated_only_datastreams_answer_as_lookup() -> None:
    body = json.loads(document_bytes())["body"]
    body["datastreams"][DS]["access"] = "authenticated-only"
    artifact = runtime.loads(canonical_json(make_document(body)))
    assert artifact.lookup_shared(DS, [AUD_1]) == []
    assert artifact.stats.refused_unauthenticated == 1
    assert artifact.lookup_shared(DS, [AUD_1], authenticated=True) == artifact.lookup(
        DS, [AUD_1], authenticated=True
    ) != []
