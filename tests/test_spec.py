"""`cpcompile test`: spec files in specs/ run against the compiled artifact (docs/specs.md)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from conftest import REPO_ROOT, copy_example, edit, run, write_tree


def _example(tmp_path: Path) -> Path:
    root = copy_example(tmp_path / "config")
    shutil.copytree(REPO_ROOT / "specs", root / "specs")
    return root


def test_the_example_specs_pass() -> None:
    result = run("test", REPO_ROOT)
    assert result.exit_code == 0, result.output
    assert "\n9 specs: 9 passed, 0 failed (artifact sha256:" in result.stdout


def test_specs_run_against_the_artifact_build_writes(tmp_path: Path) -> None:
    root = _example(tmp_path)
    built = run("build", root, "--no-cache")
    assert built.exit_code == 0, built.output
    revision = json.loads((root / "build" / "artifact.json").read_bytes())["revision"]
    assert f"(artifact {revision})" in run("test", root).stdout


def test_sarif(tmp_path: Path) -> None:
    root = _example(tmp_path)
    edit(root / "specs" / "ad-server.yaml", "datastream: web-prod", "datastream: web-prd")
    result = run("test", root, "--format", "sarif")
    assert result.exit_code == 1
    (sarif_run,) = json.loads(result.stdout)["runs"]
    assert [r["ruleId"] for r in sarif_run["results"]] == ["CP171"]
    assert "CP170" in {rule["id"] for rule in sarif_run["tool"]["driver"]["rules"]}


def test_the_example_specs_cover_every_destination() -> None:
    aliases = {line.split(":")[1].strip() for p in (REPO_ROOT / "destinations").glob("*.yaml")
               for line in p.read_text().splitlines() if line.startswith("alias:")}
    specs = "".join(p.read_text() for p in (REPO_ROOT / "specs").glob("*.yaml"))
    assert aliases and all(f"{alias}:" in specs for alias in aliases)
    assert "web-prod" in specs and "web-staging" in specs


def test_validate_ignores_the_specs_folder() -> None:
    result = run("validate", REPO_ROOT, "--strict")
    assert result.exit_code == 0 and "0 warnings" in result.stdout


@pytest.mark.parametrize("fmt", ["text", "json", "github"])
def test_failures_are_located_with_expected_and_actual(tmp_path: Path, fmt: str, snapshot, monkeypatch) -> None:
    root = _example(tmp_path)
    ad = root / "specs" / "ad-server.yaml"
    edit(ad, "segments: [Renters looking to buy]", "segments: [Renters looking to buy, First-time buyers]")
    edit(ad, "memberships: [Newsletter subscribers,", "memberships: [Newsleter subscribers,")
    home = root / "specs" / "home-personalization.yaml"
    edit(home, "datastream: web-staging", "datastream: web-stagin")
    edit(home, "city: Lisbon}", "city: Porto}")
    edit(home, "  - name: the winter campaign is over on February 1\n    datastream: web-prod\n    at: 2027-02-01\n"
         "    memberships: [Holiday rentals browsers]\n    expect: {}",
         "  - name: the winter campaign is over on February 1\n    datastream: web-prod\n    at: 2027-02-01\n"
         "    memberships: [Holiday rentals browsers]\n    expect:\n      personalisationAlias: {}")
    monkeypatch.chdir(root)
    result = run("test", ".", "--format", fmt)
    assert result.exit_code == 1
    # the revision changes with the artifact format, which these failures are not about
    assert re.sub(r"sha256:[0-9a-f]{64}", "sha256:<revision>", result.stdout) == snapshot
    if fmt == "json":
        codes = [d["code"] for d in json.loads(result.stdout)["diagnostics"]]
        assert sorted(set(codes)) == ["CP170", "CP171", "CP172", "CP173"]


def test_a_config_change_fails_the_spec_that_covers_it(tmp_path: Path) -> None:
    root = _example(tmp_path)
    edit(root / "destinations" / "home-personalization.yaml", "    end: 2027-01-31", "    end: 2027-01-30")
    result = run("test", root)
    assert result.exit_code == 1
    assert ("spec 'the winter campaign runs from December 1 to January 31, both days included': "
            "personalizationAlias: expected segments [8c2d4f61-5a7e-4b3c-9d1e-2f3a4b5c6d7e (Holiday rentals browsers)], "
            "got nothing") in result.stdout
    assert "\n9 specs: 8 passed, 1 failed (artifact sha256:" in result.stdout


def test_attribute_values_compare_with_their_type(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "config")
    write_tree(root, {"specs/a.yaml": (
        "specs:\n  - name: typed\n    datastream: 0F3A6C1E-2B7D-4E59-9C3A-1D2E3F4A5B6C\n    at: 2026-11-15\n"
        "    authenticated: true\n    memberships: [399eb3e7-3d50-47d3-ad30-a5ad99e8ab77]\n"
        "    attributes: {person: {name: {firstName: '1'}}}\n"
        "    expect:\n      personalizationAlias:\n        segments: [First-time buyers]\n        attributes: {firstName: 1}\n"
    )})
    result = run("test", root)
    assert result.exit_code == 1
    assert "specs/a.yaml:11:21: error CP170 spec 'typed': personalizationAlias: attribute firstName: expected 1, got '1'" in result.stdout


def test_spec_files_get_the_config_files_yaml_and_schema_checks(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "config")
    write_tree(root, {
        "specs/broken.yaml": "specs:\n  - name: [unclosed\n",
        "specs/shape.yaml": "specs:\n  - name: x\n    datastream: web-prod\n    expcet: {}\n",
        "specs/notes.txt": "not a spec\n",
        "specs/alias.yaml": "specs:\n  - &a {name: x, datastream: web-prod, expect: {}}\n  - *a\n",
    })
    (root / "specs" / "link.yaml").symlink_to(root / "specs" / "shape.yaml")
    (root / "specs" / "linked-folder").symlink_to(root / "audiences")
    result = run("test", root)
    assert result.exit_code == 1
    lines = [line for line in result.stdout.splitlines()[:-1] if not line.startswith("    ")]
    assert lines == [
        "specs/alias.yaml:3:5: error CP107 YAML aliases (*name) are not allowed",
        "specs/broken.yaml:3:1: error CP101 YAML syntax error: did not find expected ',' or ']' "
        "(while parsing a flow sequence that started at line 2, column 11)",
        "specs/link.yaml:1:1: error CP174 spec file not read: it is a symbolic link",
        "specs/linked-folder:1:1: error CP174 spec folder not read: it is a symbolic link",
        "specs/notes.txt:1:1: warning CP112 not a YAML file, so it is ignored",
        "specs/shape.yaml:2:5: error CP120 missing required key 'expect'",
        "specs/shape.yaml:4:5: error CP122 unknown key 'specs[0].expcet'",
        "6 errors, 1 warning in 4 files checked",
    ]
    assert result.stdout.splitlines()[-1].startswith("0 specs: 0 passed, 0 failed (artifact sha256:")


def test_specs_do_not_run_on_a_config_with_errors(tmp_path: Path) -> None:
    root = _example(tmp_path)
    edit(root / "destinations" / "ad-server.yaml", "datastream: web-prod", "datastream: web-prd")
    result = run("test", root)
    assert result.exit_code == 1
    assert "error CP132 unknown datastream 'web-prd'" in result.stdout
    assert result.stdout.endswith("specs not run: the config has errors (cpcompile validate)\n")


def test_no_specs_is_said(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "config")
    result = run("test", root)
    assert result.exit_code == 0
    assert "no spec files in" in result.stdout


def test_a_fifo_in_specs_is_not_read(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "config")
    (root / "specs").mkdir()
    os.mkfifo(root / "specs" / "pipe.yaml")
    result = run("test", root)
    assert result.exit_code == 1
    assert "specs/pipe.yaml:1:1: error CP174 spec file not read: not a regular file" in result.stdout
