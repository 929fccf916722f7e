"""Artifact distribution for `cpcompile serve`: reload from a file or an HTTP URL, verified
before an atomic swap, the last good artifact kept on failure, and the staleness budget."""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from cpcompile.artifact_format import signer
from cpcompile.artifact_format.document import canonical_json, make_document
from cpcompile.artifact_format.signature import encode_signature
from cpcompile.serve.source import ArtifactSource, FetchError, HttpFetcher, make_fetcher

from runtime_helpers import AUD_1, DS, document_bytes, small_body, write_atomically
from serve_helpers import make_client


def other_document() -> bytes:
    return canonical_json(make_document(small_body(alias_a="renamedAlias")))


def aliases(client, memberships=(AUD_1,)) -> list[str]:
    return [d["alias"] for d in client.post("/v1/lookup", {"datastream": DS, "memberships": list(memberships)}).json()]


def test_a_changed_file_is_swapped_in_and_named_in_the_revision_header(tmp_path: Path) -> None:
    client = make_client(tmp_path)
    first = client.get("/healthz").json()["revision"]
    write_atomically(tmp_path / "artifact.json", other_document())
    assert client.app.source.refresh() is True
    r = client.post("/v1/lookup", {"datastream": DS, "memberships": [AUD_1]})
    assert r.headers["x-cpcompile-revision"] != first
    assert [d["alias"] for d in r.json()] == ["renamedAlias", "personalizationAlias"]
    assert client.get("/healthz").json()["reloads"] == 1
    client.close()


def test_every_artifact_is_prepared_before_it_serves(tmp_path: Path) -> None:
    """The audiences a load leaves to the first lookup are decoded at start-up and in the reload
    thread, before the swap, so that no request pays for them."""
    client = make_client(tmp_path)
    source = client.app.source
    assert not source.current._pending
    write_atomically(tmp_path / "artifact.json", other_document())
    assert source.refresh() is True
    assert not source.current._pending
    client.close()


@pytest.mark.parametrize("bad", [b"{", b"", document_bytes()[:-5], document_bytes().replace(b"adServerAlias", b"adServerAliaz")])
def test_a_bad_new_file_keeps_the_last_good_and_says_so(tmp_path: Path, bad: bytes) -> None:
    client = make_client(tmp_path)
    revision = client.get("/healthz").json()["revision"]
    write_atomically(tmp_path / "artifact.json", bad)
    assert client.app.source.refresh() is False
    health = client.get("/healthz").json()
    assert health["revision"] == revision and health["reload_failures"] == 1
    assert health["last_reload_error"]
    assert aliases(client) == ["adServerAlias", "personalizationAlias"]
    assert "cpcompile_artifact_reload_failures_total 1" in client.get("/metrics").body.decode()
    client.close()


def test_a_deleted_file_keeps_the_last_good(tmp_path: Path) -> None:
    client = make_client(tmp_path)
    (tmp_path / "artifact.json").unlink()
    assert client.app.source.refresh() is False
    assert "no such file" in client.get("/healthz").json()["last_reload_error"]
    assert aliases(client) == ["adServerAlias", "personalizationAlias"]
    client.close()


def test_stale_answers_are_flagged_or_refused(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    serving = make_client(tmp_path / "a", max_stale=0.05)
    (tmp_path / "a" / "artifact.json").unlink()
    serving.app.source.refresh()
    time.sleep(0.1)
    r = serving.post("/v1/lookup", {"datastream": DS, "memberships": [AUD_1]})
    assert r.status == 200 and int(r.headers["x-cpcompile-stale"]) >= 0
    assert serving.get("/healthz").json()["status"] == "stale"
    assert "cpcompile_artifact_stale 1" in serving.get("/metrics").body.decode()
    serving.close()

    (tmp_path / "b").mkdir()
    failing = make_client(tmp_path / "b", max_stale=0.05, stale_policy="fail")
    assert failing.post("/v1/lookup", {"datastream": DS, "memberships": [AUD_1]}).status == 200
    (tmp_path / "b" / "artifact.json").unlink()
    failing.app.source.refresh()
    time.sleep(0.1)
    r = failing.post("/v1/lookup", {"datastream": DS, "memberships": [AUD_1]})
    assert r.status == 503 and "max_stale" in r.json()["detail"]
    assert failing.get("/readyz").status == 503
    # a successful refresh ends it
    write_atomically(tmp_path / "b" / "artifact.json", document_bytes())
    failing.app.source.refresh()
    assert failing.post("/v1/lookup", {"datastream": DS, "memberships": [AUD_1]}).status == 200
    failing.close()


# -- HTTP(S) URL --------------------------------------------------------------------------------
class _ArtifactServer(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    log: list[tuple[str, str | None, int]] = []

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        # each answer is logged before it is sent: the client may look at the log as soon as
        # it has the answer
        data = self.files.get(self.path)
        if data is None:
            self.log.append((self.path, None, 404))
            self.send_response(404)
            self.end_headers()
            return
        etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
        if self.headers.get("If-None-Match") == etag:
            self.log.append((self.path, etag, 304))
            self.send_response(304)
            self.end_headers()
            return
        self.log.append((self.path, etag, 200))
        self.send_response(200)
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def artifact_server() -> Iterator[tuple[str, type[_ArtifactServer]]]:
    handler = type("Handler", (_ArtifactServer,), {"files": {}, "log": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def test_a_url_is_polled_with_etags_and_swapped_when_it_changes(artifact_server, tmp_path: Path) -> None:
    base, handler = artifact_server
    handler.files["/artifact.json"] = document_bytes()
    source = ArtifactSource(make_fetcher(base + "/artifact.json"))
    first = source.current.revision
    assert source.refresh() is False
    assert handler.log[-1][2] == 304  # If-None-Match sent, nothing downloaded
    handler.files["/artifact.json"] = other_document()
    assert source.refresh() is True and source.current.revision != first
    handler.files["/artifact.json"] = b"{not json"
    assert source.refresh() is False and source.reload_failures == 1
    assert source.current.lookup(DS, [AUD_1])[0]["alias"] == "renamedAlias"
    handler.files.pop("/artifact.json")
    assert source.refresh() is False and "HTTP 404" in (source.last_error or "")


def test_a_url_needs_a_valid_signature_when_a_key_is_set(artifact_server, tmp_path: Path) -> None:
    base, handler = artifact_server
    seed = bytes(range(32))
    public = signer.PrivateKey(seed).public_key
    document = make_document(small_body())
    handler.files["/artifact.json"] = canonical_json(document)
    with pytest.raises(FetchError, match="HTTP 404"):  # the signature file is missing
        ArtifactSource(make_fetcher(base + "/artifact.json"), public_key=public)
    handler.files["/artifact.sig"] = encode_signature(signer.signature_document(document["revision"], seed))
    source = ArtifactSource(make_fetcher(base + "/artifact.json"), public_key=public)
    assert source.current.revision.startswith("sha256:")
    # a new artifact with the old signature is refused; the signed one keeps serving
    handler.files["/artifact.json"] = other_document()
    assert source.refresh() is False and "ignature" in (source.last_error or "")


def test_an_oversized_or_unreachable_url_is_a_fetch_error() -> None:
    with pytest.raises(FetchError):
        HttpFetcher("http://127.0.0.1:9/artifact.json", timeout=1).fetch(None, False)
    with pytest.raises(ValueError, match="only file paths and http"):
        make_fetcher("ftp://example.com/a.json")
