"""`cpcompile site`: the static HTML catalog, through the command line and in a real browser.

Structure and links of the example's site, hostile names in every free-text field, byte-equal
output, the atomic write and the refusals, a snapshot of the index page, and Debian's chromium
searching, clicking through and finding no console error and no failed request."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import unquote, urlsplit

import pytest

from conftest import REPO_ROOT, copy_example, edit, run
from cpcompile.validate import validate_tree

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]
NO_ICON = "data:,"  # <link rel="icon">: an empty icon, so the browser asks for none
SAFE_HREF = re.compile(r"data:,|(\.\./)?(index\.html|audiences\.html|(destinations|audiences)/[0-9a-z-]+\.html)?(#ds-[0-9a-z-]+)?")


class Page(HTMLParser):
    """What a page links to, which ids it has, its scripts and every attribute."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.scripts: list[dict[str, str | None]] = []
        self.attributes: list[tuple[str, str, str | None]] = []
        self.script_text: list[str] = []
        self._in_script = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            self.attributes.append((tag, name, value))
            if name in ("href", "src", "action", "xlink:href") and value is not None:
                self.links.append(value)
            if name == "id" and value:
                self.ids.add(value)
        if tag == "script":
            self.scripts.append(dict(attrs))
            self._in_script = True
            self.script_text.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text[-1] += data


def site_pages(site: Path) -> dict[str, str]:
    return {p.relative_to(site).as_posix(): p.read_text(encoding="utf-8") for p in sorted(site.rglob("*")) if p.is_file()}


