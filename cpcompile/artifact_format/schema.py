"""The artifact's published JSON Schema, generated from the declarations in ``body`` and the
header constants in ``document`` (docs/schemas/artifact.schema.json; ``cpcompile schemas``).

The schema describes every version this code reads: a field added in version N is required of
a version-N artifact and absent from an older one.
"""

from __future__ import annotations

from typing import Any

from cpcompile.artifact_format.body import BODY, DATASTREAM, DEFINITIONS, Record
from cpcompile.artifact_format.document import FORMAT, REVISION_PREFIX, SCHEMA_VERSION


def json_schema(dialect: str) -> dict[str, Any]:
    versions = list(range(1, SCHEMA_VERSION + 1))
    older = ", ".join(map(str, versions[:-1]))
    title = f"cpcompile artifact, schema version {SCHEMA_VERSION}"
    if older:
        title += f" (version {older} still read)"
    return {
        "$schema": dialect,
        "title": title,
        "type": "object",
        "additionalProperties": False,
        "required": ["body", "format", "min_reader_version", "revision", "schema_version"],
        "properties": {
            "format": {"const": FORMAT},
            "schema_version": {"enum": versions},
            "min_reader_version": {"type": "integer", "minimum": 1},
            "revision": {"type": "string", "pattern": f"^{REVISION_PREFIX}[0-9a-f]{{64}}$"},
            "body": BODY.schema(),
        },
        "allOf": [_added_in(SCHEMA_VERSION, DATASTREAM)],
        "$defs": {record.ref: record.schema() for record in DEFINITIONS},
    }


def _added_in(version: int, record: Record) -> dict[str, Any]:
    """Version ``version`` artifacts need its reader version and have the datastream fields
    added in it; older ones have neither."""
    added = sorted(f.name for f in record.fields if f.since == version and f.required)

    def datastreams(rule: dict[str, Any]) -> dict[str, Any]:
        return {"body": {"properties": {"datastreams": {"additionalProperties": rule}}}}

    return {
        "if": {"properties": {"schema_version": {"const": version}}},
        "then": {
            "properties": {
                "min_reader_version": {"const": version},
                **datastreams({"required": added}),
            }
        },
        "else": {
            "properties": {
                "min_reader_version": {"const": version - 1},
                **datastreams({"not": {"required": added}}),
            }
        },
    }
