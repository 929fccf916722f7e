"""Data governance through the command line: build refuses a violation, explain answers with
the lineage validate uses, the policies/ editor schema agrees with validate, and the default
policy set ships with the package."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import jsonschema
import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from cpcompile import yamlsrc
from cpcompile.codes import CODES, Stage
from conftest import CASES_DIR, REPO_ROOT, run

CASE = CASES_DIR / "invalid"
POLICY_SCHEMA = jsonschema.Draft202012Validator(
    json.loads((REPO_ROOT / "docs" / "schemas" / "policies.schema.json").read_text(encoding="utf-8"))
)


class TextOutput(SingleFileSnapshotExtension):
    _write_mode = WriteMode.TEXT
    file_extension = "txt"


def _in(root: Path, *args: str):
    with contextlib.chdir(root):
        return run(*args)


def test_build_refuses_a_policy_violation_and_writes_nothing(tmp_path):
    result = run("build", CASE / "cp187-or-policy-audience-label", "--out", tmp_path / "out", "--no-cache")
    assert result.exit_code == 1
    assert "CP187" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("case", "kind", "name"),
    [
        ("invalid/cp187-attribute-field-label", "destination", "home"),
        ("invalid/cp187-and-within-one-audience-only", "audience", "Partner newsletter readers"),
        ("invalid/cp187-pdg-merge-policy-adds-c10", "policy", "Restrict stitched identity activation"),
        ("invalid/cp188-draft-policy-warning", "policy", "No identifiable data combined with C3 data"),
        ("valid/governance-and-across-audiences", "destination", "homeBanner"),
    ],
    ids=lambda v: str(v).replace(" ", "-").replace("/", "-"),
)
def test_explain(case, kind, name, snapshot):
    result = _in(CASES_DIR / case, "explain", kind, name)
    assert result.exit_code == 0, result.output
    assert result.stdout == snapshot(extension_class=TextOutput)


def test_explain_agrees_with_validate_on_the_and_case():
    """AND per audience: of three audiences, only the one holding both labels is denied."""
    root = CASES_DIR / "invalid" / "cp187-and-within-one-audience-only"
    out = _in(root, "explain", "destination", "home").stdout
    verdicts = [line for line in out.splitlines() if line.startswith("  '") and " at destinations/" in line]
    assert [v.rsplit(": ", 1)[-1] for v in verdicts] == ["may flow", "may flow", "(C1 AND C2) held"]


def test_explain_unknown_name_is_a_usage_error():
    result = _in(REPO_ROOT, "explain", "destination", "no-such-destination")
    assert result.exit_code == 2
    assert "ad-server" in result.output


def test_example_config_has_governance_and_stays_clean():
    result = _in(REPO_ROOT, "validate", ".", "--strict")
    assert result.exit_code == 0, result.output
    assert (REPO_ROOT / "policies").is_dir()
    out = _in(REPO_ROOT, "explain", "policy", "Partner-restricted data stays with us").stdout
    assert "denies: custom/partner-restricted" in out


def test_removing_a_default_policy_lets_the_audience_through(tmp_path):
    root = CASE / "cp187-or-policy-audience-label"
    for folder in ("datastreams", "destinations", "audiences"):
        for path in (root / folder).glob("*.yaml"):
            (tmp_path / folder).mkdir(exist_ok=True)
            (tmp_path / folder / path.name).write_bytes(path.read_bytes())
    assert _in(tmp_path, "validate", ".").exit_code == 1
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.yaml").write_text(
        "default_policies:\n  policies:\n    Restrict onsite advertising: draft\n"
    )
    result = _in(tmp_path, "validate", ".", "--format", "json")
    codes = {d["code"] for d in json.loads(result.stdout)["diagnostics"]}
    assert (result.exit_code, codes) == (0, {"CP188"})


POLICY_FILES = sorted(p for p in CASES_DIR.glob("*/*/policies/*.yaml")) + sorted((REPO_ROOT / "policies").glob("*.yaml"))


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_policy_schema_and_validate_agree(path: Path):
    root = path.parent.parent
    result = _in(root, "validate", ".", "--format", "json")
    rel = path.relative_to(root).as_posix()
    codes = {d["code"] for d in json.loads(result.stdout)["diagnostics"] if d["file"] == rel}
    refused = any(True for _ in POLICY_SCHEMA.iter_errors(yamlsrc.parse(path.read_text(encoding="utf-8"))))
    assert refused == any(CODES[c].stage is Stage.SCHEMA for c in codes)


def test_default_policies_ship_with_the_package():
    from importlib import resources

    text = resources.files("cpcompile").joinpath("data/default_policies.yaml").read_text(encoding="utf-8")
    assert "Restrict any activation of C12 data" in text


@pytest.mark.parametrize("fmt", ["json", "github", "sarif"])
def test_every_format_carries_the_lineage(fmt):
    result = _in(CASE / "cp187-dataset-inheritance", "validate", ".", "--format", fmt)
    assert result.exit_code == 1
    assert "C4 from dataset 'loyalty-profiles' (audiences/prod.yaml:12:5) <- audience 'Loyalty members'" in result.stdout
    assert "Restrict onsite personalization" in result.stdout


def test_generated_tree_with_governance_is_valid_and_evaluated(tmp_path):
    import sys

    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    import generate

    generate.generate(tmp_path / "plain", size="s", seed=7)
    generate.generate(tmp_path / "gov", size="s", seed=7, governance=True)
    assert not (tmp_path / "plain" / "policies").exists()
    result = run("validate", tmp_path / "gov", "--format", "json")
    assert result.exit_code == 0, result.output
    out = run("explain", "destination", "dest-00000", tmp_path / "gov").stdout
    assert "I1 from dataset 'crm-profiles'" in out and "may flow" in out


def test_example_labels_are_enforced(tmp_path):
    """Mapping the example's C7 audience to its onsite personalization destination is refused."""
    import shutil

    for folder in ("datastreams", "destinations", "audiences", "policies"):
        shutil.copytree(REPO_ROOT / folder, tmp_path / folder)
    home = tmp_path / "destinations" / "home-personalization.yaml"
    home.write_text(home.read_text() + "  - id: 6e7f8a9b-0c1d-4e2f-9a3b-4c5d6e7f8a9b   # Mortgage pre-approved\n")
    result = _in(tmp_path, "validate", ".")
    assert result.exit_code == 1
    assert "destinations/home-personalization.yaml:20:9: error CP187 audience 'Mortgage pre-approved'" in result.stdout
    assert "held: C7, with C7 from audience 'Mortgage pre-approved' (audiences/prod.yaml:" in result.stdout


