"""The artifact body's shape, declared once: every key, its type, and since which version.

The compiler builds its entries with ``Record.entry`` (a key the declaration does not have, or
a required one left out, is a bug caught at build time); the runtime's reader
(``cpcompile/runtime/_index.py``) takes every key name and allowed value from here and checks
each declared field (tests/test_format.py proves it refuses a wrong value of each); and the
published JSON Schema (``docs/schemas/artifact.schema.json``) is ``json_schema()``.

Two kinds of strings differ between the reader and the schema on purpose. ``Text`` with a
``pattern`` or ``values`` is what the compiler writes (a UUID, a known namespace), published in
the schema for tools; the reader only asks for a non-empty string, so that an artifact from a
newer compiler with, say, a new namespace still loads. ``OneOf`` is closed: a reader refuses
any other value (an unknown ``access`` must not fail open).

Standard library only, nothing imported: the runtime imports this module on every replica.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Tuple, Union

    Type = Union["Text", "OneOf", "Integer", "Array", "Map", "Record"]
    Schema = Dict[str, Any]

UUID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


class Text:
    """A non-empty string. ``pattern``/``values``: what the compiler writes (schema only);
    ``dotted``: a path of non-empty names separated by dots (checked by the reader too)."""

    __slots__ = ("pattern", "values", "dotted")

    def __init__(self, *, pattern: str = "", values: Tuple[str, ...] = (), dotted: bool = False):
        self.pattern, self.values, self.dotted = pattern, values, dotted

    def schema(self) -> Schema:
        if self.values:
            return {"enum": list(self.values)}
        if self.pattern:
            return {"type": "string", "pattern": self.pattern}
        return {"type": "string", "minLength": 1}


class OneOf:
    """One of a closed set of strings: a reader refuses any other."""

    __slots__ = ("values", "description")

    def __init__(self, *values: str, description: str = ""):
        self.values, self.description = values, description

    def schema(self) -> Schema:
        schema: Schema = {"enum": list(self.values)}
        if self.description:
            schema["description"] = self.description
        return schema


class Integer:
    """An integer (never a boolean), at least ``minimum`` when one is given."""

    __slots__ = ("minimum", "description")

    def __init__(self, *, minimum: int | None = None, description: str = ""):
        self.minimum, self.description = minimum, description

    def schema(self) -> Schema:
        schema: Schema = {"type": "integer"}
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.description:
            schema["description"] = self.description
        return schema


class Array:
    """A JSON array of ``items``; the compiler writes at least ``min_items``."""

    __slots__ = ("items", "min_items")

    def __init__(self, items: Type, *, min_items: int = 0):
        self.items, self.min_items = items, min_items

    def schema(self) -> Schema:
        schema: Schema = {"type": "array"}
        if self.min_items:
            schema["minItems"] = self.min_items
        schema["items"] = _ref_or_schema(self.items)
        return schema


class Map:
    """A JSON object from ``keys`` (strings) to ``values``."""

    __slots__ = ("keys", "values")

    def __init__(self, keys: Text, values: Type):
        self.keys, self.values = keys, values

    def schema(self) -> Schema:
        return {
            "type": "object",
            "propertyNames": self.keys.schema(),
            "additionalProperties": _ref_or_schema(self.values),
        }


class Field:
    """One key of a record. ``since``: the schema version that added it (an artifact of that
    version or newer has it when it is required)."""

    __slots__ = ("name", "type", "required", "since")

    def __init__(self, name: str, type: Type, *, required: bool = True, since: int = 1):
        self.name, self.type, self.required, self.since = name, type, required, since


class Record:
    """A JSON object with known keys. ``ref``: its name under the schema's ``$defs``, or ""
    for a record written out in place."""

    __slots__ = ("ref", "fields", "keys", "_names", "_required", "_sorted")

    def __init__(self, ref: str, *fields: Field):
        self.ref, self.fields = ref, fields
        self.keys = {f.name: f.name for f in fields}  # name -> name, for `KEYS["destination"]`
        self._names = frozenset(self.keys)
        self._required = frozenset(f.name for f in fields if f.required)
        self._sorted = tuple(sorted(self.keys))

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def entry(self, **values: Any) -> Dict[str, Any]:
        """The dict the compiler writes: exactly the declared keys, every required one, in sorted
        order (the canonical JSON's, which the msgpack encoding keeps)."""
        if not (self._required <= values.keys() <= self._names):
            unknown = sorted(values.keys() - self._names)
            missing = sorted(self._required - values.keys())
            raise KeyError(f"{self.ref or 'record'} entry: unknown keys {unknown}, missing {missing}")
        return {name: values[name] for name in self._sorted if name in values}

    def schema(self, version: int = 1) -> Schema:
        """Its schema; required are the fields every version from ``version`` has."""
        return {
            "type": "object",
            "additionalProperties": False,
            "required": sorted(f.name for f in self.fields if f.required and f.since <= version),
            "properties": {f.name: _ref_or_schema(f.type) for f in self.fields},
        }


def _ref_or_schema(type: Type) -> Schema:
    if isinstance(type, Record) and type.ref:
        return {"$ref": f"#/$defs/{type.ref}"}
    return type.schema()


# --- the body --------------------------------------------------------------------------------

SECONDS = Integer(description="Unix seconds, UTC")
ACCESS = OneOf(
    "mixed", "authenticated-only",
    description="authenticated-only: unauthenticated requests get nothing",
)

MAPPING = Record(
    "",
    Field("destination", Integer(minimum=0)),  # an index into the datastream's destinations
    Field("start", SECONDS, required=False),
    Field("end", SECONDS, required=False),
)
AUDIENCE = Record(
    "audience",
    Field("namespace", Text(values=("ups", "CustomerAudienceUpload"))),
    Field("mappings", Array(MAPPING, min_items=1)),
)
ATTRIBUTE = Record(
    "",
    Field("source", Text(dotted=True)),
    Field("target", Text()),
)
DESTINATION = Record(
    "destination",
    Field("alias", Text()),
    Field("destinationId", Text(pattern=UUID_PATTERN)),
    Field("attributes", Array(ATTRIBUTE, min_items=1), required=False),
)
DATASTREAM = Record(
    "datastream",
    Field("access", ACCESS, since=2),
    Field("destinations", Array(DESTINATION)),
    Field("audiences", Map(Text(), AUDIENCE)),
)
BODY = Record("", Field("datastreams", Map(Text(pattern=UUID_PATTERN), DATASTREAM)))

DEFINITIONS = (DATASTREAM, DESTINATION, AUDIENCE)
