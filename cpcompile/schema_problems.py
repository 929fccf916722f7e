"""Where and why a model refused a file's data: the schema stage's diagnostics (CP120-CP125,
CP180, CP183), located in the file, with a hint where one helps."""

from __future__ import annotations

import difflib
import functools
import re
import types
import typing
from typing import Any, Sequence

from pydantic import BaseModel, ValidationError, create_model
from pydantic.dataclasses import is_pydantic_dataclass

from .diagnostics import Diagnostic
from .project import Doc

_CUSTOM_CODES = {
    "uuid": "CP123", "alias": "CP124", "xdm_path": "CP125", "when": "CP121", "label": "CP180", "deny": "CP183",
}
_TYPE_HINTS = {
    "bool_type": "write true or false (in YAML 1.2, yes/no/on/off are strings)",
    "string_type": "quote the value to make it a string",
}
_QUOTED = re.compile(r"'([^']*)'")
# A dataclass entry (model.AudienceMapping) reports what a model reports in its own words:
# the same problems are said alike whichever kind of class checks them
_UNKNOWN_KEY = ("extra_forbidden", "unexpected_keyword_argument")
_NOT_A_MAPPING = "Input should be a valid dictionary or instance of {class_name}"


def schema_diagnostics(doc: Doc, model_cls: type[BaseModel], err: ValidationError) -> list[Diagnostic]:
    out = []
    for error in err.errors(include_url=False):
        loc = tuple(error["loc"])
        kind = error["type"]
        where = _dotted(loc)
        if kind == "missing":
            hint = _description(model_cls, loc)
            out.append(doc.diagnostic("CP120", f"missing required key '{loc[-1]}'", loc[:-1], hint=hint))
        elif kind in _UNKNOWN_KEY:
            known = _field_names(model_cls, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(known)}"
            out.append(doc.diagnostic("CP122", f"unknown key '{where}'", loc, key=True, hint=hint))
        else:
            code = _CUSTOM_CODES.get(kind, "CP121")
            hint = _literal_hint(error) if kind == "literal_error" else _TYPE_HINTS.get(kind)
            hint = error.get("ctx", {}).get("hint", hint)
            message = _NOT_A_MAPPING.format(**error["ctx"]) if kind == "dataclass_type" else error["msg"]
            out.append(doc.diagnostic(code, f"{where}: {message}", loc, hint=hint))
    return out


def _dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def _literal_hint(error: Any) -> str | None:
    expected = _QUOTED.findall(str(error.get("ctx", {}).get("expected", "")))
    by_lower = {e.lower(): e for e in expected}
    close = difflib.get_close_matches(str(error.get("input")).lower(), list(by_lower), n=1, cutoff=0.5)
    return f"did you mean '{by_lower[close[0]]}'?" if close else None


def _model_at(model_cls: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    current: Any = model_cls
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
            return None
        current = _inner_model(current.model_fields[part].annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    """The model of the entries ``annotation`` holds; a pydantic dataclass's as a model of its
    fields, which is all that diagnostics (and ``fmt``'s key order) read of it."""
    for arg in (annotation, *typing.get_args(annotation)):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
        if is_pydantic_dataclass(arg):
            return _as_model(arg)
        if isinstance(arg, types.GenericAlias) or typing.get_origin(arg) is not None:
            found = _inner_model(arg) if arg is not annotation else None
            if found is not None:
                return found
    return None


@functools.cache
def _as_model(cls: type) -> type[BaseModel]:
    fields = cls.__pydantic_fields__  # type: ignore[attr-defined]
    shape: dict[str, Any] = {name: (info.annotation, info) for name, info in fields.items()}
    return create_model(cls.__name__, **shape)


def _field_names(model_cls: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    model = _model_at(model_cls, loc)
    return sorted(model.model_fields) if model else []


def _description(model_cls: type[BaseModel], loc: Sequence[str | int]) -> str | None:
    model = _model_at(model_cls, loc[:-1])
    info = model.model_fields.get(str(loc[-1])) if model else None
    return info.description if info else None
