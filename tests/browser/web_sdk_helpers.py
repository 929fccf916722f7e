"""What the browser tests run on: the Web SDK from the npm registry, a self-signed
certificate, a compiled config, ``cpcompile serve`` (a subprocess), a page server (a thread)
and Debian's chromium driven by Playwright.

Nothing here leaves the machine except the one ``npm pack`` of the pinned Web SDK, which is
cached outside the checkout and checked against its registry integrity hash before every use.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.server
import io
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, NoReturn

import pytest

from serve_helpers import self_signed_certificate

# alloy 2.33.x never returns results.destinations (fixed upstream only in 2.34.1), and 2.31.x
# and older ship no standalone build: 2.32.0 is the version to test with.
ALLOY_SPEC = "@adobe/alloy@2.32.0"
ALLOY_INTEGRITY = "sha512-sy1Dr1BNVMTzxPDY4q+GowvC9+In8ZxF4ipQbVp9Slil8wAORVsjkrBF/yQvk2HFaXb5+HedOR6Zhb08kJfjhg=="
CHROMIUM = "/usr/bin/chromium"

ORG = "ABC123@AdobeOrg"
COOKIE_PREFIX = "kndctr_ABC123_AdobeOrg_"
TOKEN = "browser-tests-token-0123456789"
HINT = "va7"
EDGE_HOST = "edge.alloy.test"
# a page on another host of the same site as the edge (allowed), one the server does not allow
ALLOWED_PAGE = "https://www.alloy.test"
DENIED_PAGE = "https://shop.alloy.test"

DS_WEB = "11111111-2222-4333-8444-555555555555"
DS_BARE = "22222222-3333-4444-8555-666666666666"
DS_MEMBERS = "33333333-4444-4555-8666-777777777777"  # access: authenticated-only
HERO_ID = "aaaaaaaa-0000-4000-8000-000000000001"
ADS_ID = "aaaaaaaa-0000-4000-8000-000000000002"
FIRST_TIME = "00000000-0000-4000-8000-00000000000a"
LAPSED = "00000000-0000-4000-8000-00000000000b"
WINTER_2020 = "00000000-0000-4000-8000-00000000000c"  # mapped for January 2020 only: closed
EVERGREEN = "00000000-0000-4000-8000-00000000000d"  # mapped from 2020 to 9999: open
YEAR_9000 = "00000000-0000-4000-8000-00000000000f"  # mapped from the year 9000: not open yet
AD_TARGET = "00000000-0000-4000-8000-0000000000e1"

CONFIG = {
    "datastreams/web.yaml": f"""\
id: {DS_WEB}
name: Web
sandbox: prod
personalization_destinations: true
""",
    "datastreams/bare.yaml": f"""\
id: {DS_BARE}
name: Bare
sandbox: prod
personalization_destinations: true
""",
    "datastreams/members.yaml": f"""\
id: {DS_MEMBERS}
name: Members area
sandbox: prod
access: authenticated-only
personalization_destinations: true
""",
    "destinations/members.yaml": f"""\
id: aaaaaaaa-0000-4000-8000-000000000003
name: Members banner
alias: heroAlias
datastream: members
audiences:
  - id: {FIRST_TIME}
""",
    "destinations/hero.yaml": f"""\
id: {HERO_ID}
name: Hero banner
alias: heroAlias
datastream: web
attributes:
  - source: person.name.firstName
    target: firstName
audiences:
  - id: {FIRST_TIME}
  - id: {LAPSED}
  - id: {WINTER_2020}
    start: 2020-01-01
    end: 2020-01-31
  - id: {EVERGREEN}
    start: 2020-01-01
    end: 9999-12-31
  - id: {YEAR_9000}
    start: 9000-01-01
""",
    "destinations/ads.yaml": f"""\
id: {ADS_ID}
name: Ad server
alias: adAlias
datastream: web
audiences:
  - id: {AD_TARGET}
""",
    "audiences/prod.yaml": f"""\
sandbox: prod
merge_policies:
  - id: 5b0c1e7e-2d3f-4a5b-9c6d-7e8f9a0b1c2d
    name: Default time-based
    active_on_edge: true
audiences:
"""
    + "".join(
        f"""\
  - id: {seg}
    name: {name}
    namespace: ups
    merge_policy: 5b0c1e7e-2d3f-4a5b-9c6d-7e8f9a0b1c2d
    evaluation: edge
