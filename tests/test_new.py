"""`cpcompile new`: commented scaffolds from templates, valid on creation, never overwriting."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

import pytest

from conftest import copy_example, dir_state, example_files, run

UUID4 = re.compile(r"id: [0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "config")


def new(root: Path, *args: str):
    return run("new", *args, "--root", root)


def test_each_scaffold_is_valid_as_written(root: Path) -> None:
    assert new(root, "datastream", "web-test", "--sandbox", "test").stdout == "wrote " + (root / "datastreams/web-test.yaml").as_posix() + "\n"
    assert new(root, "catalog", "test").exit_code == 0
    assert new(root, "destination", "home-banner", "--datastream", "web-test").exit_code == 0
    assert new(root, "destination", "search-ads", "--datastream", "web-prod", "--alias", "searchAds").exit_code == 0
    result = run("validate", root, "--strict")
    assert result.exit_code == 0, result.output
    assert f"0 errors, 0 warnings in {len(example_files()) + 4} files checked" in result.stdout
    banner = (root / "destinations" / "home-banner.yaml").read_text()
    assert "alias: homeBannerAlias" in banner and "datastream: web-test" in banner
    assert UUID4.search(banner) and banner.count("\n# ") >= 3  # commented
    assert "sandbox: test" in (root / "datastreams" / "web-test.yaml").read_text()


@pytest.mark.parametrize("what", ["datastream", "catalog"])
def test_scaffolds_are_valid_in_an_empty_config(tmp_path: Path, what: str) -> None:
    (tmp_path / "datastreams").mkdir()
    assert new(tmp_path, what, "first").exit_code == 0
    result = run("validate", tmp_path, "--strict")
    assert result.exit_code == 0, result.output


def test_scaffolds_are_already_formatted(root: Path) -> None:
    new(root, "datastream", "web-test")
    new(root, "catalog", "test")
    new(root, "destination", "home-banner", "--datastream", "web-test")
    result = run("fmt", "--check", root / "datastreams" / "web-test.yaml", root / "audiences" / "test.yaml",
                 root / "destinations" / "home-banner.yaml")
    assert result.exit_code == 0, result.output


def test_an_existing_file_is_never_replaced(root: Path) -> None:
    before = dir_state(root / "destinations")
    result = new(root, "destination", "ad-server", "--datastream", "web-prod", "--alias", "other")
    assert result.exit_code == 2
    assert "destinations/ad-server.yaml already exists; `cpcompile new` never replaces a file" in result.stderr
    assert dir_state(root / "destinations") == before


def test_given_id_is_used_in_lower_case(root: Path) -> None:
    assert new(root, "datastream", "web-test", "--id", "0F3A6C1E-2B7D-4E59-9C3A-1D2E3F4A5B60").exit_code == 0
    assert "id: 0f3a6c1e-2b7d-4e59-9c3a-1d2e3f4a5b60 " in (root / "datastreams" / "web-test.yaml").read_text()


@pytest.mark.parametrize(
    "args, message",
    [
        (["destination", "x", "--datastream", "web-prd"], "no datastream 'web-prd' in datastreams/; did you mean 'web-prod'?"),
        (["destination", "x"], "a destination needs its datastream"),
        (["destination", "x", "--datastream", "web-prod", "--alias", "adServerAlias"], "alias 'adServerAlias' is taken"),
        (["destination", "x", "--datastream", "web-prod", "--alias", " padded"], "would not be valid: alias"),
        (["datastream", "web-prod"], "datastreams/web-prod.yaml already exists"),
        (["datastream", "../escape"], "a file name is letters, digits"),
        (["catalog", "other", "--sandbox", "prod"], "audiences/prod.yaml already is the catalog of sandbox 'prod'"),
        (["datastream", "x", "--id", "not-a-uuid"], "is not a UUID"),
    ],
)
def test_what_cannot_be_made_valid_is_a_usage_error(root: Path, args: list[str], message: str) -> None:
    before = {d: dir_state(root / d) for d in ("datastreams", "destinations", "audiences")}
    result = new(root, *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert {d: dir_state(root / d) for d in before} == before


def test_templates_are_package_data() -> None:
    templates = files("cpcompile") / "templates" / "new"
    assert sorted(p.name for p in templates.iterdir()) == ["catalog.yaml.j2", "datastream.yaml.j2", "destination.yaml.j2"]


def test_a_name_with_the_yaml_suffix_means_the_same_file(root: Path) -> None:
    assert new(root, "datastream", "web-test.yaml").exit_code == 0
    assert (root / "datastreams" / "web-test.yaml").is_file()
    assert "name: web-test\n" in (root / "datastreams" / "web-test.yaml").read_text()
