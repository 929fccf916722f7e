"""The shared Redis profile store: layout, bulk import, expiry, and degraded answers while Redis
is down, recovering by itself when it returns."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Iterator

import pytest

from cpcompile.cli import cli
from cpcompile.serve.identity import encode_identity_cookie

from redis_server import RedisServer
from runtime_helpers import AUD_1, DS
from serve_helpers import IDENTITY_COOKIE, bearer, make_client

ECID = "12345678901234567890123456789012345678"


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


def interact(client, ecid: str = ECID):
    return client.post("/ee/v1/interact", {"events": [{"xdm": {}}]}, query=f"configId={DS}",
                       headers={"Cookie": f"{IDENTITY_COOKIE}={encode_identity_cookie(ecid)}"})


def test_profiles_written_through_one_app_are_read_by_another(redis: RedisServer, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = make_client(tmp_path / "a", profiles=redis.url)
    two = make_client(tmp_path / "b", profiles=redis.url)
    assert one.request("PUT", f"/v1/profiles/ECID/{ECID}", {"memberships": [AUD_1]}, headers=bearer()).status == 204
    assert [d["alias"] for d in interact(two).destinations()] == ["adServerAlias", "personalizationAlias"]
    # the documented layout: one JSON string per profile
    raw = redis.command("GET", f"cpcompile:profile:ECID:{ECID}")
    assert b'"segmentMembership":{"ups":{"' + AUD_1.encode() in raw
    one.close()
    two.close()


def test_bulk_import_with_expiry(redis: RedisServer, tmp_path: Path, runner) -> None:
    lines = [json.dumps({"namespace": "ECID", "id": f"{i:038d}", "memberships": [AUD_1]}) for i in range(2500)]
    (tmp_path / "p.jsonl").write_text("\n".join(lines) + "\n")
    settings = tmp_path / "serve.toml"
    settings.write_text("[serve]\nprofile_ttl = 3600\n")
    result = runner.invoke(cli, ["profiles", "import", str(tmp_path / "p.jsonl"), "--profiles", redis.url, "--settings", str(settings)])
    assert result.exit_code == 0, result.output
    assert "imported 2500 profile(s)" in result.output
    assert redis.command("DBSIZE") == b":2500\r\n"
    ttl = int(redis.command("TTL", f"cpcompile:profile:ECID:{7:038d}")[1:].strip())
    assert 3500 < ttl <= 3600


def test_a_foreign_value_reads_as_no_profile(redis: RedisServer, tmp_path: Path) -> None:
    client = make_client(tmp_path, profiles=redis.url)
    redis.command("SET", f"cpcompile:profile:ECID:{ECID}", "not json")
    r = interact(client)
    assert r.status == 200 and r.destinations() == []
    client.close()


def test_redis_down_gives_degraded_answers_at_once_then_recovers(redis: RedisServer, tmp_path: Path) -> None:
    client = make_client(tmp_path, profiles=redis.url)
    client.request("PUT", f"/v1/profiles/ECID/{ECID}", {"memberships": [AUD_1]}, headers=bearer())
    assert interact(client).destinations()
    port = redis.port
    redis.stop()
    started = time.monotonic()
    answers = [interact(client) for _ in range(20)]
    assert time.monotonic() - started < 1.0  # never a hang: the first call times out, the rest skip
    assert {a.status for a in answers} == {200}
    assert all(a.destinations() == [] and a.headers["x-cpcompile-degraded"] == "profile-store" for a in answers)
    assert client.get("/readyz").status == 503
    assert client.request("PUT", f"/v1/profiles/ECID/{ECID}", {"memberships": [AUD_1]}, headers=bearer()).status == 503
    # Redis comes back on the same port, empty: the service notices by itself
    redis.port = port
    redis.start()
    redis.command("SET", f"cpcompile:profile:ECID:{ECID}", json.dumps({"segmentMembership": {"ups": {AUD_1: {"status": "realized"}}}}))
    deadline = time.monotonic() + 5
    while True:
        r = interact(client)
        if r.destinations():
            break
        assert time.monotonic() < deadline, "the service did not recover"
        time.sleep(0.1)
    assert "x-cpcompile-degraded" not in r.headers
    assert client.get("/readyz").status == 200
    client.close()


def test_an_error_redis_answers_fails_that_call_only(redis: RedisServer, tmp_path: Path) -> None:
    client = make_client(tmp_path, profiles=redis.url)
    assert client.request("PUT", f"/v1/profiles/ECID/{ECID}", {"memberships": [AUD_1]}, headers=bearer()).status == 204
    redis.command("CONFIG", "SET", "maxmemory", "1")  # every write now fails with OOM
    refused = client.request("PUT", "/v1/profiles/ECID/99999999999999999999999999999999999999", {"memberships": [AUD_1]}, headers=bearer())
    assert refused.status == 503
    assert "9999" not in refused.json()["detail"]  # the key (a visitor's ID) stays in the log
    # reads go on: Redis answered, it is not down
    r = interact(client)
    assert r.destinations() and "x-cpcompile-degraded" not in r.headers
    assert client.get("/readyz").status == 200
    client.close()


def test_the_store_url_can_come_from_the_environment(redis: RedisServer, tmp_path: Path, runner, monkeypatch) -> None:
    (tmp_path / "p.jsonl").write_text(json.dumps({"namespace": "ECID", "id": ECID, "memberships": [AUD_1]}) + "\n")
    monkeypatch.setenv("CPCOMPILE_PROFILES", redis.url)
    result = runner.invoke(cli, ["profiles", "import", str(tmp_path / "p.jsonl")])
    assert result.exit_code == 0 and "127.0.0.1" in result.output
    assert redis.command("DBSIZE") == b":1\r\n"
