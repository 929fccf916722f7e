"""`cpcompile fmt`: one canonical layout, comments kept, the artifact unchanged."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from conftest import CASES_DIR, REPO_ROOT, copy_example, dir_state, run, write_tree

MESSY = """\
# yaml-language-server: $schema=../docs/schemas/destination.schema.json
# Header comment.
name: Home page personalization   # the name
id: 7BB4CB8D-8c2e-4450-871d-b7824f547111
alias: personalizationAlias
# the datastream comes next
datastream: web-prod
audiences:
  - id: 8C2D4F61-5a7e-4b3c-9d1e-2f3a4b5c6d7e   # Holiday rentals browsers
    end: '2027-01-31'
    start: 2026-12-01T09:00+01:00
  # first-time buyers, above their item
  - id: 399eb3e7-3d50-47d3-ad30-a5ad99e8ab77
  - id: 499eb3e7-3d50-47d3-ad30-a5ad99e8ab77   # Renters
# marketing actions, above their key
marketing_actions: [onsitePersonalization]
"""

CANONICAL = """\
# yaml-language-server: $schema=../docs/schemas/destination.schema.json
# Header comment.
id: 7bb4cb8d-8c2e-4450-871d-b7824f547111
name: Home page personalization   # the name
alias: personalizationAlias
# the datastream comes next
datastream: web-prod
# marketing actions, above their key
marketing_actions: [onsitePersonalization]
audiences:
  # first-time buyers, above their item
  - id: 399eb3e7-3d50-47d3-ad30-a5ad99e8ab77
  - id: 499eb3e7-3d50-47d3-ad30-a5ad99e8ab77   # Renters
  - id: 8c2d4f61-5a7e-4b3c-9d1e-2f3a4b5c6d7e   # Holiday rentals browsers
    start: 2026-12-01T08:00:00Z
    end: 2027-01-31
