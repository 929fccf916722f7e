"""Golden cases: each directory in tests/cases/{valid,invalid}/ is a small config tree.

``cpcompile validate <case>`` runs on each in text and JSON, and its output is compared with the
snapshot in __snapshots__/test_cases/ (one file per case and format, to read in review). Names
are a contract:

* ``valid/*`` exits 0 (warnings allowed).
* ``invalid/cpNNN-*`` exits 1 and reports CPNNN and nothing else, so a case cannot silently stop
  testing its rule; ``-warning`` at the end of the name means its diagnostics are warnings, so it
  runs with ``--strict``.
* ``invalid/many-*`` exits 1 and may report anything.

Guardrail cases that need hundreds or thousands of entries are generated (GENERATED below).
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from cpcompile.cli import cli
from cpcompile.codes import CODES

from conftest import CASES_DIR, GENERATED_CASES, REPO_ROOT, catalog, write_tree

CODE_IN_NAME = re.compile(r"cp\d{3}(?=-)")
# CP110 (a file over 4 MiB), CP111 (a symbolic link out of the repository) and CP116 (a FIFO,
# socket or device) cannot be committed as cases; test_validate_cli.py builds them in tmp_path.
# The spec codes (CP170-CP174) come from `cpcompile test`, not `validate`: tests/test_spec.py.
TESTED_ELSEWHERE = {"CP110", "CP111", "CP116", "CP170", "CP171", "CP172", "CP173", "CP174"}


def _catalog(count: int, evaluation: str) -> str:
    return catalog(count, evaluation=evaluation, policy_name="Default (active on edge)")


def _too_many_audiences(root: Path) -> None:
    # the mapped audiences are in the catalog, or each would also be a CP147 warning
    GENERATED_CASES["invalid/cp151-too-many-audiences-warning"](root)
    write_tree(root, {"audiences/prod.yaml": _catalog(251, "batch")})


def _too_many_streaming_audiences(root: Path) -> None:
    write_tree(root, {"audiences/prod.yaml": _catalog(501, "streaming")})


def _too_many_catalog_audiences(root: Path) -> None:
    write_tree(root, {"audiences/prod.yaml": _catalog(4001, "batch")})


GENERATED = {
    **GENERATED_CASES,
    "invalid/cp151-too-many-audiences-warning": _too_many_audiences,
    "invalid/cp154-too-many-streaming-audiences-warning": _too_many_streaming_audiences,
    "invalid/cp155-too-many-audiences-in-sandbox-warning": _too_many_catalog_audiences,
}


def _all_cases() -> list[str]:
    committed = [f"{p.parent.name}/{p.name}" for p in CASES_DIR.glob("*/*") if p.is_dir()]
    return sorted({*committed, *GENERATED})


CASES = _all_cases()


class TextOutput(SingleFileSnapshotExtension):
    _write_mode = WriteMode.TEXT
    file_extension = "txt"


class JsonOutput(SingleFileSnapshotExtension):
    _write_mode = WriteMode.TEXT
    file_extension = "json"


def _case_root(case: str, tmp_path: Path) -> Path:
    if case in GENERATED:
        GENERATED[case](tmp_path)
        return tmp_path
    return CASES_DIR / case


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.replace("/", "-"))
def test_case(case, fmt, snapshot, tmp_path, runner):
    kind, name = case.split("/")
    assert kind in ("valid", "invalid"), case
    strict = name.endswith("-warning")
    root = _case_root(case, tmp_path)

    with contextlib.chdir(root):  # files named from the config root, wherever pytest runs
        result = runner.invoke(cli, ["validate", ".", "--format", fmt, *(["--strict"] if strict else [])])

    assert result.stderr == ""
    assert result.exit_code == (0 if kind == "valid" else 1), result.output
    code = CODE_IN_NAME.match(name)
    if kind == "invalid":
        assert code or name.startswith("many-"), f"name invalid cases cpNNN-what-it-shows: {case}"
        if code:
            assert code.group().upper() in result.stdout
    assert result.stdout == snapshot(extension_class=JsonOutput if fmt == "json" else TextOutput)
    if fmt == "json":
        _check_report(json.loads(result.stdout), root, kind, code.group().upper() if code else None, strict)


def _check_report(report: dict, root: Path, kind: str, code: str | None, strict: bool) -> None:
    diagnostics = report["diagnostics"]
    keys = [(d["file"], d["line"], d["col"], d["code"], d["message"]) for d in diagnostics]
    assert keys == sorted(keys), "diagnostics are sorted by file, line and column"
    errors = sum(d["severity"] == "error" for d in diagnostics)
    assert report["summary"]["errors"] == errors
    assert report["summary"]["warnings"] == len(diagnostics) - errors
    if kind == "valid":
        assert errors == 0
    if code is not None:
        assert {d["code"] for d in diagnostics} == {code}, "a cpNNN case shows only its own rule"
    if strict:
        assert diagnostics and errors == 0, "a -warning case has warnings only"
    for d in diagnostics:
        _check_position(root / d["file"], d["line"], d["col"])


def _check_position(path: Path, line: int, col: int) -> None:
    """Every diagnostic points into its file: a real line, and a column on it (or just past it)."""
    assert line >= 1 and col >= 1
    try:
        lines = path.read_bytes().decode("utf-8").removeprefix("\ufeff").splitlines() or [""]
    except UnicodeDecodeError:
        lines = path.read_bytes().split(b"\n")  # CP105 counts bytes
    assert line <= len(lines), f"{path.name}:{line}:{col} is past the end of the file"
    assert col <= len(lines[line - 1]) + 1, f"{path.name}:{line}:{col} is past the end of the line"


def _source_codes() -> set[str]:
    source = "".join(p.read_text(encoding="utf-8") for p in (REPO_ROOT / "cpcompile").rglob("*.py") if p.name != "codes.py")
    return set(re.findall(r'"(CP\d{3})"', source))


def _documented() -> dict[str, str]:
    rows = re.findall(r"^\| (CP\d{3}) \| (error|warning) \|", (REPO_ROOT / "docs" / "rules.md").read_text(), re.M)
    assert len(rows) == len(dict(rows)), "docs/rules.md has one row per code"
    return dict(rows)


def test_every_code_has_a_case():
    covered = {m.group().upper() for case in CASES if (m := CODE_IN_NAME.match(case.split("/")[1]))}
    missing = set(CODES) - covered - TESTED_ELSEWHERE
    assert not missing, f"add a tests/cases/invalid/cpNNN-what-it-shows/ case for {sorted(missing)}"
    assert TESTED_ELSEWHERE <= set(CODES)


def test_every_source_code_is_in_the_catalog():
    assert _source_codes() <= set(CODES), "add the code to cpcompile/codes.py"


def test_every_code_is_documented():
    documented = _documented()
    expected = {code: row.severity.value for code, row in CODES.items()}
    assert documented == expected, "docs/rules.md rows (code, severity) must equal cpcompile/codes.py"


def test_golden_cases_agree_with_catalog_severity():
    for case in CASES:
        m = CODE_IN_NAME.match(case.split("/")[1])
        if case.startswith("invalid/") and m:
            code = m.group().upper()
            assert code in CODES, case
            assert case.endswith("-warning") == (CODES[code].severity.value == "warning"), case
