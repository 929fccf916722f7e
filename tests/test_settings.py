"""Project settings (cpcompile.yaml at the config root): warnings off or made errors by code;
errors stay errors (CP161); unknown codes are CP160; other problems are located in the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cpcompile.cli import cli
from conftest import CASES_DIR, WEB_DATASTREAM, destination, write_tree

STRAY = {"datastreams/web.yaml": WEB_DATASTREAM, "datastreams/NOTES.md": "notes\n"}  # CP112 warning


def _run(runner, root: Path, *args: str) -> tuple[int, dict]:
    result = runner.invoke(cli, ["validate", str(root), "--format", "json", *args])
    assert result.stderr == ""
    return result.exit_code, json.loads(result.stdout)


def _tree(root: Path, settings: str, files: dict[str, str] = STRAY) -> Path:
    return write_tree(root, {**files, "cpcompile.yaml": settings})


def _found(report: dict) -> list[tuple[str, str, str, int, int]]:
    return [(d["code"], d["severity"], d["file"], d["line"], d["col"]) for d in report["diagnostics"]]


def test_without_settings_the_warning_is_reported(runner, tmp_path):
    write_tree(tmp_path, STRAY)
    assert _run(runner, tmp_path, "--strict")[0] == 1


def test_off_removes_the_warning_so_strict_passes(runner, tmp_path):
    code, report = _run(runner, _tree(tmp_path, "diagnostics:\n  CP112: off\n"), "--strict")
    assert (code, report["diagnostics"]) == (0, [])


def test_error_makes_a_warning_fail(runner, tmp_path):
    code, report = _run(runner, _tree(tmp_path, "diagnostics:\n  CP112: error\n"))
    assert code == 1
    assert [d[:2] for d in _found(report)] == [("CP112", "error")]


def test_strict_still_applies_to_remaining_warnings(runner, tmp_path):
    root = _tree(tmp_path, "diagnostics:\n  CP112: warning\n  CP151: off\n")
    assert _run(runner, root)[0] == 0
    code, report = _run(runner, root, "--strict")
    assert code == 1 and [d[:2] for d in _found(report)] == [("CP112", "warning")]


def test_an_error_set_to_error_is_allowed(runner, tmp_path):
    assert _run(runner, _tree(tmp_path, "diagnostics:\n  CP132: error\n"))[0] == 0


@pytest.mark.parametrize("level", ["off", "warning"])
def test_an_error_cannot_be_downgraded(runner, tmp_path, level):
    files = {"datastreams/web.yaml": WEB_DATASTREAM, "destinations/home.yaml": destination(datastream="nope")}
    code, report = _run(runner, _tree(tmp_path, f"diagnostics:\n  CP132: {level}\n", files))
    assert code == 1
    # The error stays, and the setting is reported at its value.
    assert sorted(d[:2] for d in _found(report)) == [("CP132", "error"), ("CP161", "error")]
    cp161 = next(d for d in report["diagnostics"] if d["code"] == "CP161")
    assert (cp161["file"], cp161["line"], cp161["col"]) == ("cpcompile.yaml", 2, 10)


def test_unknown_code_has_a_did_you_mean_hint(runner, tmp_path):
    code, report = _run(runner, _tree(tmp_path, "diagnostics:\n  CP112: off\n  cp13: off\n"))
    assert code == 1
    (d,) = report["diagnostics"]
    assert (d["code"], d["line"], d["col"]) == ("CP160", 3, 3)
    assert d["hint"] and "did you mean" in d["hint"]


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ("diagnostic:\n  CP112: off\n", ("CP122", 1, 1)),  # unknown key, did-you-mean
        ("diagnostics:\n  CP112: maybe\n", ("CP121", 2, 10)),  # not off | warning | error
        ("diagnostics:\n  CP112: false\n", ("CP121", 2, 10)),  # a boolean, not 'off'
        ("diagnostics: [CP112]\n", ("CP121", 1, 14)),
        ("diagnostics: {CP112: off\n", ("CP101", None, None)),
        ("a: &a [1]\nb: *a\n", ("CP107", 2, 4)),
        ("", ("CP103", 1, 1)),
    ],
)
def test_other_problems_are_located_in_the_settings_file(runner, tmp_path, settings, expected):
    code, report = _run(runner, _tree(tmp_path, settings))
    assert code == 1
    in_settings = [(d[0], d[3], d[4]) for d in _found(report) if d[2] == "cpcompile.yaml"]
    assert in_settings and in_settings[0][0] == expected[0]
    if expected[1] is not None:
        assert in_settings[0] == expected
    # A broken settings file adjusts nothing: the stray-file warning is still there.
    assert "CP112" in [d[0] for d in _found(report)]


def test_settings_case_is_a_valid_golden_case():
    assert (CASES_DIR / "valid" / "settings-warning-turned-off" / "cpcompile.yaml").is_file()