"""
REVISION = re.compile(r"(?:wrote|up to date) .*: (sha256:[0-9a-f]{64})")


def _revision(root: Path) -> str:
    result = run("build", root, "--no-cache")
    assert result.exit_code == 0, result.output
    match = REVISION.search(result.stdout)
    assert match, result.stdout
    return match.group(1)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    root = copy_example(tmp_path / "config")
    (root / "destinations" / "home-personalization.yaml").write_text(MESSY)
    return root


def test_canonical_layout_keeps_comments(config: Path) -> None:
    result = run("fmt", config)
    assert result.exit_code == 0, result.output
    assert (config / "destinations" / "home-personalization.yaml").read_text() == CANONICAL
    assert f"reformatted {config.as_posix()}/destinations/home-personalization.yaml" in result.stdout


def test_formatting_is_idempotent(config: Path) -> None:
    assert run("fmt", config).exit_code == 0
    before = dir_state(config / "destinations")
    result = run("fmt", config, "--check")
    assert result.exit_code == 0 and result.stdout == ""
    assert run("fmt", config).exit_code == 0
    assert dir_state(config / "destinations") == before


def test_check_lists_files_and_writes_nothing(config: Path) -> None:
    before = dir_state(config / "destinations")
    result = run("fmt", "--check", config / "destinations", config / "datastreams" / "web-prod.yaml")
    assert result.exit_code == 1
    assert result.stdout == f"would reformat {config.as_posix()}/destinations/home-personalization.yaml\n"
    assert "1 file would be reformatted, 3 unchanged" in result.stderr
    assert dir_state(config / "destinations") == before


def test_a_file_may_keep_its_audience_order(config: Path) -> None:
    path = config / "destinations" / "home-personalization.yaml"
    path.write_text("# cpcompile-fmt: keep-order\n" + MESSY)
    assert run("fmt", path).exit_code == 0
    text = path.read_text()
    assert text.index("8c2d4f61") < text.index("399eb3e7") < text.index("499eb3e7")
    assert text.startswith("# cpcompile-fmt: keep-order\n# yaml-language-server")


def test_catalog_audiences_are_sorted_by_id(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"audiences/prod.yaml": (
        "sandbox: prod\naudiences:\n  - name: B\n    id: B0000000-0000-4000-8000-000000000001\n"
        "  - id: a0000000-0000-4000-8000-000000000001\n    name: A\n"
    )})
    assert run("fmt", root).exit_code == 0
    assert (root / "audiences" / "prod.yaml").read_text() == (
        "sandbox: prod\naudiences:\n  - id: a0000000-0000-4000-8000-000000000001\n    name: A\n"
        "  - id: b0000000-0000-4000-8000-000000000001\n    name: B\n"
    )


def test_a_file_with_yaml_errors_is_refused_and_left_alone(config: Path) -> None:
    broken = config / "destinations" / "broken.yaml"
    broken.write_text("id: 1\naudiences:\n  - id: [unclosed\n")
    before = dir_state(config / "destinations")
    result = run("fmt", config / "destinations" / "broken.yaml")
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{broken.as_posix()}:4:1: error CP101 YAML syntax error")
    assert dir_state(config / "destinations") == before  # nothing written, no temp file left


def test_not_a_config_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "notes.yaml").write_text("a: 1\n")
    result = run("fmt", tmp_path / "notes.yaml")
    assert result.exit_code == 2 and "not a config file" in result.stderr


def _cases() -> list[Path]:
    return sorted(p for p in CASES_DIR.glob("*/*") if p.is_dir())


@pytest.mark.parametrize("case", _cases(), ids=lambda p: f"{p.parent.name}-{p.name}")
def test_formatting_a_golden_case_never_changes_its_artifact(case: Path, tmp_path: Path) -> None:
    root = shutil.copytree(case, tmp_path / "case")
    validates = run("validate", root).exit_code == 0
    before = _revision(root) if validates else None
    result = run("fmt", root)
    assert result.exit_code in (0, 1), result.output  # 1: a file YAML refuses, left as it is
    assert "internal error" not in result.output
    if validates:
        assert result.exit_code == 0
        assert _revision(root) == before
    else:
        for line in result.stdout.splitlines():  # a refused file is left exactly as it was
            if ": error CP" in line:
                refused = Path(line.split(":")[0])
                assert refused.read_bytes() == (case / refused.relative_to(root)).read_bytes()
    assert "would reformat" not in run("fmt", root, "--check").stdout  # idempotent


def test_the_example_config_keeps_its_revision(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "config")
    before = _revision(root)
    assert run("fmt", root).exit_code == 0
    assert _revision(root) == before
    assert (root / "destinations").exists() and REPO_ROOT.exists()


def test_a_result_that_would_read_back_differently_is_not_written(config: Path, monkeypatch) -> None:
    from cpcompile import fmt

    # compare the raw data: the IDs fmt lowers now count as a change, as a round-trip quirk would
    monkeypatch.setattr(fmt, "_meaning", lambda value, sort, key=None: value)
    path = config / "destinations" / "home-personalization.yaml"
    before = path.read_bytes()
    result = run("fmt", path)
    assert result.exit_code == 3
    assert "not formatted: formatting would change the file's data; please report this" in result.stderr
    assert path.read_bytes() == before


def test_a_fifo_is_not_a_config_file_to_format(config: Path) -> None:
    import os

    os.mkfifo(config / "destinations" / "pipe.yaml")
    result = run("fmt", config, "--check")  # found while walking: skipped, never opened
    assert result.exit_code == 1 and "pipe" not in result.output
    result = run("fmt", config / "destinations" / "pipe.yaml")
    assert result.exit_code == 2 and "not a config file" in result.stderr


@pytest.mark.parametrize("number", ["3.783202887759329e+16", "1e3", "-.inf", ".NaN", "0x1F", "'1.5'"])
def test_numbers_keep_their_text(tmp_path: Path, number: str) -> None:
    root = write_tree(tmp_path, {"audiences/prod.yaml": f"sandbox: {number}\n"})
    result = run("fmt", root)
    assert result.exit_code == 0, result.output
    assert (root / "audiences" / "prod.yaml").read_text() == f"sandbox: {number}\n"


def test_a_config_root_means_its_config_folders_only(config: Path) -> None:
    write_tree(config, {"tests/cases/destinations/home.yaml": "name: x\nid: 7BB4CB8D-8c2e-4450-871d-b7824f547111\n"})
    result = run("fmt", config, "--check")
    assert "tests/" not in result.stdout
    assert run("fmt", config / "tests").exit_code == 2
    assert "would reformat" in run("fmt", config / "tests" / "cases" / "destinations", "--check").stdout


def test_the_repositorys_own_example_config_is_formatted() -> None:
    result = run("fmt", "--check", REPO_ROOT)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""


def test_a_flow_list_with_a_comment_moves_with_its_key(tmp_path: Path) -> None:
    # the comment beside `[C5]` and the lines below it belong to the key, never inside the brackets
    root = write_tree(tmp_path, {"audiences/prod.yaml": (
        "sandbox: prod\naudiences:\n"
        "  - id: a0000000-0000-4000-8000-000000000001\n    name: A\n"
        "    labels: [C5]   # consent: on-site only\n    evaluation: batch\n"
        "# the fields\nfields:\n  - path: homeAddress.city\n    labels: [I2]\n"
    )})
    result = run("fmt", root)
    assert result.exit_code == 0, result.output
    assert (root / "audiences" / "prod.yaml").read_text() == (
        "sandbox: prod\naudiences:\n"
        "  - id: a0000000-0000-4000-8000-000000000001\n    name: A\n"
        "    evaluation: batch\n    labels: [C5]   # consent: on-site only\n"
        "# the fields\nfields:\n  - path: homeAddress.city\n    labels: [I2]\n"
    )


MESSY_POLICIES = """\
# yaml-language-server: $schema=../docs/schemas/policies.schema.json
# The organisation's policies.
policies:
  - deny: {operands: [{label: custom/partner-restricted}], operator: OR}   # one label, as an OR
    marketing_actions: [partnerSync, exportToThirdParty]
    status: enabled
    name: Partner-restricted data stays with us
  # a draft, above its item
  - status: draft
    name: No combined health and location data on site
    deny:
      operands:
        - label: RHD
        - operands: [{label: S1}, {label: S2}]
          operator: OR
      operator: AND   # both
    marketing_actions: [onsitePersonalization, onsiteAdvertising]
    description: under legal review