def test_a_broken_policies_file_holds_back_the_policy_rules(tmp_path):
    """It may hold default_policies or a declaration: judging without it could be wrong."""
    import shutil

    root = CASE / "cp187-custom-action-and-label"
    for folder in ("datastreams", "destinations", "audiences", "policies"):
        shutil.copytree(root / folder, tmp_path / folder)
    (tmp_path / "policies" / "broken.yaml").write_text("policies:\n  - name: Half written\n    status: enabeld\n")
    result = _in(tmp_path, "validate", ".", "--format", "json")
    codes = sorted({d["code"] for d in json.loads(result.stdout)["diagnostics"]})
    assert (result.exit_code, codes) == (1, ["CP120", "CP121"])


def test_explain_json_gives_the_lineage_as_data():
    root = CASE / "cp187-attribute-field-label"
    data = json.loads(_in(root, "explain", "destination", "home", "--format", "json").stdout)
    first = data["audiences"][0]
    assert first["verdicts"] == [{
        "policy": "Restrict onsite personalization", "status": "enabled", "action": "onsitePersonalization",
        "held": "C7", "labels": ["C7"],
    }]
    (condition,) = [a for a in data["attributes"] if a["target"] == "condition"]
    assert condition["labels"]["C7"] == [[
        {"what": "field _tenant.health.condition", "at": "audiences/prod.yaml:16:11"},
        {"what": "attribute 'condition'", "at": "destinations/home.yaml:9:13"},
    ]]
    audience = json.loads(_in(root, "explain", "audience", "Renters", "--format", "json").stdout)
    assert [v["policy"] for m in audience["mapped_by"] for v in m["verdicts"]] == ["Restrict onsite personalization"]
    policy = json.loads(_in(root, "explain", "policy", "Restrict onsite personalization", "--format", "json").stdout)
    assert [b["at"] for b in policy["blocks"]] == ["destinations/home.yaml:12:9", "destinations/home.yaml:13:9"]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("cp189-sensitive-datastream", "blocked: its datastream carries sensitive label S1 (datastreams/web.yaml)"),
        ("cp190-c12-attribute", "blocked: attribute 'diagnosis' maps a C12 field, never activated (CP190)"),
    ],
)
def test_explain_says_what_blocks_whatever_the_policies(case, expected):
    out = _in(CASE / case, "explain", "destination", "home").stdout
    assert expected in out.splitlines()[2]
    data = json.loads(_in(CASE / case, "explain", "destination", "home", "--format", "json").stdout)
    assert data["blocked"] and data["blocked"][0].startswith(expected.removeprefix("blocked: ")[:30])