def tree_state(folder: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file and folder under ``folder`` with its bytes, mtime and inode: a rewrite shows."""
    out = {".": (b"", folder.stat().st_mtime_ns, folder.stat().st_ino)}
    for path in sorted(folder.rglob("*")):
        st = path.stat()
        out[path.relative_to(folder).as_posix()] = (b"" if path.is_dir() else path.read_bytes(), st.st_mtime_ns, st.st_ino)
    return out


def broken_links(site: Path) -> Iterator[str]:
    """Every internal link that does not resolve to a written file (and, with a fragment, to an
    element of it), and every link that leaves the site."""
    pages = {path: Page(text) for path, text in site_pages(site).items()}
    for path, page in pages.items():
        for href in page.links:
            if href == NO_ICON:
                continue
            parts = urlsplit(href)
            if parts.scheme or parts.netloc:
                yield f"{path}: external link {href!r}"
                continue
            target = os.path.normpath(os.path.join(os.path.dirname(path), unquote(parts.path))) if parts.path else path
            if target not in pages:
                yield f"{path}: {href!r} -> {target} is not written"
            elif parts.fragment and parts.fragment not in pages[target].ids:
                yield f"{path}: {href!r} -> no id {parts.fragment!r} in {target}"


def make_site(root: Path, out: Path, env: dict[str, str] | None = None) -> Any:
    result = run("site", root, "--out", out, env=env)
    assert result.exit_code == 0, result.output
    return result


# --- the example config -----------------------------------------------------------------------


def test_example_site_has_a_page_per_destination_and_audience_and_no_broken_link(tmp_path: Path) -> None:
    out = tmp_path / "site"
    result = make_site(REPO_ROOT, out)
    project = validate_tree(REPO_ROOT).project
    destinations = {e.model.id for e in project.destinations}
    audiences = {a.id for c in project.catalogs for a in c.model.audiences} | {
        m.id for e in project.destinations for m in e.model.audiences
    }
    written = set(site_pages(out))
    assert written == {
        "index.html", "audiences.html", *(f"destinations/{i}.html" for i in destinations),
        *(f"audiences/{i}.html" for i in audiences),
    }
    assert f"{len(destinations)} destination pages, {len(audiences)} audience pages" in result.output
    assert list(broken_links(out)) == []
    index = Page((out / "index.html").read_text())
    # every destination and every datastream is reachable from the index
    assert {f"destinations/{i}.html" for i in destinations} <= set(index.links)
    assert {f"#ds-{e.model.id}" for e in project.datastreams} <= set(index.links)
    # every audience is on the audience list
    assert {f"audiences/{i}.html" for i in audiences} <= set(Page((out / "audiences.html").read_text()).links)


def test_destination_page_shows_alias_datastream_windows_attributes_and_governance(tmp_path: Path) -> None:
    out = tmp_path / "site"
    make_site(REPO_ROOT, out)
    page = (out / "destinations/7bb4cb8d-8c2e-4450-871d-b7824f547111.html").read_text()
    for text in (
        "<h1>Home page personalization</h1>", "<code>personalizationAlias</code>", "Web (production)",
        "<td>2026-12-01</td>", "<td>2027-01-31</td>", "<code>firstName</code>", "<code>person.name.firstName</code>",
        "<code>onsitePersonalization</code> (Onsite Personalization)", '<span class="label">I1</span>',
        "No combined health and location data on site", "<svg class=\"graph\"",
    ):
        assert text in page, text
    # each mapped audience links to its page, and the picture links them too
    links = Page(page).links
    assert links.count("../audiences/8c2d4f61-5a7e-4b3c-9d1e-2f3a4b5c6d7e.html") == 2


def test_audience_page_says_where_it_is_used(tmp_path: Path) -> None:
    out = tmp_path / "site"
    make_site(REPO_ROOT, out)
    page = (out / "audiences/499eb3e7-3d50-47d3-ad30-a5ad99e8ab77.html").read_text()
    for text in ("<h1>Renters looking to buy</h1>", "<dd>prod</dd>", "<code>ups</code>", "streaming",
                 "Default time-based (active on edge)", "active on edge", "timestamp ordered"):
        assert text in page, text
    links = Page(page).links
    # mapped by the ad server and the personalization engine, both on the production datastream
    assert "../destinations/2c0e6f4a-1b3d-4e5f-8a9b-0c1d2e3f4a5b.html" in links
    assert "../destinations/7bb4cb8d-8c2e-4450-871d-b7824f547111.html" in links
    assert "../index.html#ds-0f3a6c1e-2b7d-4e59-9c3a-1d2e3f4a5b6c" in links


def test_audience_in_no_catalog_gets_a_page_that_says_so(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "config")
    (root / "audiences/stage.yaml").unlink()  # the staging sandbox has no catalog: a warning (CP147)
    out = tmp_path / "site"
    result = make_site(root, out)
    assert "warning CP147" in result.output and "0 errors, 1 warning" in result.output
    page = (out / "audiences/c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f.html").read_text()
    assert "<h1>c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f</h1>" in page
    assert "is in no catalog" in page
    assert "../destinations/9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a.html" in Page(page).links
    assert list(broken_links(out)) == []


def test_a_larger_tree_is_drawn_in_summary_and_keeps_every_link(tmp_path: Path) -> None:
    """The generated m tree: 10 datastreams of 10 destinations with 100 audiences each, with
    governance data: pictures of a datastream count the audiences per destination, pictures of
    a destination stop at 40 boxes, the index names 8 audiences per destination."""
    root = tmp_path / "tree"
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks/generate.py"), str(root), "--size", "m", "--governance"],
        check=True, stdout=subprocess.DEVNULL,
    )
    out = tmp_path / "site"
    result = make_site(root, out)
    assert "100 destination pages, 1000 audience pages" in result.output
    assert list(broken_links(out)) == []
    index = (out / "index.html").read_text()
    assert index.count('class="node more"') == 100  # one box per destination: "N audiences"
    assert re.search(r'<a class="more" href="destinations/[0-9a-f-]+\.html">and [0-9]+ more</a>', index)
    destination = next((out / "destinations").iterdir()).read_text()
    assert destination.count('class="node audience"') == 40
    assert re.search(r">and [0-9]+ more audiences</text>", destination)
    assert "<th>labels</th>" in destination  # governance data is there: labels and policies shown
    assert "Data usage policies on its marketing actions" in destination


# --- hostile names ----------------------------------------------------------------------------

SCRIPT = "</script><script>alert(1)</script>"
ATTRIBUTE = '" onmouseover="alert(2)" x="'
URL = "javascript:alert(3)"
SEPARATORS = "line\u2028sep\u2029para <!-- -->"
HOSTILE_CONFIG = {
    "datastreams/web.yaml": f"""\
id: 11111111-1111-4111-8111-111111111111
name: {json.dumps(SCRIPT)}
description: {json.dumps(ATTRIBUTE)}
sandbox: {json.dumps("prod" + SCRIPT)}
edge_segmentation: true
personalization_destinations: true
""",
    # file names are shown too: a hostile one is text as well
    'destinations/"><svg onload=alert(6)>.yaml': f"""\
id: 22222222-2222-4222-8222-222222222222
name: {json.dumps(URL)}
description: {json.dumps(SEPARATORS)}
alias: {json.dumps('"><img src=x onerror=alert(4)>')}
datastream: web
marketing_actions: [onsitePersonalization]
attributes:
  - source: person.name.firstName
    target: {json.dumps("<svg onload=alert(5)>")}
audiences:
  - id: 33333333-3333-4333-8333-333333333333
  - id: 44444444-4444-4444-8444-444444444444
    start: 2026-12-01
""",
    "audiences/prod.yaml": f"""\
sandbox: {json.dumps("prod" + SCRIPT)}
merge_policies:
  - id: 55555555-5555-4555-8555-555555555555
    name: {json.dumps("<style>*{display:none}</style>")}
    active_on_edge: true
audiences:
  - id: 33333333-3333-4333-8333-333333333333
    name: {json.dumps(SCRIPT)}
    merge_policy: 55555555-5555-4555-8555-555555555555
    evaluation: edge
  - id: 44444444-4444-4444-8444-444444444444
    name: {json.dumps(URL + ATTRIBUTE + SEPARATORS)}
    merge_policy: 55555555-5555-4555-8555-555555555555
    evaluation: edge
""",
}


@pytest.fixture
def hostile_site(tmp_path: Path) -> Path:
    root = tmp_path / "config"
    for rel, text in HOSTILE_CONFIG.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    validation = run("validate", root)
    assert validation.exit_code == 0, validation.output  # names and descriptions are free text
    out = tmp_path / "site"
    make_site(root, out)
    return out


def test_hostile_names_are_text_everywhere(hostile_site: Path) -> None:
    pages = site_pages(hostile_site)
    assert len(pages) == 5
    for path, text in pages.items():
        page = Page(text)
        scripts = 2 if path == "index.html" else 0
        assert len(page.scripts) == scripts, path  # the search data and the search script, nothing else
        for tag, name, value in page.attributes:
            assert not name.startswith("on"), (path, tag, name, value)
            assert tag not in ("img", "iframe", "object", "embed", "style") or path == "", (path, tag)
        for href in page.links:
            assert SAFE_HREF.fullmatch(href), (path, href)
        assert "<script>alert" not in text and "<img" not in text and "<svg onload" not in text, path
    destination = pages["destinations/22222222-2222-4222-8222-222222222222.html"]
    assert "<h1>javascript:alert(3)</h1>" in destination  # shown, never a link
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in destination
    assert "&#34;&gt;&lt;img src=x onerror=alert(4)&gt;" in destination
    assert "&lt;svg onload=alert(5)&gt;" in destination
    assert "<code>destinations/&#34;&gt;&lt;svg onload=alert(6)&gt;.yaml</code>" in destination
    audience = pages["audiences/33333333-3333-4333-8333-333333333333.html"]
    assert "&lt;style&gt;*{display:none}&lt;/style&gt;" in audience


def test_search_data_cannot_leave_its_script_element(hostile_site: Path) -> None:
    text = (hostile_site / "index.html").read_text(encoding="utf-8")
    page = Page(text)
    data_script, code = page.script_text
    assert page.scripts[0] == {"type": "application/json", "id": "search-data"}
    assert "<" not in data_script and ">" not in data_script and "&" not in data_script
    assert all(ord(c) < 128 for c in data_script)  # U+2028 and U+2029 are escapes
    entries = json.loads(data_script)
    titles = {e[1] for e in entries}
    assert {SCRIPT, URL, URL + ATTRIBUTE + SEPARATORS} <= titles
    assert all(SAFE_HREF.fullmatch(e[4]) for e in entries)
    assert "alert" not in code


def test_content_security_policy_allows_only_the_pages_own_style_and_script(hostile_site: Path) -> None:
    for path, text in site_pages(hostile_site).items():
        csp = [v for tag, name, v in Page(text).attributes if tag == "meta" and name == "content" and v and "default-src" in v]
        assert len(csp) == 1, path
        assert csp[0].startswith("default-src 'none'; style-src 'sha256-")
        assert "unsafe-inline" not in csp[0]


# --- determinism, the write, refusals --------------------------------------------------------


def test_same_config_same_bytes(tmp_path: Path) -> None:
    first = copy_example(tmp_path / "a")
    second = copy_example(tmp_path / "b", seed=3)
    make_site(first, tmp_path / "site-a")
    make_site(second, tmp_path / "site-b")
    make_site(first, tmp_path / "site-a2")
    pages = site_pages(tmp_path / "site-a")
    assert pages == site_pages(tmp_path / "site-b") == site_pages(tmp_path / "site-a2")
    assert not re.search(r"\b20[0-9]{2}-[0-9]{2}-[0-9]{2}T", pages["index.html"])  # no clock


def test_source_date_epoch_dates_the_site(tmp_path: Path) -> None:
    make_site(REPO_ROOT, tmp_path / "site", env={"SOURCE_DATE_EPOCH": "1798761600"})
    assert "on 2027-01-01." in (tmp_path / "site/index.html").read_text()
    bad = run("site", REPO_ROOT, "--out", tmp_path / "other", env={"SOURCE_DATE_EPOCH": "soon"})
    assert bad.exit_code == 2 and not (tmp_path / "other").exists()


def test_config_errors_are_reported_and_nothing_is_written(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "config")
    out = tmp_path / "site"
    make_site(root, out)
    before = tree_state(out)
    edit(root / "destinations/ad-server.yaml", "datastream: web-prod", "datastream: web-prd")
    result = run("site", root, "--out", out)
    assert result.exit_code == 1
    assert "error CP132 unknown datastream 'web-prd'" in result.output
    assert result.output == run("validate", root).output  # reported as validate reports it
    assert tree_state(out) == before  # the earlier site is left as it was
    fresh = run("site", root, "--out", tmp_path / "fresh")
    assert fresh.exit_code == 1 and not (tmp_path / "fresh").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left


def test_an_earlier_site_is_replaced_whole(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "config")
    out = tmp_path / "site"
    make_site(root, out)
    (root / "destinations/ad-server.yaml").unlink()
    make_site(root, out)
    assert not (out / "destinations/2c0e6f4a-1b3d-4e5f-8a9b-0c1d2e3f4a5b.html").exists()
    assert list(broken_links(out)) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config", "site"]


@pytest.mark.parametrize("where", ["destinations", "audiences/site", "datastreams/x/y", "policies", "specs", ".", ".."])
def test_out_inside_the_config_is_refused(tmp_path: Path, where: str) -> None:
    root = copy_example(tmp_path / "config")
    (root / "policies").mkdir(exist_ok=True)
    (root / "specs").mkdir(exist_ok=True)
    before = tree_state(root)
    result = run("site", root, "--out", root / where)
    assert result.exit_code == 2, result.output
    assert "write the site" in result.output
    assert tree_state(root) == before


def test_a_folder_that_is_not_a_site_is_not_replaced(tmp_path: Path) -> None:
    out = tmp_path / "docs"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = run("site", REPO_ROOT, "--out", out)
    assert result.exit_code == 2
    assert "holds no earlier site" in result.output
    assert (out / "notes.txt").read_text() == "mine"
    empty = tmp_path / "empty"
    empty.mkdir()
    make_site(REPO_ROOT, empty)
    assert (empty / "index.html").is_file()


def test_index_page_snapshot(tmp_path: Path, snapshot: Any) -> None:
    out = tmp_path / "site"
    make_site(copy_example(tmp_path / "config"), out)
    assert (out / "index.html").read_text(encoding="utf-8") == snapshot


# --- in a browser -----------------------------------------------------------------------------


@pytest.fixture
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing: install Debian's chromium package"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI is set, so the browser tests must run)", pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Watched:
    """A page with everything that went wrong on it recorded."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1200, "height": 900}, java_script_enabled=True)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"failed request: {r.url} {r.failure}"))
        self.page.on("dialog", lambda d: (self.problems.append(f"dialog: {d.message}"), d.dismiss()))
        self.page.on("request", lambda r: self.requests.append(r.url))


def test_browser_searches_an_audience_and_follows_it_to_a_destination(tmp_path: Path, chromium: Any) -> None:
    out = tmp_path / "site"
    make_site(REPO_ROOT, out)
    watched = Watched(chromium)
    page = watched.page
    page.goto((out / "index.html").as_uri())
    search = page.locator("#q")
    search.wait_for(state="visible")
    page.wait_for_function("!document.getElementById('q').disabled")
    search.click()
    search.press_sequentially("holiday rentals", delay=20)  # typed, key by key
    result = page.locator("#results a", has_text="Holiday rentals browsers")
    result.wait_for()
    assert page.locator("#search-status").inner_text() == "1 found."
    result.click()
    page.wait_for_url("**/audiences/8c2d4f61-5a7e-4b3c-9d1e-2f3a4b5c6d7e.html")
    assert page.locator("h1").inner_text() == "Holiday rentals browsers"
    page.locator("table a", has_text="Home page personalization").first.click()
    page.wait_for_url("**/destinations/7bb4cb8d-8c2e-4450-871d-b7824f547111.html")
    assert page.locator("h1").inner_text() == "Home page personalization"
    assert page.locator("dd code", has_text="personalizationAlias").count() == 1
    # the picture's boxes are links too: back to the audience from the graph
    page.locator("svg.graph a", has_text="Holiday rentals browsers").click()
    page.wait_for_url("**/audiences/8c2d4f61-5a7e-4b3c-9d1e-2f3a4b5c6d7e.html")
    page.go_back()
    shot = tmp_path / "site-destination.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 0
    assert watched.problems == []
    assert all(url.startswith("file://") for url in watched.requests), watched.requests


def test_browser_shows_hostile_names_as_text_and_runs_nothing(hostile_site: Path, chromium: Any) -> None:
    watched = Watched(chromium)
    page = watched.page
    page.goto((hostile_site / "index.html").as_uri())
    page.wait_for_function("!document.getElementById('q').disabled")
    page.locator("#q").fill("alert(1)")
    page.locator("#results a").first.wait_for()
    assert SCRIPT in page.locator("#results").inner_text()
    for link in page.locator("a").all():
        link.hover()  # an onmouseover that got through would fire here
    page.goto((hostile_site / "destinations/22222222-2222-4222-8222-222222222222.html").as_uri())
    assert page.locator("h1").inner_text() == URL
    assert page.locator("img").count() == 0
    for link in page.locator("a").all():
        link.hover()
    assert watched.problems == []
