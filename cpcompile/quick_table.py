"""The table quick.py checks config data by: the models' own compiled schemas (pydantic's core
schema of each model in model.py), reduced to the few kinds of node the models use.

Written to ``cpcompile/data/quick_table.json`` by ``python -m cpcompile.quick_table`` and held
to the models by tests/test_quick.py. Anything in a core schema this reduction does not know
(a new constraint, a validator of another kind, a model that allows unknown keys) stops it
with ``UnknownSchema`` rather than being left out: a check that skipped it would accept data
the model refuses.

Nodes, as JSON arrays:

* ``["str", min_length, max_length]`` (either may be null), ``["bool"]``, ``["int", ge, le]``,
  ``["literal", [values]]``, ``["dates"]`` (a date or a date and time, as ``values.when``
  gives them), ``["nullable", node]``, ``["list", node, min_length]``, ``["dict", key, value]``;
* ``["after", check, node]`` and ``["before", check, node]``: a check of values.py, by name
  (``CHECKS``), after or before the node;
* ``["model", name]``: the model (or dataclass) of that name, whose fields are in the table's
  ``models``: ``[field, node]`` for a required one, ``[field, node, default]`` where
  ``default`` is ``{"value": ...}`` or ``{"factory": "list" | "dict"}``;
* ``["ref", name]``: the node of that name in the table's ``refs`` (a model that holds itself,
  such as a policy's expression).
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

from . import model, values

# each check a model runs, and its name in values.py's terms (quick.CHECKS)
CHECKS: dict[Any, str] = {
    model._uuid: "uuid",
    model._alias: "alias",
    model._xdm_path: "xdm_path",
    model._label: "label",
    model._action_name: "action_name",
    model._when: "when",
    values.datastream_key: "datastream_key",
    model.Expression._one_form: "expression_form",
}
# the models quick.py checks a file (or the bundled default policies) as
TOP_MODELS = ("Datastream", "Destination", "Catalog", "Governance", "Settings", "Policy")
TABLE_FILE = Path(__file__).with_name("data") / "quick_table.json"
_IGNORED = {"type", "metadata", "ref", "serialization"}
_MODEL_CONFIG = {"extra_fields_behavior", "str_strip_whitespace", "title", "strict"}


class UnknownSchema(Exception):
    """A part of a model's core schema that the quick check cannot check alike."""


def quick_table() -> dict[str, Any]:
    reducer = _Reducer()
    top = {name: reducer.node(getattr(model, name).__pydantic_core_schema__) for name in TOP_MODELS}
    return {"top": top, "models": dict(sorted(reducer.models.items())), "refs": dict(sorted(reducer.refs.items()))}


def table_text() -> str:
    return json.dumps(quick_table(), indent=1, sort_keys=True, ensure_ascii=True) + "\n"


