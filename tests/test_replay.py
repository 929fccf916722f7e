"""`cpcompile replay BASE HEAD REQUESTS.jsonl`: recorded requests answered from both sides, the
answers that change counted by datastream and alias (a generated file with known changes),
reports (snapshots), Web SDK request bodies, and hostile or broken input: a located message
per bad line, a stable exit code, never a traceback."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import WEB_DATASTREAM, catalog, run, uuid, write_tree

EXIT_CHANGES = 4
WEB = uuid("d5", 1)
APP = uuid("d5", 2)
APP_DATASTREAM = f"id: {APP}\nname: App\nsandbox: prod\nedge_segmentation: true\npersonalization_destinations: true\n"


def a(n: int) -> str:
    return uuid("a0", n)


def _destination(n: int, alias: str, datastream: str, audiences: str, attributes: str = "") -> str:
    return f"id: {uuid('de', n)}\nname: Destination {n}\nalias: {alias}\ndatastream: {datastream}\n{attributes}audiences:\n{audiences}"


def _items(*ns: int) -> str:
    return "".join(f"  - id: {a(n)}\n" for n in ns)


FIRST_NAME = "attributes:\n  - source: person.name.firstName\n    target: firstName\n"
CITY = "attributes:\n  - source: homeAddress.city\n    target: city\n"


@pytest.fixture
def sides(tmp_path: Path) -> tuple[Path, Path]:
    """base and head config trees. From base to head, on datastream web: homeBanner drops
    a04 and a05 and gains a06, and maps city instead of firstName; adServer is new (a07); a08
    gets a window that closed at the end of 2026. On datastream app nothing changes."""
    common = {
        "datastreams/web.yaml": WEB_DATASTREAM,
        "datastreams/app.yaml": APP_DATASTREAM,
        "audiences/prod.yaml": catalog(10),
        "destinations/app.yaml": _destination(3, "appBanner", "app", _items(1, 2)),
    }
    base = write_tree(tmp_path / "base", {
        **common,
        "destinations/home.yaml": _destination(1, "homeBanner", "web", _items(1, 2, 3, 4, 5, 8), FIRST_NAME),
    })
    head = write_tree(tmp_path / "head", {
        **common,
        "destinations/home.yaml": _destination(
            1, "homeBanner", "web", _items(1, 2, 3, 6) + f"  - id: {a(8)}\n    end: 2026-12-31\n", CITY
        ),
        "destinations/ads.yaml": _destination(2, "adServer", "web", _items(7)),
    })
    return base, head


def _write(path: Path, requests: list[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in requests))
    return path


def _replay(base: Path, head: Path, requests: Path, *args: object):  # -> Result
    return run("replay", base, head, requests, "--now", "2027-02-01", *args)


# --- counts ------------------------------------------------------------------------------------

# (memberships on web, what changes for homeBanner / adServer); each pattern is repeated
PATTERNS = [
    ([a(1)], None),  # unchanged
    ([a(1), a(4)], "segments_removed"),
    ([a(4), a(5)], "destination_removed"),  # homeBanner's only hits are gone
    ([a(1), a(6)], "segments_added"),
    ([a(7)], "destination_added"),  # adServer is new
    ([a(8)], "destination_removed"),  # a08's window closed on head
    ([a(9), uuid("ff", 1)], None),  # mapped nowhere
]


def test_counts_on_a_generated_file_match_the_known_changes(sides: tuple[Path, Path], tmp_path: Path) -> None:
    base, head = sides
    requests = []
    expected: dict[str, int] = {}
    for i in range(700):
        memberships, kind = PATTERNS[i % len(PATTERNS)]
        reference = ("web", WEB, WEB.upper())[i % 3]  # file name, ID, ID in upper case
        if i % 2:
            requests.append({"datastream": reference, "memberships": memberships})
        else:  # the same as a segmentMembership map
            requests.append({"datastream": reference, "memberships": {"ups": {m: {"status": "realized"} for m in memberships}}})
        if kind:
            expected[kind] = expected.get(kind, 0) + 1
    for i in range(300):  # app: nothing changes there
        requests.append({"datastream": "app", "memberships": [a(1 + i % 3)]})
    result = _replay(base, head, _write(tmp_path / "r.jsonl", requests), "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["format"], document["version"]) == ("cpcompile-replay", 1)
    assert document["replayed"] == 1000 and document["bad_lines"] == 0
    assert document["changed"] == sum(expected.values()) == 500
    assert document["kinds"] == expected
    by_ds = {d["datastream"]: d for d in document["datastreams"]}
    assert by_ds[APP] == {"datastream": APP, "name": "app", "requests": 300, "changed": 0, "aliases": []}
    web = by_ds[WEB]
    assert (web["name"], web["requests"], web["changed"]) == ("web", 700, 500)
    aliases = {x["alias"]: x for x in web["aliases"]}
    assert aliases["adServer"] == {"alias": "adServer", "changed": 100, "kinds": {"destination_added": 100}}
    assert aliases["homeBanner"]["changed"] == 400
    # at most three examples of each kind, the first lines that show it
    examples = document["examples"]
    assert [e["line"] for e in examples if e["kind"] == "segments_added"] == [4, 11, 18]
    assert next(e for e in examples if e["kind"] == "segments_removed")["before"] == [a(4)]


def test_attributes_are_compared_for_authenticated_requests(sides: tuple[Path, Path], tmp_path: Path) -> None:
    base, head = sides
    profile = {"person": {"name": {"firstName": "Ada"}}, "homeAddress": {"city": "Zürich"}}
    requests = [
        {"datastream": "web", "memberships": [a(1)], "authenticated": True, "attributes": profile},
        {"datastream": "web", "memberships": [a(1)], "attributes": profile},  # not authenticated: none
    ]
    document = json.loads(_replay(base, head, _write(tmp_path / "r.jsonl", requests), "--format", "json").stdout)
    assert document["changed"] == 1
    assert [(e["kind"], e["line"], e["before"], e["after"]) for e in document["examples"]] == [
        ("attributes_changed", 1, {"firstName": {"value": "Ada"}}, {"city": {"value": "Zürich"}})
    ]


def test_exit_code_says_whether_some_answer_changed(sides: tuple[Path, Path], tmp_path: Path) -> None:
    base, head = sides
    changing = _write(tmp_path / "c.jsonl", [{"datastream": "web", "memberships": [a(7)]}])
    same = _write(tmp_path / "s.jsonl", [{"datastream": "web", "memberships": [a(1)]}])
    assert _replay(base, head, changing, "--exit-code").exit_code == EXIT_CHANGES
    assert _replay(base, head, changing).exit_code == 0
    result = _replay(base, head, same, "--exit-code")
    assert result.exit_code == 0, result.output
    assert "No answer changes" in result.stdout


def test_time_decides_windows(sides: tuple[Path, Path], tmp_path: Path) -> None:
    base, head = sides
    requests = [
        {"datastream": "web", "memberships": [a(8)], "time": "2026-12-30"},  # open on both
        {"datastream": "web", "memberships": [a(8)], "time": 1798761600},  # 2027-01-01: closed on head
        {"datastream": "web", "memberships": [a(8)]},  # --now 2027-02-01: closed on head
    ]
    document = json.loads(_replay(base, head, _write(tmp_path / "r.jsonl", requests), "--format", "json").stdout)
    assert [e["line"] for e in document["examples"]] == [2, 3]


def test_artifact_sides(sides: tuple[Path, Path], tmp_path: Path) -> None:
    base, head = sides
    for side in sides:
        assert run("build", side, "--out", tmp_path / f"build-{side.name}").exit_code == 0
    requests = _write(tmp_path / "r.jsonl", [{"datastream": WEB, "memberships": [a(7)]}, {"datastream": "web", "memberships": []}])
    result = _replay(tmp_path / "build-base", tmp_path / "build-head" / "artifact.json", requests, "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["changed"] == 1
    assert "r.jsonl:2: unknown datastream 'web': neither side knows it (both sides are artifacts, which know datastreams by ID only)" in result.stderr


def test_gzip_and_standard_input(sides: tuple[Path, Path], tmp_path: Path) -> None:
    base, head = sides
    line = json.dumps({"datastream": "web", "memberships": [a(7)]}) + "\n"
    packed = tmp_path / "r.jsonl.gz"
    packed.write_bytes(gzip.compress(line.encode() * 3))
    assert json.loads(_replay(base, head, packed, "--format", "json").stdout)["changed"] == 3
    from click.testing import CliRunner

    from cpcompile.cli import cli

    result = CliRunner().invoke(cli, ["replay", str(base), str(head), "-", "--format", "json"], input=line * 2)
    assert json.loads(result.stdout)["changed"] == 2


# --- the Web SDK's request body -----------------------------------------------------------------


def _web_sdk_body(**xdm: object) -> dict[str, object]:
    return {
        "events": [{"xdm": {"eventType": "web.webpagedetails.pageViews", "timestamp": "2027-01-15T09:37:18.878Z", **xdm}}],
        "query": {"identity": {"fetch": ["ECID"]}},
        "meta": {"state": {"domain": "example.com", "cookiesEnabled": True}},
    }


def test_web_sdk_request_bodies(sides: tuple[Path, Path], tmp_path: Path) -> None:
    base, head = sides
    membership = {"ups": {a(8): {"status": "realized"}, a(7): {"status": "exited"}}}
    requests = [
        # the datastream from configId, the memberships beside the body, the time from the event
        {"configId": WEB, "body": _web_sdk_body(), "memberships": [a(7)]},
        # the URL as alloy builds it; the memberships in the event's segmentMembership
        {"url": f"/ee/v1/interact?configId={WEB}&requestId=1", "body": _web_sdk_body(segmentMembership=membership)},
        # the time beside the body wins: a08's window is still open on head
        {"configId": "web", "body": _web_sdk_body(segmentMembership=membership), "time": "2026-12-01"},
        # no memberships anywhere: a visitor without a profile gets nothing on either side
        {"configId": WEB, "body": _web_sdk_body()},
    ]
    result = _replay(base, head, _write(tmp_path / "r.jsonl", requests), "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["replayed"] == 4
    assert [(e["kind"], e["line"]) for e in document["examples"]] == [("destination_added", 1), ("destination_removed", 2)]


def test_web_sdk_lines_refuse_what_the_web_sdk_never_sends(sides: tuple[Path, Path], tmp_path: Path) -> None:
    base, head = sides
    requests = [
        {"configId": WEB, "body": _web_sdk_body(), "authenticated": True},
        {"configId": WEB, "url": f"/ee/v1/interact?configId={WEB}", "body": _web_sdk_body()},
        {"url": "/ee/v1/interact?requestId=1", "body": _web_sdk_body()},
        {"configId": WEB, "body": {"events": []}},
        {"configId": WEB, "body": _web_sdk_body(timestamp="yesterday")},
    ]
    result = _replay(base, head, _write(tmp_path / "r.jsonl", requests))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "r.jsonl:1: a Web SDK request is never authenticated and carries no attributes; write it as a recorded"
        " request ('datastream', 'memberships', 'authenticated', 'attributes')".replace("r.jsonl", str(tmp_path / "r.jsonl")),
        f"{tmp_path / 'r.jsonl'}:2: a Web SDK request needs exactly one of 'configId' and 'url' (with ?configId=…)",
        f"{tmp_path / 'r.jsonl'}:3: url '/ee/v1/interact?requestId=1' has no configId query parameter",
        f"{tmp_path / 'r.jsonl'}:4: body.events must be a non-empty array of event objects",
        f"{tmp_path / 'r.jsonl'}:5: body.events[0].xdm.timestamp is 'yesterday': expected Unix seconds (1766599200), "
        "a date (2026-12-24) or an ISO 8601 instant (2026-12-24T18:00:00Z)",
    ]


# --- reports ------------------------------------------------------------------------------------

REPORT_REQUESTS = [
    {"datastream": "web", "memberships": [a(1), a(4)]},
    {"datastream": "web", "memberships": [a(4), a(5)]},
    {"datastream": "web", "memberships": [a(1), a(6)]},
    {"datastream": "web", "memberships": [a(7)]},
    {"datastream": "web", "memberships": [a(1)], "authenticated": True, "attributes": {"homeAddress": {"city": "Bern"}}},
    {"datastream": "app", "memberships": [a(1)]},
    "not json",
]


@pytest.mark.parametrize("fmt", ("text", "markdown"))
def test_report(fmt: str, sides: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snapshot) -> None:
    base, head = sides
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "requests.jsonl", REPORT_REQUESTS)
    result = run("replay", "base", "head", "requests.jsonl", "--now", "2027-02-01", "--format", fmt)
    assert result.exit_code == 1  # the bad line
    assert result.stderr == "requests.jsonl:7: not JSON (column 1): invalid literal, expected 'null'\n"
    assert result.stdout == snapshot


def test_no_change_report(sides: tuple[Path, Path], tmp_path: Path) -> None:
    base, _ = sides
    requests = _write(tmp_path / "r.jsonl", [{"datastream": "web", "memberships": [a(1)]}] * 2)
    result = _replay(base, base, requests, "--format", "markdown")
    assert result.exit_code == 0
    assert "**No answer changes&#58; the 2 requests get the same answers from both sides&#46;**" in result.stdout
    assert "<details>" not in result.stdout


# --- bad input ----------------------------------------------------------------------------------


def test_bad_lines_are_located_counted_and_skipped(sides: tuple[Path, Path], tmp_path: Path) -> None:
    base, head = sides
    good = {"datastream": "web", "memberships": [a(7)]}
    lines = [
        good,
        '{"datastream": "web", "memberships": [',  # malformed
        {"datastream": "web-prd", "memberships": []},  # unknown datastream
        {"datastream": "web", "memberships": a(1)},  # a string, not a list
        {"datastream": "web", "memberships": [1]},
        {"datastream": "web", "memberships": {"ups": {a(1): "realized"}}},
        {"datastream": "web", "memberships": [], "authenticated": "yes"},
        {"datastream": "web", "memberships": [], "time": "soon"},
        {"datastream": "web", "memberships": [], "attributes": [1]},
        {"datastream": "web", "membership": []},
        {"datastream": 7},
        [good],
        '"x"',
        {"configId": None},
        good,
    ]
    path = _write(tmp_path / "r.jsonl", lines)
    result = _replay(base, head, path, "--format", "json")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    document = json.loads(result.stdout)
    assert (document["replayed"], document["changed"], document["bad_lines"]) == (2, 2, 13)
    messages = [line.split(":", 2)[1:] for line in result.stderr.splitlines()]
    assert [int(n) for n, _ in messages] == list(range(2, 15))
    said = [m.strip() for _, m in messages]
    assert said == [
        "not JSON (column 39): unexpected end of data",
        "unknown datastream 'web-prd': neither side knows it; did you mean 'web'?",
        "memberships is a string: expected a list of audience IDs or a segmentMembership map "
        '({"ups": {"<audience id>": {"status": "realized"}}})',
        "memberships must hold audience IDs (strings), not a number",
        f"memberships['ups']['{a(1)}'] is a string, not a membership object like {{\"status\": \"realized\"}}",
        "authenticated is 'yes': expected true or false",
        "time is 'soon': expected Unix seconds (1766599200), a date (2026-12-24) or an ISO 8601 instant (2026-12-24T18:00:00Z)",
        "attributes is an array: expected an object of the profile's XDM attributes",
        "unknown field 'membership'; did you mean 'memberships'?",
        "datastream is a number: expected a datastream ID or file name",
        "a request is a JSON object, this line holds an array",
        "a request is a JSON object, this line holds a string",
        "configId is null: expected a datastream ID or file name",
    ]
    assert document["errors"][0] == {"line": 2, "message": said[0]}


def test_an_over_long_line_is_skipped_without_being_held(sides: tuple[Path, Path], tmp_path: Path) -> None:
    base, head = sides
    good = json.dumps({"datastream": "web", "memberships": [a(7)]})
    huge = json.dumps({"datastream": "web", "memberships": [a(1)] * 80_000})  # 3 MiB
    path = tmp_path / "r.jsonl"
    path.write_text(f"{good}\n{huge}\n{good}\n{'x' * 2_000_000}")  # the last one has no newline
    result = _replay(base, head, path, "--format", "json")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{path}:2: longer than 1024 KiB; skipped",
        f"{path}:4: longer than 1024 KiB; skipped",
    ]
    document = json.loads(result.stdout)
    assert (document["replayed"], document["changed"], document["bad_lines"]) == (2, 2, 2)


def test_only_the_first_errors_are_listed(sides: tuple[Path, Path], tmp_path: Path) -> None:
    base, head = sides
    path = tmp_path / "r.jsonl"
    path.write_text("nope\n" * 1000)
    result = _replay(base, head, path)
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 21
    assert result.stderr.splitlines()[-1] == "... and 980 more bad lines"
    assert "1,000 bad lines skipped (not counted above). The first 20 are listed on stderr as FILE:LINE." in result.stdout


def test_input_reaches_output_escaped(sides: tuple[Path, Path], tmp_path: Path) -> None:
    base, head = sides
    hostile = "\x1b[31m\u202e\n::error::x"
    path = _write(tmp_path / "r.jsonl", [{"datastream": hostile}, {hostile: 1, "datastream": "web"}])
    for fmt in ("text", "markdown", "json"):
        result = _replay(base, head, path, "--format", fmt)
        assert result.exit_code == 1
        for raw in ("\x1b", "\u202e", "\n::error"):
            assert raw not in result.stderr and raw not in result.stdout, (fmt, raw)
    assert "\\x1b[31m\\u202e\\n::error::x" in result.stderr


def test_unusable_inputs_are_usage_errors(sides: tuple[Path, Path], tmp_path: Path) -> None:
    base, head = sides
    requests = _write(tmp_path / "r.jsonl", [])
    for args, says in [
        ((base, head, tmp_path / "missing.jsonl"), "no such file"),
        ((base, head, tmp_path), "not a regular file"),
        ((base, tmp_path / "nowhere", requests), "neither a file, a directory nor a commit"),
        ((base, head, requests, "--now", "tomorrow"), "--now"),
    ]:
        result = run("replay", *args)
        assert result.exit_code == 2, result.output
        assert says in result.output
    broken = tmp_path / "gz.jsonl.gz"
    packed = gzip.compress("".join(json.dumps({"datastream": "web", "memberships": [uuid("a0", i * 7919 % 100_003)]}) + "\n" for i in range(5000)).encode())
    broken.write_bytes(packed[: len(packed) // 2])
    result = run("replay", base, head, broken)
    assert result.exit_code == 2 and "cannot read on after line" in result.output


def test_a_side_with_config_errors_is_reported_as_validate_reports_it(sides: tuple[Path, Path], tmp_path: Path) -> None:
    base, head = sides
    (head / "destinations" / "ads.yaml").write_text("id: nope\n")
    result = _replay(base, head, _write(tmp_path / "r.jsonl", []))
    assert result.exit_code == 1
    assert "has errors; nothing replayed" in result.stderr
    assert "destinations/ads.yaml" in result.stdout


# --- cpcompile diff --replay --------------------------------------------------------------------


def test_diff_can_replay_the_requests_after_its_plan(sides: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base, head = sides
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "r.jsonl", [{"datastream": "web", "memberships": [a(7)]}, {"datastream": "app", "memberships": [a(1)]}])
    plain = run("diff", "base", "head", "--format", "markdown")
    result = run("diff", "base", "head", "--format", "markdown", "--replay", "r.jsonl", "--exit-code")
    assert result.exit_code == EXIT_CHANGES, result.output
    plan, section = result.stdout.split("\n### Replay of 2 recorded requests: base → head\n")
    assert plan == plain.stdout  # the plan as diff writes it without --replay
    assert "**1 of 2 answers change (50&#46;0%) on 1 datastream**" in section
    text = run("diff", "base", "head", "--replay", "r.jsonl")
    assert text.stdout.startswith(run("diff", "base", "head").stdout + "\nreplay: base -> head, 2 requests from r.jsonl\n")
    document = json.loads(run("diff", "base", "head", "--format", "json", "--replay", "r.jsonl").stdout)
    assert document["format"] == "cpcompile-diff" and document["effective"]
    assert (document["replay"]["format"], document["replay"]["changed"]) == ("cpcompile-replay", 1)


def test_diff_replay_bad_lines_and_unreadable_files(sides: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "r.jsonl", ["{", {"datastream": "web", "memberships": [a(7)]}])
    result = run("diff", "base", "head", "--replay", "r.jsonl", "--exit-code")
    assert result.exit_code == 1
    assert result.stderr.startswith("r.jsonl:1: not JSON")
    missing = run("diff", "base", "head", "--replay", "missing.jsonl")
    assert missing.exit_code == 2 and "missing.jsonl: no such file" in missing.output


def test_diff_replay_keeps_the_comment_within_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cpcompile.plan_render import COMMENT_BUDGET, comment_length

    def tree(root: Path, audiences: range) -> None:
        files = {"datastreams/web.yaml": WEB_DATASTREAM, "audiences/prod.yaml": catalog(2000)}
        for n in range(1, 61):
            files[f"destinations/d{n:02d}.yaml"] = _destination(n, f"alias{n}", "web", "".join(f"  - id: {a(i)}\n" for i in audiences))
        write_tree(root, files)

    tree(tmp_path / "base", range(1, 101))
    tree(tmp_path / "head", range(101, 201))
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "r.jsonl", [{"datastream": "web", "memberships": [a(i), a(100 + i)]} for i in range(1, 100)])
    markdown = run("diff", "base", "head", "--format", "markdown", "--replay", "r.jsonl").stdout
    assert comment_length(markdown) <= COMMENT_BUDGET
    assert "shows the changes of " in markdown  # the plan was cut to leave room
    assert markdown.split("### Replay of 99 recorded requests")[1].count("\n| ") == 1 + 50 + 1  # header, 50 rows, "and N more"


def test_hostile_json_is_a_bad_line(sides: tuple[Path, Path], tmp_path: Path) -> None:
    base, head = sides
    path = tmp_path / "r.jsonl"
    path.write_bytes(b"\n".join([
        b"[" * 100_000 + b"]" * 100_000,  # nested too deep
        b'{"datastream": "web", "memberships": ["\\ud800"]}',  # a lone surrogate
        b'{"datastream": "web", "time": 1e999}',  # beyond a double
        b'{"datastream": "web", "memberships": ["\xff"]}',  # not UTF-8
        b'{"datastream": "web", "memberships": {"ups": []}}',
        b'{"datastream": "web", "memberships": {"segmentMembership": {}}}',
        b"\x00",
    ]))
    result = _replay(base, head, path, "--format", "json")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert json.loads(result.stdout)["bad_lines"] == 7
    said = [line.split(":", 2)[2].strip() for line in result.stderr.splitlines()]
    assert said[0].startswith("not JSON") and "depth" in said[0]
    assert said[1].startswith("not JSON") and "surrogate" in said[1]
    assert said[4] == "memberships['ups'] is an array, not an object of audiences"
    assert said[5] == "memberships holds another segmentMembership: give the map itself"
    assert "\x00" not in result.stderr


def test_a_corrupt_gzip_file_ends_the_run_with_a_usage_error(sides: tuple[Path, Path], tmp_path: Path) -> None:
    base, head = sides
    packed = bytearray(gzip.compress("".join(json.dumps({"datastream": "web", "memberships": [uuid("a0", i * 7919 % 100_003)]}) + "\n" for i in range(5000)).encode()))
    for start, garbage in ((len(packed) // 2, bytes(40)), (20, b"\xff" * 40)):  # a bad checksum; bad deflate data
        broken = tmp_path / "r.jsonl.gz"
        broken.write_bytes(bytes(packed[:start]) + garbage + bytes(packed[start + 40:]))
        result = run("replay", base, head, broken)
        assert result.exit_code == 2, result.output
        assert "cannot read on after line" in result.output


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_revision_sides(sides: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two commits of a repository whose config is in config/: the working tree (a third
    version) is neither read nor touched."""
    base, head = sides
    repo = tmp_path / "repo"
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    for n, side in enumerate((base, head)):
        shutil.rmtree(repo / "config", ignore_errors=True)
        shutil.copytree(side, repo / "config")
        for args in ([["init", "-q", "-b", "main"]] if n == 0 else []) + [["add", "-A", "."], ["commit", "-q", "-m", side.name]]:
            subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True)
    (repo / "config" / "destinations" / "ads.yaml").unlink()  # uncommitted: HEAD still has adServer
    _write(tmp_path / "r.jsonl", [{"datastream": "web", "memberships": [a(7)]}])
    monkeypatch.chdir(repo)
    result = run("replay", "HEAD~1", "HEAD", tmp_path / "r.jsonl", "--root", "config", "--exit-code", "--format", "json")
    assert result.exit_code == EXIT_CHANGES, result.output
    document = json.loads(result.stdout)
    assert (document["base"], document["head"], document["kinds"]) == ("HEAD~1", "HEAD", {"destination_added": 1})
    assert not (repo / "config" / "destinations" / "ads.yaml").exists()
