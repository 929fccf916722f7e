"""JSON Schemas of the config file kinds, generated from the models, for editors and tools."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .artifact_format.schema import json_schema as artifact_json_schema
from .manifest import pretty_json
from .project import FILE_KINDS
from .spec import SpecFile

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
CONFIG_SCHEMAS: dict[str, type[BaseModel]] = {spec.schema_file: spec.model for spec in FILE_KINDS.values()}
# files read beside the config but never compiled: specs/*.yaml (docs/specs.md)
OTHER_SCHEMAS: dict[str, type[BaseModel]] = {"spec.schema.json": SpecFile}


# The artifact is a file format with its own version, not a dump of the config models: its
# schema is generated from the format's own declarations (cpcompile/artifact_format/body.py).
ARTIFACT_SCHEMA: dict[str, Any] = artifact_json_schema(SCHEMA_DIALECT)


def config_schemas() -> dict[str, bytes]:
    return {
        name: pretty_json({"$schema": SCHEMA_DIALECT, **model.model_json_schema()})
        for name, model in {**CONFIG_SCHEMAS, **OTHER_SCHEMAS}.items()
    }


def published_schemas() -> dict[str, bytes]:
    """Every schema in docs/schemas/: the config file kinds and the artifact."""
    return {**config_schemas(), "artifact.schema.json": pretty_json(ARTIFACT_SCHEMA)}


def stale(out_dir: Path, expected: dict[str, bytes]) -> list[str]:
    """Names of schema files that are missing or differ from what would be written."""
    return sorted(
        name for name, content in expected.items()
        if not (out_dir / name).is_file() or (out_dir / name).read_bytes() != content
    )