"""
        for seg, name in [
            (FIRST_TIME, "First-time buyers"), (LAPSED, "Lapsed buyers"), (WINTER_2020, "Winter 2020"),
            (EVERGREEN, "Evergreen"), (YEAR_9000, "Year 9000"), (AD_TARGET, "Ad target"),
        ]
    ),
}

# profiles loaded with `cpcompile profiles import` before the server starts, keyed by CRMID
PROFILES = [
    {"namespace": "CRMID", "id": "two-aliases", "memberships": [FIRST_TIME, AD_TARGET],
     "attributes": {"person": {"name": {"firstName": "Ada"}}}},
    {"namespace": "CRMID", "id": "exited", "segmentMembership": {"ups": {
        FIRST_TIME: {"status": "realized"}, LAPSED: {"status": "exited"}, AD_TARGET: {"status": "exited"}}}},
    {"namespace": "CRMID", "id": "windows", "memberships": [WINTER_2020, EVERGREEN, YEAR_9000]},
]


def unavailable(message: str) -> NoReturn:
    """A missing browser, npm or registry: a failure under CI (where .ci/run installs them), a
    skip on a developer machine without them."""
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set, so the browser tests must run)", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the Web SDK ------------------------------------------------------------------------------

def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "cpcompile-tests"


def integrity_of(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def fetch_alloy_tarball(target: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        unavailable(f"npm is not installed: it fetches {ALLOY_SPEC} from the registry")
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        try:
            done = subprocess.run(
                [npm, "pack", ALLOY_SPEC, "--pack-destination", tmp, "--silent", "--json"],
                cwd=tmp, capture_output=True, text=True, timeout=120,
            )
        except subprocess.TimeoutExpired:
            unavailable(f"npm pack {ALLOY_SPEC} timed out")
        packed = list(Path(tmp).glob("*.tgz"))
        if done.returncode != 0 or len(packed) != 1:
            unavailable(f"npm pack {ALLOY_SPEC} failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
        os.replace(packed[0], target)


def load_alloy() -> bytes:
    """dist/alloy.js of the pinned Web SDK, from a tarball checked against its integrity hash."""
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    tarball = directory / "adobe-alloy-2.32.0.tgz"
    if not tarball.exists() or integrity_of(tarball.read_bytes()) != ALLOY_INTEGRITY:
        tarball.unlink(missing_ok=True)
        fetch_alloy_tarball(tarball)
    data = tarball.read_bytes()
    found = integrity_of(data)
    if found != ALLOY_INTEGRITY:
        tarball.unlink()
        pytest.fail(f"{ALLOY_SPEC} from the registry has integrity {found}, not the pinned {ALLOY_INTEGRITY}",
                    pytrace=False)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        member = archive.extractfile("package/dist/alloy.js")
        assert member is not None, "the alloy tarball has no package/dist/alloy.js"
        return member.read()


# -- certificate, config, servers ---------------------------------------------------------------

def write_certificate(directory: Path) -> tuple[Path, Path]:
    """A throw-away certificate for *.alloy.test and 127.0.0.1 (PEM cert and key files)."""
    return self_signed_certificate(directory, (EDGE_HOST, "*.alloy.test", "alloy.test"))


def cpcompile(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "cpcompile", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"cpcompile {args} failed:\n{done.stdout}\n{done.stderr}"
    return done


PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>home</title>
<script>
!function(n,o){o.forEach(function(o){n[o]||((n.__alloyNS=n.__alloyNS||[]).push(o),n[o]=function(){var u=arguments;return new Promise(function(i,l){n[o].q.push([i,l,u])})},n[o].q=[])})}(window,["alloy"]);
</script>
<script src="/alloy.js" async></script>
</head><body><h1>home</h1></body></html>
"""


class PageServer(http.server.ThreadingHTTPServer):
    """The pages' origins: ``/`` is a page with the Web SDK's base code, ``/alloy.js`` the SDK."""

    daemon_threads = True

    def __init__(self, port: int, context: ssl.SSLContext, alloy: bytes) -> None:
        self.files = {"/": (PAGE, "text/html; charset=utf-8"), "/alloy.js": (alloy, "text/javascript")}
        super().__init__(("127.0.0.1", port), PageHandler)
        self.socket = context.wrap_socket(self.socket, server_side=True)


