"""The committed JSON Schemas (docs/schemas/) are generated from the models and must not go stale."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cpcompile import yamlsrc
from cpcompile.cli import cli
from cpcompile.schemas import CONFIG_SCHEMAS, SCHEMA_DIALECT, published_schemas
from conftest import CASES_DIR, REPO_ROOT, WEB_DATASTREAM, destination, run, write_tree

COMMITTED = REPO_ROOT / "docs" / "schemas"
NAMES = sorted(published_schemas())
KIND_OF_FOLDER = {
    "datastreams": "datastream.schema.json",
    "destinations": "destination.schema.json",
    "audiences": "catalog.schema.json",
}


def test_committed_schemas_are_up_to_date(runner):
    result = runner.invoke(cli, ["schema", "--check", "--out", str(COMMITTED)])
    assert result.exit_code == 0, f"{result.stderr}run `cpcompile schema` from the repository root and commit"
    assert result.stdout == result.stderr == ""


def test_check_defaults_to_docs_schemas_from_the_repository_root(runner, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    result = runner.invoke(cli, ["schema", "--check"])
    assert result.exit_code == 0, result.stderr


def test_schema_writes_every_file(runner, tmp_path):
    out = tmp_path / "schemas"
    result = runner.invoke(cli, ["schema", "--out", str(out)])
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [f"wrote {out / name}" for name in NAMES]
    assert sorted(p.name for p in out.iterdir()) == NAMES
    expected = published_schemas()
    for name in NAMES:
        assert (out / name).read_bytes() == expected[name]
        assert (out / name).read_bytes() == (COMMITTED / name).read_bytes()


def test_schema_rewrites_nothing_that_is_current(runner, tmp_path):
    runner.invoke(cli, ["schema", "--out", str(tmp_path)])
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    result = runner.invoke(cli, ["schema", "--out", str(tmp_path)])
    assert (result.exit_code, result.stdout) == (0, "")
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize("change", ["edited", "missing"])
def test_stale_schema_is_detected_and_not_fixed_by_check(runner, tmp_path, change):
    runner.invoke(cli, ["schema", "--out", str(tmp_path)])
    stale = tmp_path / "destination.schema.json"
    if change == "edited":
        stale.write_text(stale.read_text().replace('"alias"', '"integrationAlias"'))
    else:
        stale.unlink()
    before = stale.read_bytes() if stale.exists() else None

    result = runner.invoke(cli, ["schema", "--check", "--out", str(tmp_path)])

    assert result.exit_code == 1
    assert result.stderr == f"{stale}: stale; run `cpcompile schema --out {tmp_path}`\n"
    assert (stale.read_bytes() if stale.exists() else None) == before
    assert runner.invoke(cli, ["schema", "--out", str(tmp_path)]).stdout == f"wrote {stale}\n"
    assert runner.invoke(cli, ["schema", "--check", "--out", str(tmp_path)]).exit_code == 0


def test_check_of_an_empty_folder_names_every_file(runner, tmp_path):
    result = runner.invoke(cli, ["schema", "--check", "--out", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == len(NAMES)
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize(
    ("name", "required"),
    [
        ("datastream.schema.json", ["id", "name", "sandbox"]),
        ("destination.schema.json", ["alias", "datastream", "id", "name"]),
        ("catalog.schema.json", ["sandbox"]),
    ],
)
def test_schema_shape(name, required):
    schema = json.loads((COMMITTED / name).read_text())
    assert schema["$schema"] == SCHEMA_DIALECT
    assert schema["type"] == "object"
    assert sorted(schema["required"]) == required
    assert schema["additionalProperties"] is False


def _config_files(root: Path) -> list[tuple[Path, str]]:
    return [
        (path, KIND_OF_FOLDER[folder])
        for folder in KIND_OF_FOLDER
        for path in sorted((root / folder).rglob("*.y*ml"))
    ]


@pytest.mark.parametrize("root", [REPO_ROOT, *sorted((CASES_DIR / "valid").iterdir())], ids=lambda p: p.name)
def test_valid_config_matches_the_json_schemas(root):
    jsonschema = pytest.importorskip("jsonschema")
    for path, name in _config_files(root):
        schema = json.loads((COMMITTED / name).read_text())
        data = yamlsrc.parse(path.read_text(encoding="utf-8-sig"))
        jsonschema.validate(data, schema, cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize("case", ["cp120-missing-required-key", "cp122-unknown-key-did-you-mean", "cp121-bad-enum-did-you-mean"])
def test_editors_see_schema_errors_too(case):
    jsonschema = pytest.importorskip("jsonschema")
    for path, name in _config_files(CASES_DIR / "invalid" / case):
        schema = json.loads((COMMITTED / name).read_text())
        validator = jsonschema.Draft202012Validator(schema)
        assert list(validator.iter_errors(yamlsrc.parse(path.read_text(encoding="utf-8")))), path


def _fields(model) -> set[str]:
    fields = getattr(model, "__pydantic_fields__", None) or model.model_fields  # a model or a pydantic dataclass
    out = set(fields)
    for info in fields.values():
        for arg in [info.annotation, *getattr(info.annotation, "__args__", ())]:
            if isinstance(arg, type) and hasattr(arg, "__pydantic_fields__"):
                out |= _fields(arg)
    return out


@pytest.mark.parametrize("name", sorted(CONFIG_SCHEMAS))
def test_every_field_is_documented(name):
    documented = set(re.findall(r"^\| `(\w+)` \|", (REPO_ROOT / "docs" / "config.md").read_text(), re.M))
    assert _fields(CONFIG_SCHEMAS[name]) <= documented


def _built_artifacts(tmp_path: Path) -> list[Path]:
    from click.testing import CliRunner

    roots = [REPO_ROOT, *sorted((CASES_DIR / "valid").iterdir())]
    out = []
    for i, root in enumerate(roots):
        target = tmp_path / str(i)
        result = CliRunner().invoke(cli, ["build", str(root), "--out", str(target), "--no-cache"])
        assert result.exit_code == 0, result.output
        out.append(target / "artifact.json")
    return out


def test_built_artifacts_match_the_artifact_schema(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((COMMITTED / "artifact.schema.json").read_text())
    artifacts = [*_built_artifacts(tmp_path), *sorted((REPO_ROOT / "tests" / "conformance").rglob("*.json"))]
    checked = 0
    for path in artifacts:
        document = json.loads(path.read_bytes())
        if isinstance(document, dict) and document.get("format") == "cpcompile-artifact":
            jsonschema.validate(document, schema, cls=jsonschema.Draft202012Validator)
            checked += 1
    assert checked >= 11


def test_artifact_schema_refuses_what_readers_refuse():
    jsonschema = pytest.importorskip("jsonschema")
    from cpcompile.artifact_format.document import make_document

    schema = json.loads((COMMITTED / "artifact.schema.json").read_text())
    good = make_document({"datastreams": {"0f3a6c1e-2b7d-4e59-9c3a-1d2e3f4a5b6c": {"access": "mixed", "audiences": {}, "destinations": []}}})
    jsonschema.validate(good, schema, cls=jsonschema.Draft202012Validator)
    for bad in (
        {**good, "schema_version": 3},
        {**good, "min_reader_version": 1},  # a version 1 reader would ignore `access`
        {**good, "schema_version": 1},  # version 1 has no `access`
        make_document({"datastreams": {"0f3a6c1e-2b7d-4e59-9c3a-1d2e3f4a5b6c": {"audiences": {}, "destinations": []}}}),
        {**good, "format": "other"},
        {**good, "extra": 1},
        {**good, "body": {"datastreams": {"x": {"audiences": {}, "destinations": []}}}},
    ):
        assert list(jsonschema.Draft202012Validator(schema).iter_errors(bad))


def test_spec_files_have_an_editor_schema_that_matches_the_loader(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((COMMITTED / "spec.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    specs = sorted((REPO_ROOT / "specs").glob("*.yaml"))
    assert specs
    for path in specs:
        text = path.read_text(encoding="utf-8")
        assert text.startswith("# yaml-language-server: $schema=../docs/schemas/spec.schema.json\n"), path
        assert not list(validator.iter_errors(yamlsrc.parse(text))), path
    # what `cpcompile test` refuses, the editor flags too
    for bad in ["specs: []\n", "specs:\n  - name: x\n    datastream: web-prod\n    expect: {}\n    expct: {}\n",
                "specs:\n  - name: x\n    expect: {}\n"]:
        assert list(validator.iter_errors(yamlsrc.parse(bad))), bad
        root = tmp_path / str(abs(hash(bad)))
        for folder in ("datastreams", "destinations", "audiences", "specs"):
            (root / folder).mkdir(parents=True)
        (root / "specs" / "bad.yaml").write_text(bad)
        from click.testing import CliRunner

        result = CliRunner().invoke(cli, ["test", str(root)])
        assert result.exit_code == 1 and "specs/bad.yaml:" in result.output, result.output


def test_audience_entries_are_checked_and_reported_like_every_other_entry(tmp_path, monkeypatch):
    # audience entries are a slotted dataclass, not a model (there is one per audience and
    # destination): their problems still read as a model's do, with the same hints
    audiences = "audiences:\n  - just-a-string\n  - id: 0B8388A2-7a4d-4d99-8e25-62abd0255db5\n    stat: 2026-12-01\n  - {}\n"
    root = write_tree(tmp_path, {"datastreams/web.yaml": WEB_DATASTREAM, "destinations/home.yaml": destination(audiences=0) + audiences})
    monkeypatch.chdir(root)
    result = run("validate", ".")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[:5] == [
        "destinations/home.yaml:6:5: error CP121 audiences[0]: Input should be a valid dictionary or instance of AudienceMapping",
        "destinations/home.yaml:8:5: error CP122 unknown key 'audiences[1].stat'",
        "    hint: did you mean 'start'?",
        "destinations/home.yaml:9:5: error CP120 missing required key 'id'",
        "    hint: Audience (segment definition) ID.",
    ]
