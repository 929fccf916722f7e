"""JSON Schemas of the config file kinds, generated from the models, for editors and tools."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .model import Catalog, Datastream, Destination

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
CONFIG_SCHEMAS = {
    "datastream.schema.json": Datastream,
    "destination.schema.json": Destination,
    "catalog.schema.json": Catalog,
}


def config_schemas() -> dict[str, bytes]:
    out = {}
    for name, model in CONFIG_SCHEMAS.items():
        schema: dict[str, Any] = {"$schema": SCHEMA_DIALECT, **model.model_json_schema()}
        out[name] = (json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    return out


def stale(out_dir: Path, expected: dict[str, bytes]) -> list[str]:
    """Names of schema files that are missing or differ from what would be written."""
    return sorted(
        name for name, content in expected.items()
        if not (out_dir / name).is_file() or (out_dir / name).read_bytes() != content
    )
