"""The published editor schemas (docs/schemas/) and `cpcompile validate` agree on every file of
every golden case: a file the schema accepts has no schema-stage diagnostic, and one it refuses
has one. Rules that need other files (CP126 onwards) are the CLI's alone, and a file YAML cannot
read has no data for a schema to see."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from cpcompile import yamlsrc
from cpcompile.cli import cli
from cpcompile.codes import CODES, Stage
from conftest import CASES_DIR, REPO_ROOT, WEB_DATASTREAM, destination, write_tree

COMMITTED = REPO_ROOT / "docs" / "schemas"
SCHEMA_OF_FOLDER = {
    "datastreams": "datastream.schema.json",
    "destinations": "destination.schema.json",
    "audiences": "catalog.schema.json",
    "policies": "policies.schema.json",
}
VALIDATORS = {
    folder: jsonschema.Draft202012Validator(
        json.loads((COMMITTED / name).read_text(encoding="utf-8")), format_checker=jsonschema.FormatChecker()
    )
    for folder, name in SCHEMA_OF_FOLDER.items()
}
CASES = sorted(p for kind in ("valid", "invalid") for p in (CASES_DIR / kind).iterdir() if p.is_dir())


def _verdicts(root: Path) -> dict[str, tuple[bool, bool]]:
    """For each config file that YAML can read: (the schema refuses it, validate gives it a
    schema-stage diagnostic)."""
    with contextlib.chdir(root):  # files named relative to the root
        result = CliRunner().invoke(cli, ["validate", ".", "--format", "json"])
    assert result.exit_code in (0, 1), result.output
    by_file: dict[str, set[str]] = {}
    for d in json.loads(result.stdout)["diagnostics"]:
        by_file.setdefault(d["file"], set()).add(d["code"])
    verdicts = {}
    for folder, validator in VALIDATORS.items():
        for path in sorted((root / folder).rglob("*.yaml")) if (root / folder).is_dir() else []:
            rel = path.relative_to(root).as_posix()
            codes = by_file.get(rel, set())
            if any(CODES[c].stage in (Stage.FILES, Stage.YAML) for c in codes):
                continue
            data: Any = yamlsrc.parse(path.read_text(encoding="utf-8-sig"))
            schema_refuses = any(True for _ in validator.iter_errors(data))
            verdicts[rel] = (schema_refuses, any(CODES[c].stage is Stage.SCHEMA for c in codes))
    return verdicts


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_schema_and_validate_agree_on_every_golden_file(case: Path) -> None:
    disagreements = {f: v for f, v in _verdicts(case).items() if v[0] != v[1]}
    assert not disagreements, "(schema refuses, validate refuses): " + repr(disagreements)


@pytest.mark.parametrize(
    "field, value",
    [
        ("id", "de000000-0000-4000-8000-00000000000g"),  # not hex
        ("id", "de0000000000400080000000000000001"),  # no dashes
        ("alias", " homeBanner"),  # leading space
        ("alias", "home\u0085Banner"),  # C1 control
        ("alias", "x" * 257),
        ("start", "2026-12-01 08:00:00"),  # space separator
        ("start", "2026-12-01t08:00:00z"),  # lower-case t and z
        ("start", "2026-12-01T08:00:00.5Z"),  # fractional seconds
        ("start", "2026-W49-1"),  # week date
        ("start", "2026-02-30"),  # no such day
        ("start", "2026-13-01T08:00"),  # no such month
        ("end", "next week"),
        ("source", "person.emails[0].address"),  # array item
    ],
)
def test_schema_refuses_what_validate_refuses(tmp_path: Path, field: str, value: str) -> None:
    if field in ("start", "end"):
        dest = destination() + f'    {field}: "{value}"\n'
    elif field == "source":
        dest = destination() + f'attributes:\n  - source: "{value}"\n    target: email\n'
    else:
        dest = destination().replace(f"{field}: ", f"{field}: {json.dumps(value)}\n_{field}: ", 1)
        dest = "\n".join(line for line in dest.splitlines() if not line.startswith(f"_{field}: ")) + "\n"
    write_tree(tmp_path, {"datastreams/web.yaml": WEB_DATASTREAM, "destinations/home.yaml": dest})
    assert _verdicts(tmp_path)["destinations/home.yaml"] == (True, True)


@pytest.mark.parametrize(
    "value", ["2026-12-01", "2026-12-01T08:00", "2026-12-01T08:00:00", "2026-12-01T08:00:00Z", "2026-12-01T09:00+01:00"]
)
def test_schema_accepts_what_validate_accepts(tmp_path: Path, value: str) -> None:
    dest = destination() + f'    start: "{value}"\n'
    write_tree(tmp_path, {"datastreams/web.yaml": WEB_DATASTREAM, "destinations/home.yaml": dest})
    assert _verdicts(tmp_path)["destinations/home.yaml"] == (False, False)