class PageHandler(http.server.BaseHTTPRequestHandler):
    server: PageServer

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        found = self.server.files.get(self.path.split("?", 1)[0])
        if found is None:
            self.send_error(404)
            return
        body, kind = found
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@dataclass
class Stack:
    """The running servers of one test module."""

    edge_port: int
    page_port: int
    certfile: Path
    log: Path

    @property
    def edge_url(self) -> str:
        return f"https://127.0.0.1:{self.edge_port}"

    @property
    def cross_site_page(self) -> str:
        return f"https://127.0.0.1:{self.page_port}"

    def request(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.edge_url + path, data=data, method=method)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        context = ssl.create_default_context(cafile=str(self.certfile))
        try:
            with urllib.request.urlopen(req, context=context, timeout=5) as res:
                return res.status, res.read()
        except urllib.error.HTTPError as err:
            with err:
                return err.code, err.read()

    def requests_total(self, route: str, status: int = 200) -> int:
        """``cpcompile_requests_total`` for one route template and status, from /metrics."""
        status_code, text = self.request("GET", "/metrics")
        assert status_code == 200
        total = 0
        for line in text.decode().splitlines():
            name, _, rest = line.partition("{")
            if name != "cpcompile_requests_total":
                continue
            labels_text, _, value = rest.rpartition("}")
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels_text))
            if labels.get("route") == route and labels.get("status") == str(status):
                total += int(float(value))
        return total

    def requests_since(self, before: int, route: str, status: int = 200) -> int:
        """How many more ``route`` requests than ``before`` were answered. A request's count is
        recorded just after its answer is sent, so give it a moment to appear."""
        deadline = time.monotonic() + 2
        while True:
            count = self.requests_total(route, status) - before
            if count > 0 or time.monotonic() > deadline:
                return count
            time.sleep(0.02)


@contextlib.contextmanager
def running_stack(root: Path, alloy_js: bytes) -> Iterator[Stack]:
    """``cpcompile serve`` on a config compiled in ``root``, and the page server."""
    config = root / "config"
    for rel, text in CONFIG.items():
        (config / rel).parent.mkdir(parents=True, exist_ok=True)
        (config / rel).write_text(text)
    cpcompile("build", cwd=config)
    profiles = root / "profiles.sqlite3"
    lines = root / "profiles.jsonl"
    lines.write_text("".join(json.dumps(p) + "\n" for p in PROFILES))
    cpcompile("profiles", "import", lines, "--profiles", profiles)
    certfile, keyfile = write_certificate(root)

    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(certfile, keyfile)
    with contextlib.ExitStack() as cleanup:
        pages = PageServer(free_port(), tls, alloy_js)
        cleanup.callback(pages.server_close)
        page_thread = threading.Thread(target=pages.serve_forever, name="page-server", daemon=True)
        page_thread.start()
        cleanup.callback(page_thread.join, 5)
        cleanup.callback(pages.shutdown)

        stack = Stack(free_port(), pages.server_address[1], certfile, root / "serve.log")
        command = [
            sys.executable, "-m", "cpcompile", "serve", str(config / "build" / "artifact.json"),
            "--port", str(stack.edge_port), "--certfile", str(certfile), "--keyfile", str(keyfile),
            "--org-id", ORG, "--profiles", str(profiles), "--location-hint", HINT,
            "--allowed-origin", ALLOWED_PAGE, "--allowed-origin", stack.cross_site_page,
        ]
        with open(stack.log, "wb") as log:
            server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=root,
                                      env=dict(os.environ, CPCOMPILE_API_TOKENS=TOKEN))
        cleanup.callback(stop, server)
        wait_until_healthy(stack, server)
        yield stack


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until_healthy(stack: Stack, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while True:
        if server.poll() is not None:
            pytest.fail(f"cpcompile serve exited with {server.returncode}:\n{stack.log.read_text()}", pytrace=False)
        try:
            if stack.request("GET", "/healthz")[0] == 200:
                return
        except OSError:  # URLError is one: not listening yet
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"cpcompile serve did not answer /healthz:\n{stack.log.read_text()}", pytrace=False)
        time.sleep(0.05)


# -- the browser --------------------------------------------------------------------------------

def playwright_api() -> Any:
    """Python Playwright's sync API, once Debian's chromium is known to be there."""
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"{CHROMIUM} is missing: install Debian's chromium package")
    try:
        from playwright import sync_api
    except ImportError:
        unavailable("Python playwright is missing: install the test extra")
    return sync_api


@contextlib.contextmanager
def launched_browser(api: Any, stack: Stack) -> Iterator[Any]:
    """Headless Debian chromium that reaches only ``stack`` (and 127.0.0.1)."""
    rules = (f"MAP {EDGE_HOST} 127.0.0.1:{stack.edge_port}, MAP *.alloy.test 127.0.0.1:{stack.page_port}, "
             "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
    args = [
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
        "--ignore-certificate-errors", f"--host-resolver-rules={rules}",
    ]
    with api.sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        except api.Error as err:
            unavailable(f"{CHROMIUM} did not start: {err}")
        try:
            yield launched
        finally:
            launched.close()
