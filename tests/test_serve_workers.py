"""`/metrics` answers for the whole server under `cpcompile serve --workers N`: each worker's
counters are added up, whichever worker a scrape reaches, and a worker's file cannot put
anything into the text but counts."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cpcompile.serve.metrics import BUCKETS, Metrics
from cpcompile.serve.worker_metrics import DIRECTORY, WorkerFiles

from runtime_helpers import document_bytes, write_atomically
from serve_helpers import ORG, Client, free_port, make_client

LIVEZ = re.compile(r'^cpcompile_requests_total\{route="/livez",status="200"\} (\d+)$', re.MULTILINE)
LOOKUPS = re.compile(r'^cpcompile_request_duration_seconds_count\{route="/v1/lookup"\} (\d+)$', re.MULTILINE)


def count(pattern: re.Pattern[str], text: str) -> int:
    found = pattern.search(text)
    return int(found[1]) if found else 0


def worker(tmp_path: Path, number: int, shared: Path) -> Client:
    client = make_client(tmp_path)
    client.app.workers = WorkerFiles(shared, worker=number)
    return client


def test_a_scrape_adds_the_other_workers_counters_to_its_own(tmp_path: Path) -> None:
    shared = tmp_path / "counters"
    shared.mkdir()
    first, second = worker(tmp_path, 1, shared), worker(tmp_path, 2, shared)
    try:
        for _ in range(3):
            assert first.get("/livez").status == 200
        for _ in range(5):
            assert second.get("/livez").status == 200
        assert second.post("/v1/lookup", {"datastream": "nope", "memberships": []}).status == 400
        assert count(LIVEZ, first.get("/metrics").body.decode()) == 3  # the second has written nothing yet

        second.app.workers.write(second.app.counters())  # as its timer does every second
        text = first.get("/metrics").body.decode()
        assert count(LIVEZ, text) == 3 + 5
        assert 'cpcompile_requests_total{route="/v1/lookup",status="400"} 1' in text
        assert count(LOOKUPS, text) == 1
        assert 'cpcompile_request_duration_seconds_bucket{route="/livez",le="+Inf"} 8' in text
        assert "cpcompile_artifact_reloads_total 0" in text

        second.get("/livez")
        second.close()  # a worker that stops writes its last counters, and they stay counted
        assert count(LIVEZ, first.get("/metrics").body.decode()) == 3 + 6
    finally:
        first.close()
        if not second.loop.is_closed():
            second.close()


def test_without_other_workers_the_counters_are_this_worker_s(tmp_path: Path) -> None:
    shared = tmp_path / "counters"
    shared.mkdir()
    alone = worker(tmp_path, 1, shared)
    try:
        alone.get("/livez")
        alone.app.workers.write(alone.app.counters())
        assert count(LIVEZ, alone.get("/metrics").body.decode()) == 1  # its own file is not added again
    finally:
        alone.close()


def test_counters_round_trip_between_workers() -> None:
    metrics = Metrics()
    metrics.observe("/v1/lookup", 200, 0.0004)
    metrics.observe("/v1/lookup", 200, 0.3)
    metrics.observe("/livez", 200, 2.0)
    metrics.count_degraded("profile-store")
    total = Metrics()
    total.add(json.loads(json.dumps(metrics.snapshot())))
    total.add(json.loads(json.dumps(metrics.snapshot())))
    assert total.snapshot()["requests"] == [["/livez", 200, 2], ["/v1/lookup", 200, 4]]
    assert total.snapshot()["degraded"] == {"profile-store": 2}
    assert total.render([], {"revision": "r"}).count("\n") == metrics.render([], {"revision": "r"}).count("\n")


@pytest.mark.parametrize(
    "snapshot",
    [
        None, [], "text", {"requests": "x"}, {"durations": []}, {"degraded": [1]},
        {"requests": [['/x"} 9\nforged_metric{a="', 200, 1]]},
        {"requests": [["/x", 200, -1]]}, {"requests": [["/x", 200, True]]}, {"requests": [["/x", 99, 1]]},
        {"requests": [["/x", 200, 1.5]]}, {"requests": [["/x", "200", 1]]}, {"requests": [["/x", 200]]},
        {"requests": [["/x", 200, 10**30]]}, {"requests": [["", 200, 1]]}, {"requests": [["x" * 201, 200, 1]]},
        {"durations": {"/x": [[1] * len(BUCKETS), 1.0]}},
        {"durations": {"/x": [[1] * (len(BUCKETS) + 1), float("nan")]}},
        {"durations": {"/x": [[1] * (len(BUCKETS) + 1), -1]}},
        {"durations": {"/x": [[-1] * (len(BUCKETS) + 1), 1.0]}},
        {"durations": {"/x\n": [[1] * (len(BUCKETS) + 1), 1.0]}},
        {"degraded": {'a"b': 1}}, {"degraded": {"a": -1}},
    ],
)
def test_a_worker_file_of_another_shape_adds_nothing(snapshot: object) -> None:
    metrics = Metrics()
    metrics.add(snapshot)
    assert metrics.snapshot() == Metrics().snapshot()
    assert "forged_metric" not in metrics.render([], {"revision": "r"})


def test_unreadable_and_foreign_files_are_skipped(tmp_path: Path) -> None:
    shared = tmp_path / "counters"
    shared.mkdir()
    (shared / "9.json").write_bytes(b"{not json")
    (shared / "8.json").write_bytes(b" " * (2 << 20))
    (shared / "7.json").mkdir()
    (shared / ".6.json").write_text(json.dumps({"requests": [["/livez", 200, 50]]}))  # a temp file
    (shared / "notes.txt").write_text(json.dumps({"requests": [["/livez", 200, 50]]}))
    (shared / "5.json").write_text(json.dumps({"requests": [["/livez", 200, 4]], "reloads": 2, "reload_failures": "x"}))
    alone = worker(tmp_path, 1, shared)
    try:
        text = alone.get("/metrics").body.decode()
        assert 'cpcompile_requests_total{route="/livez",status="200"} 4' in text
        assert "cpcompile_artifact_reloads_total 2" in text and "cpcompile_artifact_reload_failures_total 0" in text
    finally:
        alone.close()


class Server:
    """`cpcompile serve` over plain HTTP with ``workers`` processes and temp files in ``tmp_path/tmp``."""

    def __init__(self, tmp_path: Path, workers: int, env: dict[str, str]) -> None:
        artifact = tmp_path / "artifact.json"
        write_atomically(artifact, document_bytes(None))
        self.temp = tmp_path / "tmp"
        self.temp.mkdir()
        self.base = f"http://127.0.0.1:{free_port()}"
        self.log_path = tmp_path / "serve.log"
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cpcompile", "serve", str(artifact), "--port", self.base.rsplit(":", 1)[1],
             "--org-id", ORG, "--profiles", str(tmp_path / "p.db"), "--workers", str(workers)],
            stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, "TMPDIR": str(self.temp), **env},
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                self.get("/livez")
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError(self.log_path.read_text()) from None
                time.sleep(0.1)

    def get(self, path: str) -> str:
        with urllib.request.urlopen(self.base + path, timeout=5) as answer:  # a new connection each time
            return str(answer.read().decode())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(15)
        self.log.close()


def test_a_single_worker_adds_no_files_whatever_the_environment_says(tmp_path: Path) -> None:
    planted = tmp_path / "planted"
    planted.mkdir()
    (planted / "5.json").write_text(json.dumps({"requests": [["/livez", 200, 50]]}))
    server = Server(tmp_path, 1, {DIRECTORY: str(planted)})
    try:
        server.get("/livez")
        assert count(LIVEZ, server.get("/metrics")) == 2
    finally:
        server.stop()
    assert list(server.temp.iterdir()) == []


def test_every_scrape_of_a_two_worker_server_counts_every_request(tmp_path: Path) -> None:
    server = Server(tmp_path, 2, {DIRECTORY: "/nonexistent"})  # the supervisor names its own
    get, temp = server.get, server.temp
    try:
        (counters,) = temp.glob("cpcompile-serve-metrics-*")
        assert oct(counters.stat().st_mode & 0o777) == "0o700"

        sent = 1  # the /livez that found the server up
        for _ in range(6):  # until both workers have answered some: the kernel picks
            with ThreadPoolExecutor(16) as pool:
                sent += sum(1 for _ in pool.map(lambda _: get("/livez"), range(100)))
            time.sleep(1.5)  # each worker writes its counters every second
            files = [json.loads(f.read_text()) for f in counters.glob("*.json")]
            if len(files) == 2 and all(any(r[0] == "/livez" for r in f["requests"]) for f in files):
                break
        else:
            pytest.fail(f"one worker answered every request: {files}")

        for _ in range(8):  # each on a new connection, so reaching either worker
            assert count(LIVEZ, get("/metrics")) == sent
    finally:
        server.stop()
    assert list(temp.iterdir()) == []  # the supervisor removes the directory when it stops
