"""Spec golden cases: each directory in tests/spec_cases/ holds spec files that run against the
repository's example config; the output of `cpcompile test` is compared with its snapshot in
__snapshots__/test_spec_cases/ (one file per case, to read in review).

* ``pass-*`` passes (exit 0).
* ``cpNNN-*`` fails (exit 1) and reports CPNNN and nothing else.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from conftest import copy_example, run

SPEC_CASES = Path(__file__).resolve().parent / "spec_cases"
CASES = sorted(p.name for p in SPEC_CASES.iterdir() if p.is_dir())
CODE_IN_NAME = re.compile(r"cp\d{3}(?=-)")


class TextOutput(SingleFileSnapshotExtension):
    _write_mode = WriteMode.TEXT
    file_extension = "txt"


@pytest.mark.parametrize("case", CASES)
def test_spec_case(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snapshot) -> None:
    root = copy_example(tmp_path / "config")
    shutil.copytree(SPEC_CASES / case, root / "specs")
    monkeypatch.chdir(root)
    result = run("test", ".")
    code = CODE_IN_NAME.match(case)
    assert case.startswith("pass-") or code, f"name spec cases pass-what or cpNNN-what: {case}"
    assert result.exit_code == (1 if code else 0), result.output
    # the revision changes with the artifact format, which no case is about
    assert re.sub(r"sha256:[0-9a-f]{64}", "sha256:<revision>", result.stdout) == snapshot(extension_class=TextOutput)
    report = json.loads(run("test", ".", "--format", "json").stdout)
    assert {d["code"] for d in report["diagnostics"]} == ({code.group().upper()} if code else set())
