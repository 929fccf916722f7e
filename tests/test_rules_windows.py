"""Activation window bounds through the command line: the two accepted forms, the far end of the
calendar, and what the YAML layer says about instants in flow collections."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import DATASTREAM_ID, WEB_DATASTREAM, uuid, write_tree

from cpcompile.cli import cli

AUDIENCE, POLICY = uuid("a0", 1), uuid("3e", 1)
CATALOG = (
    f"sandbox: prod\nmerge_policies:\n  - id: {POLICY}\n    name: Default\n    active_on_edge: true\n"
    f"audiences:\n  - id: {AUDIENCE}\n    name: A\n    merge_policy: {POLICY}\n"
)


def tree(tmp_path: Path, window: str) -> Path:
    return write_tree(tmp_path, {
        "datastreams/web.yaml": WEB_DATASTREAM,
        "audiences/prod.yaml": CATALOG,
        "destinations/home.yaml": (
            f"id: {uuid('de', 1)}\nname: Home\nalias: home\ndatastream: web\naudiences:\n  - id: {AUDIENCE}\n{window}"
        ),
    })


def built_mapping(runner, root: Path) -> dict:
    result = runner.invoke(cli, ["build", str(root), "--out", str(root / "build"), "--no-cache"])
    assert result.exit_code == 0, result.output
    body = json.loads((root / "build" / "artifact.json").read_bytes())["body"]
    (mapping,) = body["datastreams"][DATASTREAM_ID]["audiences"][AUDIENCE]["mappings"]
    return mapping


def test_the_last_day_of_the_calendar_is_a_valid_end(runner, tmp_path):
    root = tree(tmp_path, "    start: 2026-12-01\n    end: 9999-12-31\n")
    result = runner.invoke(cli, ["validate", str(root), "--strict"])
    assert (result.exit_code, result.stderr) == (0, "")
    mapping = built_mapping(runner, root)
    assert (mapping["start"], mapping["end"]) == (1796083200, 253402300800)  # 10000-01-01T00:00:00Z


def test_the_first_and_last_instants_of_the_calendar_compile(runner, tmp_path):
    root = tree(tmp_path, "    start: 0001-01-01T00:00:00+01:00\n    end: 9999-12-31T23:59:59-01:00\n")
    mapping = built_mapping(runner, root)
    assert (mapping["start"], mapping["end"]) == (-62135596800 - 3600, 253402300800 - 1 + 3600)


def test_an_end_day_before_a_start_near_the_end_of_the_calendar_is_still_cp126(runner, tmp_path):
    root = tree(tmp_path, "    start: 9999-12-31T12:00:00-12:00\n    end: 9999-12-31\n")
    result = runner.invoke(cli, ["validate", str(root), "--format", "json"])
    assert [d["code"] for d in json.loads(result.stdout)["diagnostics"]] == ["CP126"]


@pytest.mark.parametrize(
    ("window", "start", "end"),
    [
        ("    start: 2026-12-01T08:00\n    end: 2026-12-01T09:30+01:00\n", 1796112000, 1796113800),
        ("    start: 2026-12-01T08:00:00\n    end: 2026-12-01T08:00:01Z\n", 1796112000, 1796112001),
        ('    start: "2026-12-01"\n    end: 2026-12-01\n', 1796083200, 1796169600),
    ],
)
def test_accepted_forms_compile_to_exact_seconds(runner, tmp_path, window, start, end):
    mapping = built_mapping(runner, tree(tmp_path, window))
    assert (mapping["start"], mapping["end"]) == (start, end)


@pytest.mark.parametrize(
    ("value", "message", "hint"),
    [
        ("2026-12-01T08:00:00.5Z", "has fractional seconds", "write whole seconds: 2026-12-01T08:00:00Z"),
        ("2026-12-01T08:00:00,5", "has fractional seconds", "write whole seconds: 2026-12-01T08:00:00"),
        ("'2026-12-01 08:00'", "with a space", "write 'T' between them: 2026-12-01T08:00"),
        ("2026-W49-1", "is an ISO week date", "write the calendar date: 2026-11-30"),
        ("2026W49", "is an ISO week date", "write the calendar date: 2026-11-30"),
        ("2026-335", "is an ISO ordinal date", "write the calendar date: 2026-12-01"),
        ("2026-366", "is an ISO ordinal date", "write a date as 2026-12-01, a date and time as 2026-12-01T08:00:00Z"),
        ("20261201", "basic format", "write it with '-' and ':': 2026-12-01"),
        ("20261201T080000+0100", "basic format", "write it with '-' and ':': 2026-12-01T08:00:00+01:00"),
        ("2026-12-01T08:00+24:00", "UTC offset out of range", None),
        ("2026-12-01t08:00:00z", "is not a date", None),
        ("true", "is not a date", None),
        ("२०२६-१२-०१", "is not a date", None),  # digits of another script
    ],
)
def test_other_forms_are_refused_with_what_to_write(runner, tmp_path, value, message, hint):
    root = tree(tmp_path, f"    end: {value}\n")
    result = runner.invoke(cli, ["validate", str(root), "--format", "json"])
    assert result.exit_code == 1
    (diagnostic,) = json.loads(result.stdout)["diagnostics"]
    assert (diagnostic["code"], diagnostic["line"], diagnostic["col"]) == ("CP121", 7, 10)
    assert message in diagnostic["message"]
    assert diagnostic["hint"] == hint


def test_an_instant_in_a_flow_mapping_says_to_quote_it(runner, tmp_path):
    root = write_tree(tmp_path, {
        "datastreams/web.yaml": WEB_DATASTREAM,
        "destinations/home.yaml": (
            f"id: {uuid('de', 1)}\nname: Home\nalias: home\ndatastream: web\n"
            f"audiences: [{{id: {AUDIENCE}, start: 2026-12-01T08:00:00Z}}]\n"
        ),
    })
    result = runner.invoke(cli, ["validate", str(root), "--format", "json"])
    (diagnostic,) = json.loads(result.stdout)["diagnostics"]
    assert diagnostic["code"] == "CP101"
    assert diagnostic["hint"].endswith('write "2026-12-01T08:00:00Z"')