default_policies:
  policies:
    Restrict analytics: draft
  status: enabled
labels:
  - description: Data a partner shared for our own sites only
    name: custom/partner-restricted
# custom actions come first
marketing_actions:
  - name: partnerSync
"""

CANONICAL_POLICIES = """\
# yaml-language-server: $schema=../docs/schemas/policies.schema.json
# The organisation's policies.
# custom actions come first
marketing_actions:
  - name: partnerSync
labels:
  - name: custom/partner-restricted
    description: Data a partner shared for our own sites only
default_policies:
  status: enabled
  policies:
    Restrict analytics: draft
policies:
  - name: Partner-restricted data stays with us
    status: enabled
    marketing_actions: [partnerSync, exportToThirdParty]
    deny: {operator: OR, operands: [{label: custom/partner-restricted}]}   # one label, as an OR
  # a draft, above its item
  - name: No combined health and location data on site
    description: under legal review
    status: draft
    marketing_actions: [onsitePersonalization, onsiteAdvertising]
    deny:
      operator: AND   # both
      operands:
        - label: RHD
        - operator: OR
          operands: [{label: S1}, {label: S2}]
"""


@pytest.fixture
def policies_config(tmp_path: Path) -> Path:
    root = copy_example(tmp_path / "config")
    (root / "policies" / "governance.yaml").write_text(MESSY_POLICIES)
    return root


def test_policy_files_are_formatted_in_the_documented_key_order(policies_config: Path) -> None:
    path = policies_config / "policies" / "governance.yaml"
    assert run("fmt", "--check", policies_config).stdout == f"would reformat {path.as_posix()}\n"
    result = run("fmt", policies_config)
    assert result.exit_code == 0, result.output
    assert path.read_text() == CANONICAL_POLICIES  # every comment kept, each with its entry
    before = dir_state(path.parent)
    assert run("fmt", path).exit_code == 0 and run("fmt", "--check", path).stdout == ""  # idempotent
    assert dir_state(path.parent) == before


def test_formatting_policies_changes_neither_verdicts_nor_the_artifact(policies_config: Path) -> None:
    validated = run("validate", policies_config, "--format", "json")
    before = _revision(policies_config)
    assert run("fmt", policies_config / "policies").exit_code == 0
    assert _revision(policies_config) == before
    after = run("validate", policies_config, "--format", "json")
    assert (after.exit_code, after.stdout) == (validated.exit_code, validated.stdout)


@pytest.mark.parametrize("written", ['"Summer \\u202esale"', "Summer \u202esale", "'Summer \u202esale'"])
def test_bidi_controls_are_written_as_escapes(tmp_path: Path, written: str) -> None:
    # a bidi control makes a reviewer read text in another order than the file says
    root = copy_example(tmp_path / "config")
    path = root / "datastreams" / "web-prod.yaml"
    text = path.read_text().replace("name: Web (production)", f"name: {written}")
    path.write_text(text)
    result = run("fmt", path)
    assert result.exit_code == 0, result.output
    formatted = path.read_text()
    assert "\u202e" not in formatted
    assert 'name: "Summer \\u202esale"' in formatted
    assert run("fmt", "--check", path).exit_code == 0


def test_the_export_stamp_of_a_catalog_is_written_in_utc(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "config")
    path = root / "audiences" / "prod.yaml"
    path.write_text(path.read_text().replace("sandbox: prod\n", "sandbox: prod\nexported_at: 2026-11-28T09:30:00+01:00\n", 1))
    assert run("fmt", path).exit_code == 0
    assert "exported_at: 2026-11-28T08:30:00Z\n" in path.read_text()
