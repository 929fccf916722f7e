"""Loading proves a canonical artifact.json on its bytes and decodes each datastream's audiences
on the first lookup that needs them: it must accept and refuse exactly what decoding everything
first does (``read_document`` then ``Artifact``), with the same errors, and answer the same."""

from __future__ import annotations

import os
import json
import random
import threading
import time
from typing import Any

import pytest
from runtime_helpers import DS, apply_edits, byte_edits, random_body, small_body, with_body_bytes

from cpcompile import runtime
from cpcompile.artifact_format.document import canonical_json, make_document, read_document

NOW = 1_600_000_000


def _outcome(load: Any, data: bytes) -> Any:
    """What loading gives: the error, or every answer of every datastream."""
    try:
        artifact = load(data)
    except (runtime.ArtifactError, ValueError) as error:
        return type(error).__name__, str(error)
    every_id = sorted(
        {audience for entry in json.loads(data)["body"]["datastreams"].values() for audience in entry["audiences"]}
    )
    return [artifact.lookup(ds, every_id, now=NOW) for ds in artifact.datastream_ids] + [
        artifact.lookup(ds, every_id) for ds in artifact.datastream_ids
    ]


def _decoding_everything(data: bytes) -> runtime.Artifact:
    return runtime.Artifact(read_document(data))


def _agree(data: bytes) -> Any:
    expected = _outcome(_decoding_everything, data)
    assert _outcome(runtime.loads, data) == expected
    return expected


def _body(destinations: int = 3) -> dict[str, Any]:
    body = random_body(random.Random(destinations), NOW, datastreams=3)
    entry = body["datastreams"][DS] = small_body()["datastreams"][DS]
    entry["destinations"] = [{"alias": f"a{d}", "destinationId": f"d{d}"} for d in range(destinations)]
    entry["audiences"] = {
        f"{i:02d}000000-0000-4000-8000-000000000000": {
            "mappings": [{"destination": i % destinations}]
            + ([{"destination": (i + 1) % destinations, "end": NOW + 9, "start": NOW - 9}] if i % 3 == 0 else []),
            "namespace": "ups",
        }
        for i in range(12)
    }
    entry["audiences"]["üñí-audience"] = {"mappings": [{"destination": 0, "end": NOW - 1}], "namespace": "ups"}
    return body


_CANONICAL = canonical_json(_body())


def test_a_canonical_artifact_is_not_decoded_until_asked() -> None:
    artifact = runtime.loads(with_body_bytes(_CANONICAL))
    # the audiences wait, proven, for the first lookup of their datastream
    assert len(artifact._pending) == 4
    assert artifact.lookup(DS, ["01000000-0000-4000-8000-000000000000"], now=NOW) != []
    assert len(artifact._pending) == 3
    _agree(with_body_bytes(_CANONICAL))


@pytest.mark.parametrize("seed", range(4))
def test_random_artifacts_answer_alike(seed: int) -> None:
    body = random_body(random.Random(seed), time.time())
    _agree(canonical_json(make_document(body)))


@pytest.mark.parametrize("count", [0, 1, 2, 3, 9, 10, 11, 19, 20, 99, 100, 101, 250, 1000])
def test_destinations_out_of_range_are_refused(count: int) -> None:
    body = _body(max(count, 1))
    entry = body["datastreams"][DS]
    entry["destinations"] = entry["destinations"][:count]
    entry["audiences"] = {"00000000-0000-4000-8000-000000000000": {"mappings": [{"destination": 0}], "namespace": "ups"}}
    tried = {0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 10**9 - 1} | {count + d for d in (-11, -10, -2, -1, 0, 1, 9, 10)}
    for destination in sorted(d for d in tried if d >= 0):
        entry["audiences"]["00000000-0000-4000-8000-000000000000"]["mappings"] = [{"destination": destination}]
        outcome = _agree(with_body_bytes(canonical_json(body)))
        assert (destination < count) == (type(outcome) is list), (count, destination)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b'"destination":1', b'"destination":-1'),
        (b'"destination":1', b'"destination":-0'),
        (b'"destination":1', b'"destination":01'),
        (b'"destination":1', b'"destination":1.0'),
        (b'"destination":1', b'"destination":true'),
        (b'"destination":1', b'"destination":"1"'),
        (b'"destination":1', b'"destination":1000000000'),
        (b'"destination":1', b'"destination":99999999999999999999'),
        (b'"end":' + str(NOW + 9).encode(), b'"end":' + b"9" * 19),
        (b'"end":' + str(NOW + 9).encode(), b'"end":' + b"9" * 5000),
        (b'"end":' + str(NOW + 9).encode(), b'"end":-' + b"9" * 18),
        (b'"end":' + str(NOW + 9).encode(), b'"end":null'),
        (b'"namespace":"ups"', b'"namespace":""'),
        (b'"namespace":"ups"', b'"namespace":1'),
        (b'"namespace":"ups"', b'"namespace":"u\\u0070s"'),
        (b'"namespace":"ups"', b'"namespace":"up\xffs"'),
        (b'"namespace":"ups"', b'"namespace":"up\xed\xa0\x80s"'),
        (b'"namespace":"ups"', b'"namespace":"ups","x":1'),
        (b'"01000000', b'""'),
        (b'"01000000', b'"00000000'),
        (b'"01000000', b'"00\x00000000'),
        (b'"mappings":[{"destination":1}]', b'"mappings":[]'),
        (b'"mappings":[{"destination":1}]', b'"mappings":{}'),
        (b'"mappings":[{"destination":1}]', b'"mappings":[{"destination":1},{"destination":1}]'),
        (b'"mappings":[{"destination":1}]', b'"mappings":[{"destination":1,"x":2}]'),
        (b'"mappings":[{"destination":1}]', b'"mappings":[{}]'),
        (b'"mappings":[{"destination":1}]', b'"mappings":[1]'),
        (b"[{", b"[ {"),
    ],
)
def test_edits_inside_the_audiences(old: bytes, new: bytes) -> None:
    """The first occurrence of ``old`` is in the first datastream's audiences, which the
    proof reads on the bytes; each edit gets the same answer as decoding everything."""
    assert old in _CANONICAL
    data = with_body_bytes(_CANONICAL.replace(old, new, 1))
    try:
        _agree(data)
    except ValueError:  # not JSON at all: both refuse it, as ArtifactCorrupt
        with pytest.raises(runtime.ArtifactCorrupt):
            runtime.loads(data)


