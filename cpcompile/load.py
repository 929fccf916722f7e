"""From source files to the project: the YAML and schema stages of the pipeline, with the
schema's diagnostics (CP120-CP125, CP180, CP183) located in the file."""

from __future__ import annotations

import difflib
import functools
import re
import types
import typing
from typing import Any, Callable, Sequence

from pydantic import BaseModel, ValidationError, create_model
from pydantic.dataclasses import is_pydantic_dataclass

from . import yamlsrc
from .diagnostics import Diagnostic, Severity
from .model import forget_checked_ids
from .project import FILE_KINDS, Doc, Entry, Project
from .sources import Kind, SourceFile

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

Parse = Callable[[SourceFile], dict[str, Any]]
# what loading one file gave (its entry, or the sandbox of a file that failed, and its
# diagnostics), by (kind, sha256, path): the same file loads alike on both sides of a diff
Loaded = dict[tuple[str, str, str], tuple["Entry[Any] | str | None", list[Diagnostic]]]


def parse_source(source: SourceFile) -> dict[str, Any]:
    return yamlsrc.parse(source.text)


def load_project(
    files: Sequence[SourceFile], parse: Parse = parse_source, loaded: Loaded | None = None
) -> tuple[Project, list[Diagnostic]]:
    """The project of ``files``; with ``loaded``, a file seen before (same kind, path and
    content) is not parsed or checked again: entries are immutable, so both sides of a diff
    can hold the same one."""
    try:
        return _load_project(files, parse, loaded)
    finally:
        forget_checked_ids()  # each load starts afresh, and keeps no input alive past its end


def _load_project(files: Sequence[SourceFile], parse: Parse, loaded: Loaded | None) -> tuple[Project, list[Diagnostic]]:
    project = Project()
    diagnostics: list[Diagnostic] = []
    for source in files:
        if loaded is None:
            entry = load_entry(source, diagnostics, parse)
        else:
            key = (source.kind.value, source.sha256, source.relpath)
            seen = loaded.get(key)
            if seen is None:
                own: list[Diagnostic] = []
                seen = loaded[key] = (load_entry(source, own, parse), own)
            entry = seen[0]
            diagnostics.extend(seen[1])
        if isinstance(entry, Entry):
            FILE_KINDS[source.kind].entries(project).append(entry)
        elif source.kind is Kind.CATALOG:
            project.broken_catalogs.add(entry)
        elif source.kind is Kind.POLICY:
            project.broken_policies += 1
    return project, diagnostics


def load_entry(
    source: SourceFile, diagnostics: list[Diagnostic], parse: Parse = parse_source
) -> Entry[Any] | str | None:
    """The file's entry; for a file that fails to load, its `sandbox` if it has one as text."""
    try:
        data = parse(source)
    except yamlsrc.YamlProblem as problem:
        diagnostics.append(yaml_diagnostic(source, problem))
        return None
    doc = Doc(source)
    model_cls = FILE_KINDS[source.kind].model
    try:
        return Entry(model_cls.model_validate(data), doc)
    except ValidationError as err:
        diagnostics.extend(schema_diagnostics(doc, model_cls, err))
        sandbox = data.get("sandbox") if isinstance(data, dict) else None
        return sandbox if isinstance(sandbox, str) else None


def yaml_diagnostic(source: SourceFile, problem: yamlsrc.YamlProblem) -> Diagnostic:
    """The diagnostic of a file the YAML stage refused (its 0-based position made 1-based)."""
    return Diagnostic(
        problem.code, Severity.ERROR, problem.message, source.relpath, problem.line + 1, problem.col + 1, problem.hint
    )


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
