"""`cpcompile serve` and `cpcompile profiles import` as a user runs them, the server for real."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from cpcompile.cli import cli
from cpcompile.serve.identity import encode_identity_cookie

from runtime_helpers import AUD_1, DS, document_bytes, small_body, write_atomically
from serve_helpers import ORG, TOKEN, free_port, self_signed_certificate
from cpcompile.artifact_format.document import canonical_json, make_document

ECID = "12345678901234567890123456789012345678"


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    path = tmp_path / "artifact.json"
    write_atomically(path, document_bytes())
    return path


def test_check_loads_and_reports(runner, artifact: Path, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["serve", str(artifact), "--check", "--org-id", ORG, "--profiles", str(tmp_path / "p.db")])
    assert result.exit_code == 0, result.output
    assert "sha256:" in result.output and "http://127.0.0.1:8080" in result.output


def test_settings_file_mistakes_are_usage_errors_with_a_hint(runner, artifact: Path, tmp_path: Path) -> None:
    settings = tmp_path / "serve.toml"
    settings.write_text('[serve]\nallowed_origin = ["https://a.example"]\n')
    result = runner.invoke(cli, ["serve", str(artifact), "--check", "--settings", str(settings)])
    assert result.exit_code == 2
    assert "unknown setting 'allowed_origin'; did you mean 'allowed_origins'?" in result.output
    settings.write_text("[serve\n")
    assert "not valid TOML" in runner.invoke(cli, ["serve", str(artifact), "--check", "--settings", str(settings)]).output
    settings.write_text('[serve]\norg_id = "nope"\nport = "80"\n')
    assert runner.invoke(cli, ["serve", str(artifact), "--check", "--settings", str(settings)]).exit_code == 2


def test_settings_file_values_are_used(runner, artifact: Path, tmp_path: Path) -> None:
    settings = tmp_path / "serve.toml"
    settings.write_text(f'[serve]\nartifact = "{artifact}"\nport = 9999\norg_id = "{ORG}"\nprofiles = "{tmp_path / "p.db"}"\n')
    result = runner.invoke(cli, ["serve", "--check", "--settings", str(settings)])
    assert result.exit_code == 0, result.output
    assert ":9999" in result.output
    assert ":9998" in runner.invoke(cli, ["serve", "--check", "--settings", str(settings), "--port", "9998"]).output


def test_a_corrupt_artifact_or_missing_key_signature_exits_1(runner, tmp_path: Path) -> None:
    bad = tmp_path / "artifact.json"
    bad.write_bytes(document_bytes().replace(b"adServerAlias", b"adServerAliaz"))
    result = runner.invoke(cli, ["serve", str(bad), "--check", "--profiles", str(tmp_path / "p.db")])
    assert result.exit_code == 1 and "rejected" in result.output
    result = runner.invoke(cli, ["serve", str(tmp_path / "missing.json"), "--check"])
    assert result.exit_code == 1 and "no such file" in result.output
    assert runner.invoke(cli, ["serve", "--check"]).exit_code == 2


def test_profiles_import_checks_every_line_first(runner, tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(
        json.dumps({"namespace": "ECID", "id": ECID, "memberships": [AUD_1]}) + "\n\n"
        + json.dumps({"namespace": "Email", "id": "a@example.com", "segmentMembership": {"ups": {AUD_1: {"status": "exited"}}}}) + "\n"
    )
    store = tmp_path / "p.db"
    result = runner.invoke(cli, ["profiles", "import", str(good), "--profiles", str(store)])
    assert result.exit_code == 0 and "imported 2 profile(s)" in result.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"namespace": "ECID", "id": "999", "memberships": [AUD_1]}) + "\n"
        + "{oops\n"
        + json.dumps({"namespace": "ECID", "id": "1", "segmentMembership": {"ups": {AUD_1: {}}}}) + "\n"
        + json.dumps({"namespace": "ECID", "id": "2", "memberships": [AUD_1], "extra": 1}) + "\n"
        + "x" * (1024 * 1024 + 10) + "\n"
    )
    result = runner.invoke(cli, ["profiles", "import", str(bad), "--profiles", str(store)])
    assert result.exit_code == 1
    assert f"{bad}:2: not a JSON object" in result.output
    assert f"{bad}:3:" in result.output and "status" in result.output
    assert f"{bad}:4: unknown field 'extra'" in result.output
    assert f"{bad}:5: the line is longer than" in result.output
    assert "nothing imported" in result.output
    import sqlite3

    with sqlite3.connect(store) as db:  # line 1 of the bad file was not written
        assert db.execute("SELECT count(*) FROM profiles").fetchone()[0] == 2


# -- the real server ---------------------------------------------------------------------------
@pytest.fixture
def tls_server(tmp_path: Path, artifact: Path) -> Iterator[tuple[str, Path, ssl.SSLContext]]:
    cert, key = self_signed_certificate(tmp_path)
    port = free_port()
    env = {**os.environ, "CPCOMPILE_API_TOKENS": TOKEN}
    log = open(tmp_path / "serve.log", "wb")  # a file, not a pipe nobody reads, which could fill and block the server
    process = subprocess.Popen(
        [sys.executable, "-m", "cpcompile", "serve", str(artifact), "--port", str(port), "--org-id", ORG,
         "--certfile", str(cert), "--keyfile", str(key), "--profiles", str(tmp_path / "p.db"), "--poll-interval", "0.2"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    context = ssl.create_default_context(cafile=str(cert))
    base = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", context=context, timeout=1).read()
                break
            except (urllib.error.URLError, ConnectionError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((tmp_path / "serve.log").read_text())
                time.sleep(0.1)
        yield base, artifact, context
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def call(base: str, context: ssl.SSLContext, path: str, body: object = None, method: str = "POST",
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, context=context, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_served_over_tls_with_profiles_written_through_the_api(tls_server) -> None:
    base, artifact, context = tls_server
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    status, _, _ = call(base, context, f"/v1/profiles/ECID/{ECID}", {"memberships": [AUD_1]}, "PUT", auth)
    assert status == 204
    cookie = {"Cookie": f"kndctr_ABC123_AdobeOrg_identity={encode_identity_cookie(ECID)}", "Content-Type": "text/plain; charset=UTF-8"}
    status, headers, body = call(base, context, f"/ee/v1/interact?configId={DS}&requestId=abc", {"events": [{"xdm": {}}]}, headers=cookie)
    assert status == 200 and headers["x-cpcompile-revision"].startswith("sha256:")
    document = json.loads(body)
    assert document["requestId"] == "abc"
    assert [d["alias"] for h in document["handle"] if h["type"] == "activation:pull" for d in h["payload"]] == ["adServerAlias", "personalizationAlias"]
    status, _, body = call(base, context, "/ee/v1/interact", {"events": ["x" * 70_000]}, headers=cookie)
    assert status == 413


def test_artifact_swaps_under_load_give_no_errors(tls_server) -> None:
    base, artifact, context = tls_server
    statuses: list[int] = []
    revisions: set[str] = set()
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            status, headers, _ = call(base, context, "/v1/lookup", {"datastream": DS, "memberships": [AUD_1]})
            statuses.append(status)
            revisions.add(headers.get("x-cpcompile-revision", ""))

    workers = [threading.Thread(target=load) for _ in range(2)]
    for w in workers:
        w.start()
    for i in range(10):
        write_atomically(artifact, canonical_json(make_document(small_body(alias_a=f"alias{i}"))))
        time.sleep(0.25)
    stop.set()
    for w in workers:
        w.join()
    assert statuses and set(statuses) == {200}
    assert len(revisions) >= 3  # the server followed the swaps


def test_profiles_import_reports_the_first_bad_lines_and_counts_the_rest(runner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("[1]\n" * 30)
    result = runner.invoke(cli, ["profiles", "import", str(bad), "--profiles", str(tmp_path / "p.db")])
    assert result.exit_code == 1
    assert result.output.count("not a JSON object") == 20
    assert "... and 10 more" in result.output and "30 bad line(s); nothing imported" in result.output


def test_a_bad_source_or_key_is_a_usage_error(runner, artifact: Path, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["serve", "ftp://example.com/artifact.json", "--check"])
    assert result.exit_code == 2 and "only file paths and http(s) URLs" in result.output
    key = tmp_path / "not-a.pub"
    key.write_text("hello\n")
    result = runner.invoke(cli, ["serve", str(artifact), "--check", "--public-key", str(key), "--profiles", str(tmp_path / "p.db")])
    assert result.exit_code == 2, result.output


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").iterdir():
            children = [int(c) for c in (task / "children").read_text().split()]
            found += children
            todo += children
    return found


@contextmanager
def _plain_server(artifact: Path, tmp_path: Path, env: dict[str, str] | None = None) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`cpcompile serve` over plain HTTP, once it answers /livez; stopped (if still running) after."""
    port = free_port()
    log = open(tmp_path / "serve.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "cpcompile", "serve", str(artifact), "--port", str(port), "--org-id", ORG,
         "--profiles", str(tmp_path / "p.db")],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=1).read()
                break
            except (urllib.error.URLError, ConnectionError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((tmp_path / "serve.log").read_text())
                time.sleep(0.1)
        yield process, port
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(10)
        log.close()


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads the worker's /proc maps")
def test_the_server_runs_the_app_on_uvloop(artifact: Path, tmp_path: Path) -> None:
    """uvloop is a dependency and run() names it: Granian's own choice ("auto") would be
    asyncio's loop without it, and rloop whenever that is installed, as it is here (a stand-in
    that fails the worker if anything starts it)."""
    other = tmp_path / "other-loop" / "rloop"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text("def new_event_loop():\n    raise SystemExit('rloop was chosen')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(other.parent), *filter(None, [os.environ.get("PYTHONPATH")])])}
    with _plain_server(artifact, tmp_path, env) as (process, _):
        workers = _descendants(process.pid)
        assert workers, "Granian serves from a worker process"
        assert any("/uvloop/loop." in Path(f"/proc/{pid}/maps").read_text() for pid in workers)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")  # a zombie has ended; reaping it is its new parent's job


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_end_when_the_server_process_is_killed(artifact: Path, tmp_path: Path) -> None:
    """A supervisor killed outright (SIGKILL, the out-of-memory killer) cannot stop its workers:
    they used to live on, holding the port. Now they stop with it."""
    workers: list[int] = []
    try:
        with _plain_server(artifact, tmp_path) as (process, port):
            workers = _descendants(process.pid)
            assert workers, "Granian serves from a worker process"
            process.kill()
            process.wait(10)
            deadline = time.monotonic() + 15
            while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not any(_running(pid) for pid in workers), (tmp_path / "serve.log").read_text()
            with pytest.raises((urllib.error.URLError, ConnectionError)):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=1)
    finally:
        for pid in workers:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