def _declares_partner_sync(root: Path) -> Path:
    from conftest import WEB_DATASTREAM, destination, write_tree

    return write_tree(root, {
        "datastreams/web.yaml": WEB_DATASTREAM,
        "destinations/partner.yaml": destination(audiences=0) + "marketing_actions: [partnerSync]\n",
    })


@pytest.mark.parametrize("unread", ["not-utf8", "dangling-link"])
def test_governance_rules_hold_back_when_a_policies_file_is_not_even_read(tmp_path, unread):
    """The declarations may be in the file that was not read: no unknown-action error elsewhere."""
    root = _declares_partner_sync(tmp_path / "config")
    (root / "policies").mkdir()
    policies = root / "policies" / "governance.yaml"
    if unread == "not-utf8":
        policies.write_bytes(b"# caf\xe9\nmarketing_actions:\n  - name: partnerSync\n")
    else:
        policies.symlink_to(root / "policies" / "moved.yaml")
    result = run("validate", root, "--format", "json")
    assert result.exit_code == 1
    codes = [(d["code"], d["file"]) for d in json.loads(result.stdout)["diagnostics"]]
    assert codes == [("CP105" if unread == "not-utf8" else "CP111", "policies/governance.yaml")]


def test_the_same_declaration_read_passes(tmp_path):
    root = _declares_partner_sync(tmp_path / "config")
    (root / "policies").mkdir()
    (root / "policies" / "governance.yaml").write_text("marketing_actions:\n  - name: partnerSync\n")
    assert run("validate", root).exit_code == 0
    (root / "policies" / "governance.yaml").write_text("labels: []\n")  # read, and no declaration
    assert "CP182" in run("validate", root).stdout


def test_audience_label_sets_are_the_labels_of_their_lineage():
    """The policy check reads each audience's labels from a set built without lineage objects;
    it must be exactly the labels ``cpcompile explain`` traces (own, dataset, private graph)."""
    from cpcompile.governance import Labels
    from cpcompile.validate import validate_tree

    compared = 0
    for case in sorted(p for p in CASES_DIR.glob("*/*") if (p / "audiences").is_dir()):
        labels = Labels(validate_tree(case).project)
        expected = {a: frozenset(lineage) for a in labels.audiences if (lineage := labels.audience_lineage(a))}
        assert labels.audience_sets == expected, case.name
        compared += len(expected)
    assert compared >= 10
