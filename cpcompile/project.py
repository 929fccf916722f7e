"""The validated config: one entry per file that loaded, by file kind, and what the rules and the
compiler look things up by. Loading it is ``load.py``'s job."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Generic, Iterable, Iterator, Sequence, TypeVar

from . import yamlsrc
from .diagnostics import Diagnostic, Severity
from .sources import Kind, SourceFile
from .values import datastream_key

if TYPE_CHECKING:
    from pydantic import BaseModel

    from .model import Catalog, Datastream, Destination, Governance

M = TypeVar("M")


@dataclass
class Doc:
    """One parsed file and, on demand, positions of its keys and values. The parsed data is not
    kept: the model holds what the rules need, and at scale the plain dicts and lists would
    double the memory of a run."""

    source: SourceFile
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
    """One file's checked content (``model``) and the file. Loaded with ``quick`` (load.py),
    ``model`` may be quick.py's ``Record`` of the model ``M`` rather than an instance: the same
    fields and values, read-only, without the model's methods. The rules and the compiler only
    read fields, so they take either."""

    model: M
    doc: Doc


@dataclass
class Project:
    datastreams: list[Entry[Datastream]] = field(default_factory=list)
    destinations: list[Entry[Destination]] = field(default_factory=list)
    catalogs: list[Entry[Catalog]] = field(default_factory=list)
    policies: list[Entry[Governance]] = field(default_factory=list)
    # policies/ files that failed to load: governance rules hold back (a declaration may be there)
    broken_policies: int = 0
    # The sandbox of each catalog file that failed to load (None: unknown, it could be any). The
    # rules that need a sandbox's whole catalog are not checked for these sandboxes.
    broken_catalogs: set[str | None] = field(default_factory=set)

    def catalog_is_complete(self, sandbox: str | None) -> bool:
        return not self.broken_catalogs or (
            sandbox is not None and None not in self.broken_catalogs and sandbox not in self.broken_catalogs
        )


@dataclass(frozen=True)
class FileKind:
    """What each kind of config file is: where it is found, its model (by name: model.py imports
    pydantic, which a quick check does without), the JSON Schema published for it (docs/schemas/)
    and where the project keeps its entries."""

    kind: Kind
    model_name: str
    schema_file: str
    entries: Callable[[Project], list[Entry[Any]]]

    @property
    def model(self) -> type[BaseModel]:
        return model_of(self.kind)


FILE_KINDS: dict[Kind, FileKind] = {
    spec.kind: spec
    for spec in (
        FileKind(Kind.DATASTREAM, "Datastream", "datastream.schema.json", lambda project: project.datastreams),
        FileKind(Kind.DESTINATION, "Destination", "destination.schema.json", lambda project: project.destinations),
        FileKind(Kind.CATALOG, "Catalog", "catalog.schema.json", lambda project: project.catalogs),
        FileKind(Kind.POLICY, "Governance", "policies.schema.json", lambda project: project.policies),
    )
}


def model_name(kind: Kind) -> str:
    """The name of the model of ``kind``'s files, in model.py (the settings file's included)."""
    return "Settings" if kind is Kind.SETTINGS else FILE_KINDS[kind].model_name


def model_of(kind: Kind) -> type[BaseModel]:
    from . import model

    found: type[BaseModel] = getattr(model, model_name(kind))
    return found


def datastream_index(project: Project) -> dict[str, Entry[Datastream]]:
    """Datastreams by the names a destination may use for them (``datastream_key``): file stem
    and ID, an ID in lower case."""
    index: dict[str, Entry[Datastream]] = {}
    for entry in project.datastreams:
        index.setdefault(datastream_key(entry.doc.source.stem), entry)
    for entry in project.datastreams:
        index.setdefault(entry.model.id, entry)
    return index


def first_seen(
    items: Iterable[tuple[str, Doc, tuple[str | int, ...]]], code: str, what: str, hint: str, *, verb: str = "used"
) -> Iterator[Diagnostic]:
    """A ``code`` diagnostic for every value after its first, pointing back at the first."""
    first: dict[str, tuple[Doc, tuple[str | int, ...]]] = {}
    for value, doc, path in items:
        if value not in first:
            first[value] = (doc, path)
            continue
        other_doc, other_path = first[value]
        line, col = other_doc.positions.locate(other_path)
        yield doc.diagnostic(
            code, f"{what} '{value}' is already {verb} at {other_doc.relpath}:{line}:{col}", path, hint=hint
        )
