"""The models' check of a config file, without pydantic: for the common case, data they accept.

Importing pydantic and building the models takes a new process about 0.12 s, more than parsing
and checking a small config takes in all. So ``check_quickly`` checks data against the models'
own compiled schemas (data/quick_table.json, made from model.py by quick_table.py) with the
same value checks (values.py), and gives the accepted data as a ``Record``: the model's fields
with the values the model would hold, read-only. It never explains: whatever it does not
accept, for any reason, it answers None, and the model itself checks the data again and says
what is wrong (load.check_data). So it only needs to accept less than the models, never more:
it takes each value in the type the YAML loader gives (a str, not something that could become
one) and leaves anything unusual to pydantic. tests/test_quick.py holds it to the models.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable

from . import values

TABLE_FILE = Path(__file__).with_name("data") / "quick_table.json"
# The config size (in characters) up to which the quick check pays: it checks an audience mapping
# in about 2 us, pydantic's in about 0.8 us once imported, so from a few MB on the import is the
# smaller cost (a new process validating benchmarks/generate.py's l tree, 3.4 MB: 0.75 s with the
# quick check, 0.85 s without; xl, 20 MB: about alike)
QUICK_CHECK_LIMIT = 4 << 20
CHECKS: dict[str, Callable[[Any], Any]] = {
    "uuid": values.lower_uuid,
    "alias": values.alias,
    "xdm_path": values.xdm_path,
    "label": values.label,
    "action_name": values.action_name,
    "when": values.when,
    "datastream_key": values.datastream_key,
    "expression_form": values.expression_form,
}

Check = Callable[[Any], Any]


class Record:
    """A checked entry: the fields of the model of the same name (``__slots__``), read-only,
    equal to another of its kind with equal fields."""

    __slots__: tuple[str, ...] = ()

    def __init__(self, *fields: Any) -> None:
        for name, value in zip(self.__slots__, fields, strict=True):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def fields(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and type(other) is type(self) and self.fields() == other.fields()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.fields()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in zip(self.__slots__, self.fields(), strict=True))
        return f"{type(self).__name__}({shown})"


class _Declined(Exception):
    """Not accepted here: the model decides."""


def pays_off(config_size: int) -> bool:
    """Whether a config of ``config_size`` characters is checked faster quickly than by the
    models, the import of pydantic included."""
    return config_size <= QUICK_CHECK_LIMIT


def check_quickly(model: str, data: Any) -> Record | None:
    """``data`` as the record of ``model`` (a name in model.py), if the check accepts it; None
    if it does not (the data may still be valid), or if the table has no such model."""
    check = _checks().get(model)
    if check is None:
        return None
    try:
        record: Record = check(data)
        return record
    except _Declined:
        return None
    except RecursionError:  # nesting too deep for a Python check; the model's check in Rust decides
        return None


def fields_of(model: str) -> dict[str, str | None]:
    """The fields of ``model`` in the order the model declares them, each with the model its
    values hold (through a list, a dict, None or a check), or None for a plain value; empty for
    a name the table does not hold. ``cpcompile fmt`` orders keys by it."""
    table = _table()
    return {field[0]: _inner_model(table, field[1]) for field in table["models"].get(model, [])}


def _inner_model(table: dict[str, Any], node: list[Any]) -> str | None:
    kind = node[0]
    if kind == "model":
        found: str = node[1]
        return found
    if kind == "ref":
        return _inner_model(table, table["refs"][node[1]])
    if kind in ("nullable", "list"):
        return _inner_model(table, node[1])
    if kind in ("after", "before", "dict"):
        return _inner_model(table, node[2])
    return None


_TABLE: dict[str, Any] = {}
_TOP: dict[str, Check] = {}


def _table() -> dict[str, Any]:
    if not _TABLE:
        _TABLE.update(json.loads(TABLE_FILE.read_text(encoding="utf-8")))
    return _TABLE


def _checks() -> dict[str, Check]:
    if not _TOP:
        table = _table()
        compiler = _Compiler(table)
        _TOP.update({name: compiler.compile(node) for name, node in table["top"].items()})
    return _TOP


class _Compiler:
    """Turns the table's nodes into checks: functions of a value that give the value the model
    would hold, or raise ``_Declined``."""

    def __init__(self, table: dict[str, Any]) -> None:
        self.table = table
        self.models: dict[str, Check] = {}
        self.refs: dict[str, Check] = {}

    def compile(self, node: list[Any]) -> Check:
        found: Check = getattr(self, "_" + node[0])(*node[1:])
        return found

    def _str(self, min_length: int | None, max_length: int | None) -> Check:
        low, high = min_length or 0, max_length

        def check(value: Any) -> str:
            if type(value) is not str or len(value) < low or (high is not None and len(value) > high):
                raise _Declined
            if not value.isascii():
                try:  # pydantic refuses a string it cannot encode (a lone surrogate)
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise _Declined from None
            return value

        return check

    def _bool(self) -> Check:
        def check(value: Any) -> bool:
            if type(value) is not bool:
                raise _Declined
            return value

        return check

    def _int(self, ge: int | None, le: int | None) -> Check:
        def check(value: Any) -> int:
            if type(value) is not int or (ge is not None and value < ge) or (le is not None and value > le):
                raise _Declined
            return value

        return check

    def _literal(self, expected: list[str]) -> Check:
        allowed = frozenset(expected)

        def check(value: Any) -> str:
            if type(value) is not str or value not in allowed:
                raise _Declined
            return value

        return check

    def _dates(self) -> Check:
        def check(value: Any) -> date | datetime:
            if type(value) is not date and type(value) is not datetime:
                raise _Declined
            return value

        return check

    def _nullable(self, node: list[Any]) -> Check:
        inner = self.compile(node)

        def check(value: Any) -> Any:
            return None if value is None else inner(value)

        return check

    def _list(self, node: list[Any], min_length: int | None) -> Check:
        item = self.compile(node)
        low = min_length or 0

        def check(value: Any) -> list[Any]:
            if type(value) is not list or len(value) < low:
                raise _Declined
            return [item(x) for x in value]

        return check

    def _dict(self, key_node: list[Any], value_node: list[Any]) -> Check:
        key, item = self.compile(key_node), self.compile(value_node)

        def check(value: Any) -> dict[Any, Any]:
            if type(value) is not dict:
                raise _Declined
            return {key(k): item(v) for k, v in value.items()}

        return check

    def _after(self, name: str, node: list[Any]) -> Check:
        return self._then(self.compile(node), CHECKS[name])

    def _before(self, name: str, node: list[Any]) -> Check:
        return self._then(CHECKS[name], self.compile(node))

    @staticmethod
    def _then(first: Check, second: Check) -> Check:
        def check(value: Any) -> Any:
            try:
                return second(first(value))
            except (values.Refused, ValueError, TypeError, OverflowError):
                raise _Declined from None

        return check

    def _ref(self, name: str) -> Check:
        def check(value: Any) -> Any:
            return self.refs[name](value)

        if name not in self.refs:
            self.refs[name] = check  # while compiling: a definition that refers to itself
            self.refs[name] = self.compile(self.table["refs"][name])
        return check

    def _model(self, name: str) -> Check:
        if name in self.models:
            return self.models[name]

        def check(value: Any) -> Record:
            found: Record = self.models[name](value)
            return found

        self.models[name] = check  # while compiling: a model that holds itself
        fields = self.table["models"][name]
        record = type(name, (Record,), {"__slots__": tuple(field[0] for field in fields), "__module__": __name__})
        names = frozenset(field[0] for field in fields)
        steps = [(field[0], self.compile(field[1]), field[2] if len(field) > 2 else None) for field in fields]

        def check_model(value: Any) -> Record:
            if type(value) is not dict or not names.issuperset(value):
                raise _Declined
            out = []
            for field, check_field, default in steps:
                if field in value:
                    out.append(check_field(value[field]))
                elif default is None:
                    raise _Declined
                elif "value" in default:
                    out.append(default["value"])
                else:
                    out.append([] if default["factory"] == "list" else {})
            found: Record = record(*out)
            return found

        self.models[name] = check_model
        return check_model
