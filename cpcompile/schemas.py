"""JSON Schemas of the config file kinds, generated from the models, for editors and tools."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .manifest import pretty_json
from .project import FILE_KINDS

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
CONFIG_SCHEMAS: dict[str, type[BaseModel]] = {spec.schema_file: spec.model for spec in FILE_KINDS.values()}


_UUID = {"type": "string", "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"}
_SECONDS = {"type": "integer", "description": "Unix seconds, UTC"}

# The artifact's shape (docs/artifact.md), written out by hand: it is a file format with its own
# version, not a dump of the config models. Readers accept schema versions 1 and 2; the compiler
# writes 2, whose datastreams carry `access` (and which version 1 readers must refuse).
ARTIFACT_SCHEMA: dict[str, Any] = {
    "$schema": SCHEMA_DIALECT,
    "title": "cpcompile artifact, schema version 2 (version 1 still read)",
    "type": "object",
    "additionalProperties": False,
    "required": ["body", "format", "min_reader_version", "revision", "schema_version"],
    "properties": {
        "format": {"const": "cpcompile-artifact"},
        "schema_version": {"enum": [1, 2]},
        "min_reader_version": {"type": "integer", "minimum": 1},
        "revision": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"},
        "body": {
            "type": "object",
            "additionalProperties": False,
            "required": ["datastreams"],
            "properties": {
                "datastreams": {
                    "type": "object",
                    "propertyNames": _UUID,
                    "additionalProperties": {"$ref": "#/$defs/datastream"},
                }
            },
        },
    },
    "allOf": [
        {
            "if": {"properties": {"schema_version": {"const": 2}}},
            "then": {
                "properties": {
                    "min_reader_version": {"const": 2},
                    "body": {
                        "properties": {
                            "datastreams": {"additionalProperties": {"required": ["access"]}}
                        }
                    },
                }
            },
            "else": {
                "properties": {
                    "min_reader_version": {"const": 1},
                    "body": {
                        "properties": {
                            "datastreams": {"additionalProperties": {"not": {"required": ["access"]}}}
                        }
                    },
                }
            },
        }
    ],
    "$defs": {
        "datastream": {
            "type": "object",
            "additionalProperties": False,
            "required": ["audiences", "destinations"],
            "properties": {
                "access": {
                    "enum": ["mixed", "authenticated-only"],
                    "description": "authenticated-only: unauthenticated requests get nothing",
                },
                "destinations": {"type": "array", "items": {"$ref": "#/$defs/destination"}},
                "audiences": {
                    "type": "object",
                    "propertyNames": {"type": "string", "minLength": 1},
                    "additionalProperties": {"$ref": "#/$defs/audience"},
                },
            },
        },
        "destination": {
            "type": "object",
            "additionalProperties": False,
            "required": ["alias", "destinationId"],
            "properties": {
                "alias": {"type": "string", "minLength": 1},
                "destinationId": _UUID,
                "attributes": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["source", "target"],
                        "properties": {
                            "source": {"type": "string", "minLength": 1},
                            "target": {"type": "string", "minLength": 1},
                        },
                    },
                },
            },
        },
        "audience": {
            "type": "object",
            "additionalProperties": False,
            "required": ["mappings", "namespace"],
            "properties": {
                "namespace": {"enum": ["ups", "CustomerAudienceUpload"]},
                "mappings": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["destination"],
                        "properties": {
                            "destination": {"type": "integer", "minimum": 0},
                            "start": _SECONDS,
                            "end": _SECONDS,
                        },
                    },
                },
            },
        },
    },
}


def config_schemas() -> dict[str, bytes]:
    return {
        name: pretty_json({"$schema": SCHEMA_DIALECT, **model.model_json_schema()})
        for name, model in CONFIG_SCHEMAS.items()
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
