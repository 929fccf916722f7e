"""ArtifactHolder: reload on change, keep the last good artifact, never a half-built one."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from cpcompile.artifact_format import signer
from cpcompile.artifact_format.signature import encode_signature
from runtime_helpers import AUD_1, DS, document_bytes, small_body, write_atomically

from cpcompile import runtime
from cpcompile.artifact_format.document import canonical_json, make_document


def _generation(i: int) -> dict[str, Any]:
    """A body whose answers name the generation: both destinations carry ``i`` in their alias."""
    body = small_body(alias_a=f"gen-{i:04d}-a")
    body["datastreams"][DS]["destinations"][1]["alias"] = f"gen-{i:04d}-b"
    return body


@pytest.fixture
def artifact_path(tmp_path: Path) -> Path:
    path = tmp_path / "artifact.json"
    path.write_bytes(document_bytes(_generation(0)))
    return path


def _wait_for(condition: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return False


def test_initial_load_failure_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        runtime.ArtifactHolder(tmp_path / "artifact.json")
    (tmp_path / "artifact.json").write_bytes(b"{")
    with pytest.raises(runtime.ArtifactCorrupt):
        runtime.ArtifactHolder(tmp_path / "artifact.json")


def test_poll_interval_must_be_positive(artifact_path: Path) -> None:
    with pytest.raises(ValueError, match="poll_interval"):
        runtime.ArtifactHolder(artifact_path, poll_interval=0)


def test_reload_only_when_changed(artifact_path: Path) -> None:
    holder = runtime.ArtifactHolder(artifact_path)
    first, loaded_at = holder.current, holder.loaded_at
    assert holder.revision == first.revision
    assert holder.reload_if_changed() is False
    assert holder.current is first
    write_atomically(artifact_path, document_bytes(_generation(1)))
    assert holder.reload_if_changed() is True
    assert holder.current is not first
    assert holder.revision == make_document(_generation(1))["revision"]
    assert holder.loaded_at >= loaded_at
    assert holder.last_error is None
    assert holder.lookup(DS, [AUD_1], now=0)[0]["alias"] == "gen-0001-a"
    assert holder.reload_if_changed() is False


def test_encoded_answers_come_from_the_current_artifact(artifact_path: Path) -> None:
    import json

    holder = runtime.ArtifactHolder(artifact_path)
    assert json.loads(holder.lookup_bytes(DS, [AUD_1], now=0)) == holder.lookup(DS, [AUD_1], now=0)
    assert b'"gen-0000-a"' in holder.lookup_bytes(DS, [AUD_1], now=0)
    assert holder.lookup_shared(DS, [AUD_1])[0]["alias"] == "gen-0000-a"
    write_atomically(artifact_path, document_bytes(_generation(1)))
    assert holder.reload_if_changed() is True
    assert holder.lookup_shared(DS, [AUD_1])[0]["alias"] == "gen-0001-a"
    encoded = holder.lookup_bytes(DS, [AUD_1], now=0)
    assert json.loads(encoded)[0]["alias"] == "gen-0001-a"
    assert holder.lookup_bytes("unknown", [AUD_1]) == b"[]"


def test_same_size_and_mtime_is_still_a_change(artifact_path: Path) -> None:
    holder = runtime.ArtifactHolder(artifact_path)
    stat = artifact_path.stat()
    write_atomically(artifact_path, document_bytes(_generation(2)))
    os.utime(artifact_path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert artifact_path.stat().st_size == stat.st_size
    assert holder.reload_if_changed() is True  # a new inode
    assert holder.lookup(DS, [AUD_1], now=0)[0]["alias"] == "gen-0002-a"


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (b'{"body":{"datastr', runtime.ArtifactCorrupt),
        (document_bytes().replace(b"adServerAlias", b"adServerAliaz"), runtime.RevisionMismatch),
        (canonical_json({**make_document(small_body()), "schema_version": 3}), runtime.UnsupportedVersion),
    ],
    ids=["truncated", "tampered", "future"],
)
def test_bad_new_file_keeps_the_last_good(artifact_path: Path, bad: bytes, error: type) -> None:
    holder = runtime.ArtifactHolder(artifact_path)
    good = holder.current
    write_atomically(artifact_path, bad)
    assert holder.reload_if_changed() is False
    assert holder.current is good
    assert isinstance(holder.last_error, error)
    # the same bad file is not loaded again and again
    holder.last_error = None
    assert holder.reload_if_changed() is False
    assert holder.last_error is None
    write_atomically(artifact_path, document_bytes(_generation(3)))
    assert holder.reload_if_changed() is True
    assert holder.last_error is None
    assert holder.lookup(DS, [AUD_1], now=0)[0]["alias"] == "gen-0003-a"


def test_removed_file_keeps_the_last_good(artifact_path: Path) -> None:
    holder = runtime.ArtifactHolder(artifact_path)
    good = holder.current
    artifact_path.unlink()
    assert holder.reload_if_changed() is False
    assert holder.current is good
    assert isinstance(holder.last_error, FileNotFoundError)
    artifact_path.write_bytes(document_bytes(_generation(4)))
    assert holder.reload_if_changed() is True


def test_signature_deployed_after_its_artifact(tmp_path: Path) -> None:
    ed25519 = pytest.importorskip("cpcompile.artifact_format.ed25519")
    seed = bytes(range(32))

    def deploy_artifact(i: int) -> str:
        document = make_document(_generation(i))
        write_atomically(tmp_path / "artifact.json", canonical_json(document))
        return str(document["revision"])

    def deploy_signature(revision: str) -> None:
        sig = signer.signature_document(revision, seed)
        write_atomically(tmp_path / "artifact.sig", encode_signature(sig))

    deploy_signature(deploy_artifact(0))
    holder = runtime.ArtifactHolder(
        tmp_path / "artifact.json", public_key=ed25519.public_key_from_seed(seed)
    )
    first = holder.current
    revision = deploy_artifact(1)
    assert holder.reload_if_changed() is False  # the old signature is for another revision
    assert isinstance(holder.last_error, runtime.SignatureInvalid)
    assert holder.current is first
    deploy_signature(revision)
    assert holder.reload_if_changed() is True
    assert holder.revision == revision
    (tmp_path / "artifact.sig").unlink()
    deploy_artifact(2)
    assert holder.reload_if_changed() is False
    assert isinstance(holder.last_error, runtime.SignatureMissing)


def test_background_polling(artifact_path: Path) -> None:
    holder = runtime.ArtifactHolder(artifact_path, poll_interval=0.01)
    with holder:
        assert any(t.name.startswith("cpcompile-reload:") and t.daemon for t in threading.enumerate())
        assert holder.start() is holder  # already running: no second thread
        write_atomically(artifact_path, document_bytes(_generation(5)))
        assert _wait_for(lambda: holder.lookup(DS, [AUD_1], now=0)[0]["alias"] == "gen-0005-a")
    assert not any(t.name.startswith("cpcompile-reload:") for t in threading.enumerate())
    holder.stop()  # stopping twice is fine


def test_readers_never_see_a_mixed_artifact(artifact_path: Path) -> None:
    """Readers look up in a loop while the file is replaced with new revisions many times."""
    generations = 40
    expected = {}
    for i in range(generations):
        document = make_document(_generation(i))
        expected[document["revision"]] = [f"gen-{i:04d}-a", f"gen-{i:04d}-b"]
    holder = runtime.ArtifactHolder(artifact_path, poll_interval=0.001)
    stop = threading.Event()
    seen: set[str] = set()
    failures: list[BaseException] = []
    answers = [0]

    def read() -> None:
        try:
            while not stop.is_set():
                artifact = holder.current
                payload = artifact.lookup(DS, [AUD_1], now=0)
                aliases = [item["alias"] for item in payload]
                assert aliases == expected[artifact.revision], (aliases, artifact.revision)
                # and through the holder: one of the revisions, whichever is current
                aliases = [item["alias"] for item in holder.lookup(DS, [AUD_1], now=0)]
                assert aliases in expected.values() and aliases[0][:8] == aliases[1][:8]
                seen.add(artifact.revision)
                answers[0] += 1
        except BaseException as e:  # reported by the main thread
            failures.append(e)

    readers = [threading.Thread(target=read) for _ in range(3)]
    holder.start()
    for reader in readers:
        reader.start()
    try:
        for i in range(1, generations):
            write_atomically(artifact_path, document_bytes(_generation(i)))
            holder.reload_if_changed()  # races the poller for the same change
            time.sleep(0.002)
    finally:
        time.sleep(0.05)
        stop.set()
        for reader in readers:
            reader.join(10)
        holder.stop()
    assert not failures, failures[0]
    assert holder.revision == make_document(_generation(generations - 1))["revision"]
    assert holder.last_error is None
    assert len(seen) > generations // 4 and answers[0] > generations
