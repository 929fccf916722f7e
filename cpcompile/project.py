"""From source files to validated models: the YAML and schema stages of the pipeline."""

from __future__ import annotations

import difflib
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Sequence, TypeVar

from pydantic import BaseModel, ValidationError

from . import yamlsrc
from .diagnostics import Diagnostic, Severity
from .model import Catalog, Datastream, Destination, datastream_key
from .sources import Kind, SourceFile

M = TypeVar("M", bound=BaseModel)
MODEL_OF_KIND: dict[Kind, type[BaseModel]] = {
    Kind.DATASTREAM: Datastream,
    Kind.DESTINATION: Destination,
    Kind.CATALOG: Catalog,
}
_CUSTOM_CODES = {"uuid": "CP123", "alias": "CP124", "xdm_path": "CP125", "when": "CP121"}
_TYPE_HINTS = {
    "bool_type": "write true or false (in YAML 1.2, yes/no/on/off are strings)",
    "string_type": "quote the value to make it a string",
}
_QUOTED = re.compile(r"'([^']*)'")


@dataclass
class Doc:
    """One parsed file: its plain data and, on demand, positions of its keys and values."""

    source: SourceFile
    data: dict[str, Any]
    positions: yamlsrc.Positions = field(init=False)

    def __post_init__(self) -> None:
        self.positions = yamlsrc.Positions(self.source.text)

    @property
    def relpath(self) -> str:
        return self.source.relpath

    def diagnostic(
        self,
        code: str,
        message: str,
        path: Sequence[str | int] = (),
        *,
        key: bool = False,
        hint: str | None = None,
        severity: Severity = Severity.ERROR,
    ) -> Diagnostic:
        line, col = self.positions.locate(path, key=key)
        return Diagnostic(code, severity, message, self.relpath, line, col, hint)


@dataclass(frozen=True)
class Entry(Generic[M]):
    model: M
    doc: Doc


@dataclass
class Project:
    datastreams: list[Entry[Datastream]] = field(default_factory=list)
    destinations: list[Entry[Destination]] = field(default_factory=list)
    catalogs: list[Entry[Catalog]] = field(default_factory=list)
    # The sandbox of each catalog file that failed to load (None: unknown, it could be any). The
    # rules that need a sandbox's whole catalog are not checked for these sandboxes.
    broken_catalogs: set[str | None] = field(default_factory=set)

    def catalog_is_complete(self, sandbox: str | None) -> bool:
        return not self.broken_catalogs or (
            sandbox is not None and None not in self.broken_catalogs and sandbox not in self.broken_catalogs
        )


Parse = Callable[[SourceFile], dict[str, Any]]


def parse_source(source: SourceFile) -> dict[str, Any]:
    return yamlsrc.parse(source.text)


def load_project(files: Sequence[SourceFile], parse: Parse = parse_source) -> tuple[Project, list[Diagnostic]]:
    project = Project()
    diagnostics: list[Diagnostic] = []
    lists: dict[Kind, list[Any]] = {
        Kind.DATASTREAM: project.datastreams,
        Kind.DESTINATION: project.destinations,
        Kind.CATALOG: project.catalogs,
    }
    for source in files:
        entry = load_entry(source, diagnostics, parse)
        if isinstance(entry, Entry):
            lists[source.kind].append(entry)
        elif source.kind is Kind.CATALOG:
            project.broken_catalogs.add(entry)
    return project, diagnostics


def load_entry(
    source: SourceFile, diagnostics: list[Diagnostic], parse: Parse = parse_source
) -> Entry[Any] | str | None:
    """The file's entry; for a file that fails to load, its `sandbox` if it has one as text."""
    try:
        data = parse(source)
    except yamlsrc.YamlProblem as problem:
        diagnostics.append(
            Diagnostic(
                problem.code, Severity.ERROR, problem.message, source.relpath,
                problem.line + 1, problem.col + 1, problem.hint,
            )
        )
        return None
    doc = Doc(source, data)
    model_cls = MODEL_OF_KIND[source.kind]
    try:
        return Entry(model_cls.model_validate(data), doc)
    except ValidationError as err:
        diagnostics.extend(schema_diagnostics(doc, model_cls, err))
        sandbox = data.get("sandbox") if isinstance(data, dict) else None
        return sandbox if isinstance(sandbox, str) else None


def schema_diagnostics(doc: Doc, model_cls: type[BaseModel], err: ValidationError) -> list[Diagnostic]:
    out = []
    for error in err.errors(include_url=False):
        loc = tuple(error["loc"])
        kind = error["type"]
        where = _dotted(loc)
        if kind == "missing":
            hint = _description(model_cls, loc)
            out.append(doc.diagnostic("CP120", f"missing required key '{loc[-1]}'", loc[:-1], hint=hint))
        elif kind == "extra_forbidden":
            known = _field_names(model_cls, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(known)}"
            out.append(doc.diagnostic("CP122", f"unknown key '{where}'", loc, key=True, hint=hint))
        else:
            code = _CUSTOM_CODES.get(kind, "CP121")
            hint = _literal_hint(error) if kind == "literal_error" else _TYPE_HINTS.get(kind)
            hint = error.get("ctx", {}).get("hint", hint)
            out.append(doc.diagnostic(code, f"{where}: {error['msg']}", loc, hint=hint))
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
    for arg in (annotation, *typing.get_args(annotation)):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
        if isinstance(arg, types.GenericAlias) or typing.get_origin(arg) is not None:
            found = _inner_model(arg) if arg is not annotation else None
            if found is not None:
                return found
    return None


def _field_names(model_cls: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    model = _model_at(model_cls, loc)
    return sorted(model.model_fields) if model else []


def _description(model_cls: type[BaseModel], loc: Sequence[str | int]) -> str | None:
    model = _model_at(model_cls, loc[:-1])
    info = model.model_fields.get(str(loc[-1])) if model else None
    return info.description if info else None


def datastream_index(project: Project) -> dict[str, Entry[Datastream]]:
    """Datastreams by the names a destination may use for them (``datastream_key``): file stem
    and ID, an ID in lower case."""
    index: dict[str, Entry[Datastream]] = {}
    for entry in project.datastreams:
        index.setdefault(datastream_key(entry.doc.source.stem), entry)
    for entry in project.datastreams:
        index.setdefault(entry.model.id, entry)
    return index