def test_random_edits_agree() -> None:
    from hypothesis import given, settings

    pieces = [
        b" ", b",", b"{}", b"[]", b"0", b"1", b"9", b"10", b"-", b'"', b"\\", b"\\u0030", b"\xc3\xa9", b"\xff",
        b'"audiences":{}', b'"destination":', b'"start":', b'{"destination":2}', b'"mappings":[', b"}", b"]",
        b'"namespace":"x"', b"},", b"00",
    ]

    @settings(max_examples=400, deadline=None)
    @given(byte_edits(len(_CANONICAL), 30, pieces))
    def check(changes: list[tuple[int, int, bytes]]) -> None:
        data = with_body_bytes(apply_edits(_CANONICAL, changes))
        try:
            _agree(data)
        except ValueError:
            with pytest.raises(runtime.ArtifactCorrupt):
                runtime.loads(data)

    check()


def test_a_changed_body_byte_fails_its_revision() -> None:
    data = with_body_bytes(_CANONICAL)
    at = data.index(b'"destination":1') + len(b'"destination":')
    with pytest.raises(runtime.RevisionMismatch):
        runtime.loads(data[:at] + b"2" + data[at + 1 :])


def test_threads_decoding_one_datastream_at_once_answer_alike() -> None:
    body = random_body(random.Random(3), time.time(), datastreams=40)
    data = canonical_json(make_document(body))
    expected = _decoding_everything(data)
    every_id = sorted({a for entry in body["datastreams"].values() for a in entry["audiences"]})
    for _ in range(3):
        artifact = runtime.loads(data)
        answers: list[Any] = []
        start = threading.Barrier(4)

        def ask() -> None:
            start.wait()
            answers.append([artifact.lookup_shared(ds, every_id) for ds in artifact.datastream_ids])

        threads = [threading.Thread(target=ask) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert answers == [[expected.lookup(ds, every_id) for ds in expected.datastream_ids]] * 4


def test_a_datastream_another_thread_just_decoded_is_found() -> None:
    """A lookup that missed the index just before another thread stored a datastream there,
    and then finds nothing left to decode, takes the stored one (not "unknown datastream")."""
    artifact = runtime.loads(with_body_bytes(_CANONICAL))
    decoded = artifact._decoded(DS)  # what the other thread did
    assert decoded is not None
    assert artifact._decoded(DS) is decoded
    assert artifact._decoded("no-such-datastream") is None
    assert artifact.stats.unknown_datastreams == 0


def test_prepare_decodes_everything_up_front_and_answers_alike() -> None:
    body = random_body(random.Random(8), time.time(), datastreams=12)
    data = canonical_json(make_document(body))
    lazy, prepared = runtime.loads(data), runtime.loads(data)
    assert prepared.prepare() is prepared
    assert not prepared._pending  # nothing is left for a request to decode
    every_id = sorted({a for entry in body["datastreams"].values() for a in entry["audiences"]})
    for ds in lazy.datastream_ids:
        for lookup in ("lookup", "lookup_shared", "lookup_bytes"):
            assert getattr(prepared, lookup)(ds, every_id[:3]) == getattr(lazy, lookup)(ds, every_id[:3])
            assert getattr(prepared, lookup)(ds, every_id) == getattr(lazy, lookup)(ds, every_id)
    assert prepared.prepare() is prepared  # again: nothing to do


def test_the_holder_prepares_each_artifact_unless_told_not_to(tmp_path: Any) -> None:
    path = tmp_path / "artifact.json"
    path.write_bytes(canonical_json(make_document(random_body(random.Random(9), time.time()))))
    assert not runtime.ArtifactHolder(path).current._pending
    assert runtime.ArtifactHolder(path, prepare=False).current._pending
    holder = runtime.ArtifactHolder(path)
    path.write_bytes(canonical_json(make_document(random_body(random.Random(10), time.time()))))
    os.utime(path, ns=(1, 1))
    assert holder.reload_if_changed() is True
    assert not holder.current._pending
