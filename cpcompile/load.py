"""From source files to the project: the YAML and schema stages of the pipeline.

The schema stage imports pydantic only when it has to: quick.py accepts a small, valid file on
its own, and the models (model.py) check everything else and explain every refusal
(schema_problems.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

from . import yamlsrc
from .diagnostics import Diagnostic, Severity
from .project import FILE_KINDS, Doc, Entry, Project, model_name
from .quick import check_quickly
from .sources import Kind, SourceFile
from .values import forget_checked_ids

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

Parse = Callable[[SourceFile], dict[str, Any]]
# what loading one file gave (its entry, or the sandbox of a file that failed, and its
# diagnostics), by (kind, sha256, path): the same file loads alike on both sides of a diff
Loaded = dict[tuple[str, str, str], tuple["Entry[Any] | str | None", list[Diagnostic]]]


def parse_source(source: SourceFile) -> dict[str, Any]:
    return yamlsrc.parse(source.text)


def load_project(
    files: Sequence[SourceFile], parse: Parse = parse_source, loaded: Loaded | None = None, *, quick: bool = False
) -> tuple[Project, list[Diagnostic]]:
    """The project of ``files``; with ``loaded``, a file seen before (same kind, path and
    content) is not parsed or checked again: entries are immutable, so both sides of a diff
    can hold the same one. With ``quick``, entries may be quick.py's records (``check_data``)."""
    try:
        return _load_project(files, parse, loaded, quick)
    finally:
        forget_checked_ids()  # each load starts afresh, and keeps no input alive past its end


def _load_project(
    files: Sequence[SourceFile], parse: Parse, loaded: Loaded | None, quick: bool
) -> tuple[Project, list[Diagnostic]]:
    project = Project()
    diagnostics: list[Diagnostic] = []
    for source in files:
        if loaded is None:
            entry = load_entry(source, diagnostics, parse, quick=quick)
        else:
            key = (source.kind.value, source.sha256, source.relpath)
            seen = loaded.get(key)
            if seen is None:
                own: list[Diagnostic] = []
                seen = loaded[key] = (load_entry(source, own, parse, quick=quick), own)
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
    source: SourceFile, diagnostics: list[Diagnostic], parse: Parse = parse_source, *, quick: bool = False
) -> Entry[Any] | str | None:
    """The file's entry; for a file that fails to load, its `sandbox` if it has one as text."""
    try:
        data = parse(source)
    except yamlsrc.YamlProblem as problem:
        diagnostics.append(yaml_diagnostic(source, problem))
        return None
    doc = Doc(source)
    try:
        return Entry(check_data(source.kind, data, quick=quick), doc)
    except Refusal as refusal:
        diagnostics.extend(refusal.diagnostics(doc))
        sandbox = data.get("sandbox") if isinstance(data, dict) else None
        return sandbox if isinstance(sandbox, str) else None


class Refusal(Exception):
    """Data its model refused; ``diagnostics`` says what is wrong, and where."""

    def __init__(self, model_cls: type[BaseModel], error: ValidationError) -> None:
        super().__init__(model_cls.__name__)
        self.model_cls = model_cls
        self.error = error

    def diagnostics(self, doc: Doc) -> list[Diagnostic]:
        from .schema_problems import schema_diagnostics

        return schema_diagnostics(doc, self.model_cls, self.error)


def check_data(kind: Kind, data: Any, *, quick: bool = True) -> Any:
    """``data`` as the model of ``kind``'s files checks it (``check_model``)."""
    return check_model(model_name(kind), data, quick=quick)


def check_model(name: str, data: Any, *, quick: bool = True) -> Any:
    """``data`` as the model ``name`` (of model.py) checks it, else ``Refusal``.

    With ``quick``, data that quick.py accepts is answered with its record (the model's fields
    and values, read-only) without importing pydantic; anything else, and all of it without
    ``quick``, is an instance of the model itself. Only the model explains a refusal."""
    if quick and (record := check_quickly(name, data)) is not None:
        return record
    from pydantic import ValidationError

    from . import model

    model_cls: type[BaseModel] = getattr(model, name)
    try:
        return model_cls.model_validate(data)
    except ValidationError as err:
        raise Refusal(model_cls, err) from None


def yaml_diagnostic(source: SourceFile, problem: yamlsrc.YamlProblem) -> Diagnostic:
    """The diagnostic of a file the YAML stage refused (its 0-based position made 1-based)."""
    return Diagnostic(
        problem.code, Severity.ERROR, problem.message, source.relpath, problem.line + 1, problem.col + 1, problem.hint
    )
