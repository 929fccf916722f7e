"""The scale-out topology, for real: one redis-server, three `cpcompile serve` replicas, and
one published directory (`cpcompile publish`) served over HTTP that every replica polls."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from conftest import copy_example, run
from redis_server import RedisServer
from serve_helpers import TOKEN, free_port

ORG = "ABC123@AdobeOrg"
DS = "0f3a6c1e-2b7d-4e59-9c3a-1d2e3f4a5b6c"
AUDIENCE = "399eb3e7-3d50-47d3-ad30-a5ad99e8ab77"
ECID = "12345678901234567890123456789012345678"
POLL = 0.3


class _StaticWithEtags(http.server.SimpleHTTPRequestHandler):
    """A static host, as a CDN or nginx would be: files with strong ETags, 304 on a match."""

    def send_head(self):  # type: ignore[no-untyped-def]
        path = Path(self.translate_path(self.path))
        if path.is_file():
            etag = '"' + hashlib.sha256(path.read_bytes()).hexdigest()[:20] + '"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return None
            self._etag = etag
        return super().send_head()

    def end_headers(self) -> None:
        etag = getattr(self, "_etag", None)
        if etag:
            self.send_header("ETag", etag)
            self._etag = None
        super().end_headers()

    def log_message(self, *args: object) -> None:
        pass


class Replica:
    def __init__(self, name: str, pointer_url: str, redis_url: str, public_key: Path, log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cpcompile", "serve", pointer_url, "--port", str(self.port), "--org-id", ORG,
             "--profiles", redis_url, "--public-key", str(public_key), "--poll-interval", str(POLL)],
            env={**os.environ, "CPCOMPILE_API_TOKENS": TOKEN}, stdout=self.log, stderr=subprocess.STDOUT,
            # its own process group: `kill` takes the server's worker processes with it, as a
            # container or a systemd unit being killed would
            start_new_session=True,
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(self.base + "/livez", timeout=1).read()
                return
            except OSError:
                assert self.process.poll() is None and time.monotonic() < deadline, "replica did not start"
                time.sleep(0.1)

    def call(self, path: str, body: object = None, method: str = "POST", headers: dict[str, str] | None = None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    def interact(self, ecid: str = ECID):
        status, headers, body = self.call(
            f"/ee/v1/interact?configId={DS}", {"events": [{"xdm": {}}]},
            headers={"Cookie": f"kndctr_ABC123_AdobeOrg_identity={_cookie(ecid)}", "Content-Type": "text/plain"},
        )
        payload = json.loads(body) if status == 200 else None
        aliases = [d["alias"] for h in payload["handle"] if h["type"] == "activation:pull" for d in h["payload"]] if payload else None
        return status, headers, aliases

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # whatever of the group is left
        except ProcessLookupError:
            pass
        self.log.close()


def _cookie(ecid: str) -> str:
    from cpcompile.serve.identity import encode_identity_cookie

    return encode_identity_cookie(ecid)


@pytest.fixture(scope="module")
def topology(tmp_path_factory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("topology")
    assert run("keygen", "--out", tmp).exit_code == 0
    config = copy_example(tmp / "config")
    assert run("build", config, "--out", tmp / "build", "--sign-key", tmp / "cpcompile.key", "--no-cache").exit_code == 0
    site = tmp / "site"
    assert run("publish", tmp / "build", site, "--public-key", tmp / "cpcompile.pub").exit_code == 0
    static = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_StaticWithEtags, directory=str(site)))
    threading.Thread(target=static.serve_forever, daemon=True).start()
    pointer_url = f"http://127.0.0.1:{static.server_address[1]}/current.json"
    redis = RedisServer(tmp).start()
    replicas: list[Replica] = []
    try:
        for i in range(3):
            replicas.append(Replica(f"r{i}", pointer_url, redis.url, tmp / "cpcompile.pub", tmp / f"r{i}.log"))
        for replica in replicas:
            replica.wait_ready()
        yield {"tmp": tmp, "config": config, "site": site, "redis": redis, "replicas": replicas}
    finally:
        for replica in replicas:
            replica.stop()
        redis.stop()
        static.shutdown()
        static.server_close()




def revisions(replicas: list[Replica]) -> set[str]:
    return {r.call("/healthz", method="GET")[1]["x-cpcompile-revision"] for r in replicas}


def test_a_profile_written_through_one_replica_is_answered_by_another(topology) -> None:
    one, two, three = topology["replicas"]
    status, _, _ = one.call(f"/v1/profiles/ECID/{ECID}", {"memberships": [AUDIENCE]}, "PUT", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 204
    for replica in (two, three):
        status, _, aliases = replica.interact()
        assert status == 200 and "personalizationAlias" in aliases


def test_a_new_revision_reaches_every_replica_within_the_poll_interval(topology) -> None:
    replicas = topology["replicas"]
    before = revisions(replicas)
    assert len(before) == 1
    published_at = time.monotonic()
    revision = _publish_alias(topology, "homeBannerAlias")
    deadline = published_at + POLL * 1.2 + 2.0  # interval + jitter + a fetch and verify
    while revisions(replicas) != {revision}:
        assert time.monotonic() < deadline, f"replicas still on {revisions(replicas)}"
        time.sleep(0.05)
    for replica in replicas:
        status, headers, aliases = replica.interact()
        assert headers["x-cpcompile-revision"] == revision and "homeBannerAlias" in aliases


def _publish_alias(topology: dict, alias: str, *, signed: bool = True) -> str:
    tmp, config = topology["tmp"], topology["config"]
    path = config / "destinations" / "home-personalization.yaml"
    text = path.read_text()
    current = next(line for line in text.splitlines() if line.startswith("alias: "))
    path.write_text(text.replace(current, f"alias: {alias}", 1))
    out = tmp / f"build-{alias}-{int(signed)}"
    args = ["build", config, "--out", out, "--no-cache"] + (["--sign-key", tmp / "cpcompile.key"] if signed else [])
    result = run(*args, env={"CPCOMPILE_SIGN_KEY": ""})
    assert result.exit_code == 0, result.output
    result = run("publish", out, topology["site"])
    assert result.exit_code == 0, result.output
    return str(json.loads((out / "artifact.json").read_bytes())["revision"])


def test_an_unsigned_or_corrupt_revision_is_refused_by_every_replica(topology) -> None:
    replicas = topology["replicas"]
    [good] = revisions(replicas)
    _publish_alias(topology, "unsignedAlias", signed=False)
    time.sleep(POLL * 1.2 + 1.0)
    assert revisions(replicas) == {good}
    for replica in replicas:
        health = json.loads(replica.call("/healthz", method="GET")[2])
        assert "ignature" in (health["last_reload_error"] or "") and health["reload_failures"] >= 1
        assert "cpcompile_artifact_reload_failures_total 0" not in replica.call("/metrics", method="GET")[2].decode()
        status, _, aliases = replica.interact()
        assert status == 200 and "unsignedAlias" not in aliases
    # a file under a published name altered afterwards: the pointer's hash catches it
    pointer = json.loads((topology["site"] / "current.json").read_bytes())
    artifact = topology["site"] / pointer["files"]["json"]["path"]
    artifact.write_bytes(artifact.read_bytes().replace(b"unsignedAlias", b"tamperedAlias"))
    time.sleep(POLL * 1.2 + 0.5)
    assert revisions(replicas) == {good}
    # a good signed revision afterwards is taken again
    fixed = _publish_alias(topology, "signedAgainAlias")
    deadline = time.monotonic() + POLL * 1.2 + 2.0
    while revisions(replicas) != {fixed}:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_redis_restarted_under_load_degrades_then_recovers(topology) -> None:
    replicas, redis = topology["replicas"], topology["redis"]
    replicas[0].call(f"/v1/profiles/ECID/{ECID}", {"memberships": [AUDIENCE]}, "PUT", {"Authorization": f"Bearer {TOKEN}"})
    results: list[tuple[int, bool]] = []
    stop = threading.Event()

    def load(replica: Replica) -> None:
        while not stop.is_set():
            status, headers, aliases = replica.interact()
            results.append((status, "x-cpcompile-degraded" in headers))

    threads = [threading.Thread(target=load, args=(r,)) for r in replicas]
    for t in threads:
        t.start()
    time.sleep(0.3)
    port = redis.port
    redis.stop()
    deadline = time.monotonic() + 15  # until the load has met the outage (1 s on a quiet machine)
    while not any(degraded for _, degraded in results) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    redis.port = port
    redis.start()
    redis.command("SET", f"cpcompile:profile:ECID:{ECID}", json.dumps({"segmentMembership": {"ups": {AUDIENCE: {"status": "realized"}}}}))
    # every replica recovers by itself, still under load; a busy machine may take a while
    deadline = time.monotonic() + 30
    recovered: set[int] = set()
    while len(recovered) < len(replicas) and time.monotonic() < deadline:
        for i, replica in enumerate(replicas):
            status, headers, aliases = replica.interact()
            if status == 200 and "x-cpcompile-degraded" not in headers and aliases:
                recovered.add(i)
        time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join()
    statuses = {status for status, _ in results}
    assert statuses == {200}, statuses
    assert any(degraded for _, degraded in results), "no answer was degraded while Redis was down"
    assert len(recovered) == len(replicas), f"replicas {sorted(set(range(len(replicas))) - recovered)} did not recover"


# last in the module: it leaves one replica dead
def test_a_replica_killed_under_load_leaves_the_others_answering(topology) -> None:
    replicas = topology["replicas"]
    results: list[int] = []
    stop = threading.Event()

    def load(replica: Replica) -> None:
        while not stop.is_set():
            results.append(replica.interact()[0])

    threads = [threading.Thread(target=load, args=(r,)) for r in replicas[1:]]
    for t in threads:
        t.start()
    time.sleep(0.3)
    replicas[0].kill()
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join()
    assert results and set(results) == {200}
    assert replicas[0].process.poll() is not None