class _Reducer:
    def __init__(self) -> None:
        self.models: dict[str, list[list[Any]]] = {}
        self.refs: dict[str, list[Any]] = {}  # definitions (a model that holds itself), by name

    def node(self, schema: dict[str, Any]) -> list[Any]:
        kind = schema["type"]
        handler = getattr(self, "_" + kind.replace("-", "_"), None)
        if handler is None:
            raise UnknownSchema(f"a core schema of type {kind!r}")
        found: list[Any] = handler(schema)
        return found

    def _keys(self, schema: dict[str, Any], *known: str) -> None:
        unknown = set(schema) - _IGNORED - set(known)
        if unknown:
            raise UnknownSchema(f"{schema['type']} schema with {sorted(unknown)}")

    def _str(self, schema: dict[str, Any]) -> list[Any]:
        self._keys(schema, "strict", "min_length", "max_length", "strip_whitespace")
        if schema.get("strip_whitespace"):
            raise UnknownSchema("a str schema that strips whitespace")
        return ["str", schema.get("min_length"), schema.get("max_length")]

    def _bool(self, schema: dict[str, Any]) -> list[Any]:
        self._keys(schema, "strict")
        return ["bool"]

    def _int(self, schema: dict[str, Any]) -> list[Any]:
        self._keys(schema, "strict", "ge", "le")
        return ["int", schema.get("ge"), schema.get("le")]

    def _literal(self, schema: dict[str, Any]) -> list[Any]:
        self._keys(schema, "expected")
        if not all(type(value) is str for value in schema["expected"]):
            raise UnknownSchema("a literal of other values than strings")
        return ["literal", list(schema["expected"])]

    def _union(self, schema: dict[str, Any]) -> list[Any]:
        self._keys(schema, "choices")
        choices = [choice["type"] for choice in schema["choices"] if isinstance(choice, dict)]
        if choices != ["date", "datetime"] or schema["choices"][1].get("microseconds_precision") != "truncate":
            raise UnknownSchema(f"a union of {choices}")
        return ["dates"]

    def _nullable(self, schema: dict[str, Any]) -> list[Any]:
        self._keys(schema, "schema")
        return ["nullable", self.node(schema["schema"])]

    def _list(self, schema: dict[str, Any]) -> list[Any]:
        self._keys(schema, "items_schema", "min_length")
        return ["list", self.node(schema["items_schema"]), schema.get("min_length")]

    def _dict(self, schema: dict[str, Any]) -> list[Any]:
        self._keys(schema, "keys_schema", "values_schema")
        return ["dict", self.node(schema["keys_schema"]), self.node(schema["values_schema"])]

    def _function_after(self, schema: dict[str, Any]) -> list[Any]:
        self._keys(schema, "function", "schema")
        return ["after", self._check(schema["function"]), self.node(schema["schema"])]

    def _function_before(self, schema: dict[str, Any]) -> list[Any]:
        self._keys(schema, "function", "schema")
        return ["before", self._check(schema["function"]), self.node(schema["schema"])]

    def _check(self, function: dict[str, Any]) -> str:
        if function.get("type") != "no-info" or function["function"] not in CHECKS:
            raise UnknownSchema(f"a validator {function!r}")
        return CHECKS[function["function"]]

    def _definitions(self, schema: dict[str, Any]) -> list[Any]:
        self._keys(schema, "definitions", "schema")
        for definition in schema["definitions"]:
            name = _ref_name(definition["ref"])
            if name not in self.refs:
                self.refs[name] = []  # a definition may refer to itself
                self.refs[name] = self.node(definition)
        return self.node(schema["schema"])

    def _definition_ref(self, schema: dict[str, Any]) -> list[Any]:
        self._keys(schema, "schema_ref")
        name = _ref_name(schema["schema_ref"])
        if name not in self.refs:
            raise UnknownSchema(f"a reference to {name!r} outside its definitions")
        return ["ref", name]

    def _default(self, schema: dict[str, Any]) -> list[Any]:
        raise UnknownSchema("a default outside a field")

    def _model(self, schema: dict[str, Any]) -> list[Any]:
        self._keys(schema, "cls", "config", "schema", "custom_init", "root_model", "post_init")
        if schema.get("custom_init") or schema.get("root_model") or schema.get("post_init"):
            raise UnknownSchema(f"model {schema['cls'].__name__} with its own __init__, a root or a post-init")
        self._config(schema)
        fields = schema["schema"]
        self._keys(fields, "fields", "model_name", "computed_fields")
        if fields.get("computed_fields"):
            raise UnknownSchema("computed fields")
        return self._record(schema["cls"].__name__, [(name, field["schema"]) for name, field in fields["fields"].items()])

    def _dataclass(self, schema: dict[str, Any]) -> list[Any]:
        self._keys(schema, "cls", "config", "fields", "frozen", "post_init", "schema", "slots")
        if schema.get("post_init"):
            raise UnknownSchema(f"dataclass {schema['cls'].__name__} with __post_init__")
        self._config(schema)
        args = schema["schema"]
        self._keys(args, "fields", "dataclass_name", "collect_init_only", "computed_fields")
        if args.get("collect_init_only") or args.get("computed_fields"):
            raise UnknownSchema("init-only or computed dataclass fields")
        for field in args["fields"]:
            self._keys(field, "name", "schema", "kw_only")
        return self._record(schema["cls"].__name__, [(field["name"], field["schema"]) for field in args["fields"]])

    def _config(self, schema: dict[str, Any]) -> None:
        config = schema.get("config", {})
        if config.get("extra_fields_behavior") != "forbid" or config.get("str_strip_whitespace"):
            raise UnknownSchema(f"{schema['cls'].__name__} allows unknown keys or strips whitespace")
        if set(config) - _MODEL_CONFIG:
            raise UnknownSchema(f"{schema['cls'].__name__} config {sorted(set(config) - _MODEL_CONFIG)}")

    def _record(self, name: str, fields: list[tuple[str, dict[str, Any]]]) -> list[Any]:
        if name not in self.models:
            self.models[name] = []  # a field may refer to the model itself
            self.models[name] = [self._field(field, schema) for field, schema in fields]
        return ["model", name]

    def _field(self, name: str, schema: dict[str, Any]) -> list[Any]:
        if schema["type"] != "default":
            return [name, self.node(schema)]
        self._keys(schema, "schema", "default", "default_factory", "default_factory_takes_data", "validate_default")
        if schema.get("validate_default") or schema.get("default_factory_takes_data"):
            raise UnknownSchema(f"field {name}: a default that is validated or made from the data")
        if "default_factory" in schema:
            factory = {list: "list", dict: "dict"}.get(schema["default_factory"])
            if factory is None:
                raise UnknownSchema(f"field {name}: default factory {schema['default_factory']!r}")
            return [name, self.node(schema["schema"]), {"factory": factory}]
        value = schema["default"]
        if value is not None and type(value) not in (str, bool, int) or isinstance(value, (date, datetime)):
            raise UnknownSchema(f"field {name}: default {value!r}")
        return [name, self.node(schema["schema"]), {"value": value}]


def _ref_name(ref: str) -> str:
    """``cpcompile.model.Expression:94228707533792`` -> ``Expression``: the same on every run."""
    return ref.split(":", 1)[0].rsplit(".", 1)[-1]


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        sys.exit(0 if TABLE_FILE.read_text(encoding="utf-8") == table_text() else 1)
    TABLE_FILE.write_text(table_text(), encoding="utf-8")
