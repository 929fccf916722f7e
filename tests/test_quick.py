"""The quick check of config data (cpcompile/quick.py): held to the models it stands in for.

``cpcompile validate`` checks a file with it first, without importing pydantic; the models check
whatever it does not accept and explain every problem. So: its table is the one the models
give today; it accepts every valid file of the example and the golden cases (else the fast path
would silently be lost); a validation gives the same report with it and without it; and the
command line validates the example without importing pydantic. tests/fuzz/test_fuzz_quick.py
holds it to the models on damaged data.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cpcompile import quick, quick_table, yamlsrc
from cpcompile.load import check_model
from cpcompile.quick import Record, check_quickly
from cpcompile.validate import validate_tree
from conftest import CASES_DIR, REPO_ROOT

from fuzz.test_fuzz_quick import DOCUMENTS, assert_same

CASES = sorted(p for p in CASES_DIR.glob("*/*") if p.is_dir())


def test_the_table_is_the_one_the_models_give():
    assert quick.TABLE_FILE.read_text(encoding="utf-8") == quick_table.table_text(), (
        "the models changed: run `python -m cpcompile.quick_table` and review the diff"
    )


def test_the_table_holds_every_kind_of_file():
    from cpcompile.project import FILE_KINDS

    kinds = {kind.model_name for kind in FILE_KINDS.values()} | {"Settings", "Policy"}
    assert kinds <= set(quick_table.TOP_MODELS)


def test_each_check_the_models_run_is_the_same_function_here():
    assert set(quick_table.CHECKS.values()) == set(quick.CHECKS)
    for wrapped, name in quick_table.CHECKS.items():
        inner = getattr(wrapped, "__wrapped__", None)
        if name == "uuid":  # the models keep their own record of IDs, of the same class
            assert type(wrapped.__self__) is type(quick.CHECKS["uuid"].__self__)
            assert wrapped.__self__ is not quick.CHECKS["uuid"].__self__
        elif name == "expression_form":  # a method of the model, which calls the function
            assert "_expression_form" in wrapped.__code__.co_names
        elif inner is None:
            assert wrapped is quick.CHECKS[name]
        else:
            assert inner is quick.CHECKS[name]


def test_the_table_refuses_what_it_cannot_check_alike():
    from pydantic import BaseModel, ConfigDict

    class Open(BaseModel):  # unknown keys allowed: a quick check could not refuse what it ignores
        name: str

    class Stripping(BaseModel):
        model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
        name: str

    for model in (Open, Stripping):
        with pytest.raises(quick_table.UnknownSchema):
            quick_table._Reducer().node(model.__pydantic_core_schema__)


def test_every_valid_document_is_accepted_quickly():
    valid = [(name, data) for name, data in DOCUMENTS if _valid(name, data)]
    assert len(valid) > 30
    for name, data in valid:
        assert check_quickly(name, data) is not None, (name, data)


def _valid(name, data):
    from cpcompile.load import Refusal

    try:
        check_model(name, data, quick=False)
    except Refusal:
        return False
    return True


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.relative_to(CASES_DIR).as_posix())
def test_a_validation_reports_the_same_with_the_quick_check_and_without(case):
    with_quick, without = validate_tree(case, quick=True), validate_tree(case)
    assert with_quick.diagnostics == without.diagnostics
    assert (with_quick.files_checked, with_quick.skipped) == (without.files_checked, without.skipped)


def test_the_example_validates_without_pydantic_and_a_broken_file_with_its_words(tmp_path):
    def imported(root):
        run = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "cpcompile", "validate", "--no-cache", str(root)],
            capture_output=True, text=True, env={"CPCOMPILE_DAEMON": "0", "PATH": ""},
        )
        return run, {line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines() if "|" in line}

    run, modules = imported(REPO_ROOT)
    assert run.returncode == 0 and "0 errors" in run.stdout
    assert "pydantic" not in modules and "cpcompile.model" not in modules
    broken = tmp_path / "config"
    for folder in ("datastreams", "destinations", "audiences", "policies"):
        (broken / folder).mkdir(parents=True)
        for path in (REPO_ROOT / folder).glob("*.yaml"):
            (broken / folder / path.name).write_bytes(path.read_bytes())
    target = broken / "datastreams" / "web-prod.yaml"
    target.write_text(target.read_text().replace("edge_segmentation: true", "edge_segmentation: yes"))
    run, modules = imported(broken)
    assert run.returncode == 1 and "pydantic" in modules
    assert "edge_segmentation: Input should be a valid boolean" in run.stdout  # pydantic's words


@pytest.mark.parametrize("command", [["build", "--no-cache", "--out", "{tmp}/out"], ["fmt", "--check"]])
def test_build_and_fmt_of_the_example_import_no_pydantic(command, tmp_path):
    args = [part.format(tmp=tmp_path) for part in command]
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "cpcompile", *args, str(REPO_ROOT)],
        capture_output=True, text=True, env={"CPCOMPILE_DAEMON": "0", "PATH": ""},
    )
    modules = {line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines() if "|" in line}
    assert run.returncode == 0, run.stdout + run.stderr
    assert "pydantic" not in modules and "cpcompile.model" not in modules


def test_a_record_is_read_only_and_equal_by_value():
    data = yamlsrc.parse((REPO_ROOT / "destinations" / "ad-server.yaml").read_text())
    one, other = check_quickly("Destination", data), check_quickly("Destination", data)
    assert isinstance(one, Record) and one == other and hash(one.audiences[0]) == hash(other.audiences[0])
    assert one is not other and one.audiences is not other.audiences  # no list shared between entries
    with pytest.raises(AttributeError):
        one.alias = "other"  # type: ignore[misc]
    assert_same(one, check_model("Destination", data, quick=False))
    assert "Destination(id=" in repr(one)


def test_nesting_too_deep_for_python_is_left_to_the_model():
    expression: dict = {"label": "C1"}
    for _ in range(sys.getrecursionlimit()):
        expression = {"operator": "AND", "operands": [expression]}
    policy = {"name": "p", "status": "enabled", "marketing_actions": ["*"], "deny": expression}
    assert check_quickly("Policy", policy) is None


def test_a_model_the_table_does_not_hold_is_left_to_the_models():
    assert check_quickly("SpecFile", {}) is None


def test_values_pydantic_cannot_read_are_left_to_it():
    data = yamlsrc.parse((REPO_ROOT / "destinations" / "ad-server.yaml").read_text())
    assert check_quickly("Destination", {**data, "name": "a\ud800b"}) is None  # a lone surrogate
    assert check_quickly("Destination", {**data, "name": True}) is None
    assert check_quickly("Destination", {**data, "colour": "red"}) is None
    assert check_quickly("Destination", {**data, 1: "x"}) is None
    assert check_quickly("Destination", {k: v for k, v in data.items() if k != "alias"}) is None
    assert check_quickly("Destination", [data]) is None


@pytest.mark.parametrize("limit, used", [(None, True), (1000, False)])
def test_the_quick_check_is_used_up_to_a_config_size(monkeypatch, limit, used):
    """Past a few MB, pydantic's faster check per entry pays for its import (quick.pays_off)."""
    from cpcompile import load
    from cpcompile.validate_cache import validate_root

    calls = []
    real = load.check_quickly
    monkeypatch.setattr(load, "check_quickly", lambda *args: calls.append(args[0]) or real(*args))
    if limit is not None:
        monkeypatch.setattr(quick, "QUICK_CHECK_LIMIT", limit)  # the example holds more than 1,000 characters
    report = validate_root(REPO_ROOT)
    assert report.exit_code() == 0 and report.files_checked == 8
    files = {"Datastream", "Destination", "Catalog", "Governance"}
    assert (set(calls) & files == files) is used and (not set(calls) & files) is not used


@pytest.mark.parametrize("case", [REPO_ROOT, *(c for c in CASES if c.parent.name == "valid")], ids=lambda p: p.name)
def test_a_build_gives_the_same_bytes_with_the_quick_check_and_without(case, tmp_path, monkeypatch):
    from cpcompile.build import build

    with_quick = build(case, tmp_path / "quick")
    monkeypatch.setattr(quick, "QUICK_CHECK_LIMIT", -1)
    without = build(case, tmp_path / "models")
    assert with_quick.revision == without.revision and with_quick.revision is not None
    for name in ("artifact.json", "artifact.msgpack", "manifest.json"):
        assert (tmp_path / "quick" / name).read_bytes() == (tmp_path / "models" / name).read_bytes()
