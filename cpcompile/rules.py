"""Cross-file rules. Each rule is a small function with a stable code; see docs/rules.md."""

from __future__ import annotations

import difflib
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Iterable, Iterator

from .diagnostics import Diagnostic, Severity
from .model import CatalogAudience, Datastream, MergePolicy, window_instants
from .project import Doc, Entry, Project, datastream_index

WARNING = Severity.WARNING
# Adobe's guardrails (docs/rules.md cites them); exceeding them is allowed but not advised
MAX_DESTINATIONS_PER_SANDBOX = 10
MAX_AUDIENCES_PER_DESTINATION = 250
MAX_ATTRIBUTES_PER_SANDBOX = 30
MAX_EDGE_AUDIENCES_PER_SANDBOX = 150


@dataclass(frozen=True)
class CatalogItem:
    sandbox: str
    doc: Doc
    path: tuple[str | int, ...]


@dataclass
class Context:
    project: Project
    datastreams: dict[str, Entry[Datastream]] = field(init=False)

    def __post_init__(self) -> None:
        self.datastreams = datastream_index(self.project)

    def datastream_of(self, entry_index: int) -> Entry[Datastream] | None:
        return self.datastreams.get(self.project.destinations[entry_index].model.datastream)

    @cached_property
    def audiences(self) -> dict[str, tuple[CatalogAudience, CatalogItem]]:
        out: dict[str, tuple[CatalogAudience, CatalogItem]] = {}
        for entry in self.project.catalogs:
            for i, audience in enumerate(entry.model.audiences):
                out.setdefault(audience.id, (audience, CatalogItem(entry.model.sandbox, entry.doc, ("audiences", i))))
        return out

    @cached_property
    def merge_policies(self) -> dict[tuple[str, str], MergePolicy]:
        return {
            (entry.model.sandbox, policy.id): policy
            for entry in self.project.catalogs
            for policy in entry.model.merge_policies
        }

    @cached_property
    def destinations_by_sandbox(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = defaultdict(list)
        for i in range(len(self.project.destinations)):
            datastream = self.datastream_of(i)
            if datastream is not None:
                out[datastream.model.sandbox].append(i)
        return out


def _first_seen(
    items: Iterable[tuple[str, Doc, tuple[str | int, ...]]], code: str, what: str, hint: str
) -> Iterator[Diagnostic]:
    first: dict[str, tuple[Doc, tuple[str | int, ...]]] = {}
    for value, doc, path in items:
        if value not in first:
            first[value] = (doc, path)
            continue
        other_doc, other_path = first[value]
        line, col = other_doc.positions.locate(other_path)
        yield doc.diagnostic(
            code, f"{what} '{value}' is already used at {other_doc.relpath}:{line}:{col}", path, hint=hint
        )


def check_duplicate_ids(ctx: Context) -> Iterator[Diagnostic]:
    p = ctx.project
    yield from _first_seen(
        ((e.model.id, e.doc, ("id",)) for e in p.datastreams), "CP130", "datastream id",
        "each datastream file must describe a different datastream",
    )
    yield from _first_seen(
        ((e.model.id, e.doc, ("id",)) for e in p.destinations), "CP130", "destination id",
        "each destination file must describe a different destination connection",
    )
    yield from _first_seen(
        ((a.id, e.doc, ("audiences", i, "id")) for e in p.catalogs for i, a in enumerate(e.model.audiences)),
        "CP130", "audience id", "list each audience once in the catalog",
    )
    yield from _first_seen(
        ((m.id, e.doc, ("merge_policies", i, "id")) for e in p.catalogs for i, m in enumerate(e.model.merge_policies)),
        "CP130", "merge policy id", "list each merge policy once in the catalog",
    )


def check_duplicate_datastream_names(ctx: Context) -> Iterator[Diagnostic]:
    yield from _first_seen(
        ((e.doc.source.stem, e.doc, ()) for e in ctx.project.datastreams), "CP137", "datastream file name",
        "destinations name datastreams by file name, so it must be unique; rename one file",
    )


def check_datastream_reference(ctx: Context) -> Iterator[Diagnostic]:
    names = sorted(ctx.datastreams)
    for entry in ctx.project.destinations:
        ref = entry.model.datastream
        datastream = ctx.datastreams.get(ref)
        if datastream is None:
            close = difflib.get_close_matches(ref, names, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else "name a file in datastreams/ (without .yaml) or its id"
            yield entry.doc.diagnostic("CP132", f"unknown datastream '{ref}'", ("datastream",), hint=hint)
            continue
        ds = datastream.model
        if not ds.personalization_destinations:
            yield entry.doc.diagnostic(
                "CP133",
                f"datastream '{ref}' does not have personalization_destinations enabled, so it cannot "
                "return this destination",
                ("datastream",),
                hint=f"set personalization_destinations: true in {datastream.doc.relpath}",
            )
        elif not ds.edge_segmentation:
            yield entry.doc.diagnostic(
                "CP134",
                f"datastream '{ref}' has edge_segmentation off: memberships are not re-evaluated on the "
                "edge, only looked up",
                ("datastream",),
                hint=f"set edge_segmentation: true in {datastream.doc.relpath} for same-page personalization",
                severity=WARNING,
            )


def check_alias_unique_per_datastream(ctx: Context) -> Iterator[Diagnostic]:
    def items() -> Iterator[tuple[str, Doc, tuple[str | int, ...]]]:
        for i, entry in enumerate(ctx.project.destinations):
            datastream = ctx.datastream_of(i)
            if datastream is not None:
                yield f"{entry.model.alias}' on datastream '{datastream.model.id}", entry.doc, ("alias",)

    yield from _first_seen(items(), "CP131", "alias", "pages tell destinations apart by alias; rename one")


def check_windows(ctx: Context) -> Iterator[Diagnostic]:
    for entry in ctx.project.destinations:
        for i, mapping in enumerate(entry.model.audiences):
            start, end = window_instants(mapping.start, mapping.end)
            if start is not None and end is not None and end <= start:
                yield entry.doc.diagnostic(
                    "CP126", f"audience {mapping.id}: end ({mapping.end}) is not after start ({mapping.start})",
                    ("audiences", i, "end"), hint="an end date is inclusive; it must not be before the start",
                )


def check_duplicate_audiences(ctx: Context) -> Iterator[Diagnostic]:
    for entry in ctx.project.destinations:
        yield from _first_seen(
            ((m.id, entry.doc, ("audiences", i, "id")) for i, m in enumerate(entry.model.audiences)),
            "CP135", "audience", "map each audience once per destination; merge the two entries",
        )


def check_attribute_targets(ctx: Context) -> Iterator[Diagnostic]:
    for entry in ctx.project.destinations:
        yield from _first_seen(
            ((a.target, entry.doc, ("attributes", i, "target")) for i, a in enumerate(entry.model.attributes)),
            "CP136", "attribute target", "targets become keys of the response's attributes; make them unique",
        )


def check_catalog_audiences(ctx: Context) -> Iterator[Diagnostic]:
    if not ctx.project.catalogs:
        return
    known = ctx.audiences
    for i, entry in enumerate(ctx.project.destinations):
        datastream = ctx.datastream_of(i)
        sandbox = datastream.model.sandbox if datastream else None
        for j, mapping in enumerate(entry.model.audiences):
            path = ("audiences", j, "id")
            found = known.get(mapping.id)
            if found is None:
                yield entry.doc.diagnostic(
                    "CP140", f"audience {mapping.id} is not in the audience catalog", path,
                    hint="add it to a file in audiences/, or check the id",
                )
                continue
            audience, item = found
            if sandbox is not None and item.sandbox != sandbox:
                yield entry.doc.diagnostic(
                    "CP144",
                    f"audience {mapping.id} belongs to sandbox '{item.sandbox}', but this destination's "
                    f"datastream is in sandbox '{sandbox}'",
                    path,
                    hint="map audiences of the datastream's own sandbox",
                )
            elif audience.merge_policy is not None:
                yield from _check_merge_policy(ctx, entry.doc, path, audience, item)


def _check_merge_policy(
    ctx: Context, doc: Doc, path: tuple[str | int, ...], audience: CatalogAudience, item: CatalogItem
) -> Iterator[Diagnostic]:
    policy = ctx.merge_policies.get((item.sandbox, audience.merge_policy or ""))
    if policy is not None and not policy.active_on_edge:  # an unknown one is CP143's
        yield doc.diagnostic(
            "CP141",
            f"audience {audience.id} uses merge policy '{policy.name}', which is not active on edge: "
            "edge destinations will not evaluate it",
            path,
            hint="assign the audience the sandbox's active-on-edge merge policy, or unmap it",
        )


def check_merge_policy_references(ctx: Context) -> Iterator[Diagnostic]:
    for entry in ctx.project.catalogs:
        sandbox = entry.model.sandbox
        for i, audience in enumerate(entry.model.audiences):
            if audience.merge_policy is not None and (sandbox, audience.merge_policy) not in ctx.merge_policies:
                yield entry.doc.diagnostic(
                    "CP143",
                    f"merge policy {audience.merge_policy} is not in sandbox '{sandbox}''s catalog",
                    ("audiences", i, "merge_policy"),
                    hint="add it under merge_policies of this sandbox, or check the id",
                )


def check_active_on_edge_policies(ctx: Context) -> Iterator[Diagnostic]:
    first: dict[str, tuple[Doc, int, str]] = {}
    for entry in ctx.project.catalogs:
        sandbox = entry.model.sandbox
        for i, policy in enumerate(entry.model.merge_policies):
            if not policy.active_on_edge:
                continue
            if sandbox not in first:
                first[sandbox] = (entry.doc, i, policy.name)
                continue
            doc, j, name = first[sandbox]
            line, col = doc.positions.locate(("merge_policies", j, "active_on_edge"))
            yield entry.doc.diagnostic(
                "CP142",
                f"sandbox '{sandbox}' already has an active-on-edge merge policy, '{name}' "
                f"({doc.relpath}:{line}:{col})",
                ("merge_policies", i, "active_on_edge"),
                hint="a sandbox can have only one active-on-edge merge policy; set active_on_edge: false",
            )


def check_guardrails(ctx: Context) -> Iterator[Diagnostic]:
    destinations = ctx.project.destinations
    for sandbox, indexes in sorted(ctx.destinations_by_sandbox.items()):
        if len(indexes) > MAX_DESTINATIONS_PER_SANDBOX:
            for i in indexes[MAX_DESTINATIONS_PER_SANDBOX:]:
                yield destinations[i].doc.diagnostic(
                    "CP150",
                    f"sandbox '{sandbox}' has {len(indexes)} Custom Personalization destinations; Adobe's "
                    f"guardrail is {MAX_DESTINATIONS_PER_SANDBOX}",
                    hint="consolidate destinations, or confirm the higher count with Adobe",
                    severity=WARNING,
                )
        attributes = [(i, j) for i in indexes for j in range(len(destinations[i].model.attributes))]
        for i, j in attributes[MAX_ATTRIBUTES_PER_SANDBOX:]:
            yield destinations[i].doc.diagnostic(
                "CP152",
                f"sandbox '{sandbox}' maps {len(attributes)} attributes to personalization destinations; "
                f"Adobe enforces at most {MAX_ATTRIBUTES_PER_SANDBOX}",
                ("attributes", j),
                hint="map fewer attributes",
                severity=WARNING,
            )
    for entry in destinations:
        count = len(entry.model.audiences)
        if count > MAX_AUDIENCES_PER_DESTINATION:
            yield entry.doc.diagnostic(
                "CP151",
                f"{count} audiences mapped; Adobe's guardrail is {MAX_AUDIENCES_PER_DESTINATION} per destination",
                ("audiences", MAX_AUDIENCES_PER_DESTINATION),
                hint="split the audiences over several destinations",
                severity=WARNING,
            )
    yield from _edge_audience_guardrail(ctx)


def _edge_audience_guardrail(ctx: Context) -> Iterator[Diagnostic]:
    edge: dict[str, list[tuple[Doc, int]]] = defaultdict(list)
    for entry in ctx.project.catalogs:
        for i, audience in enumerate(entry.model.audiences):
            if audience.evaluation == "edge":
                edge[entry.model.sandbox].append((entry.doc, i))
    for sandbox, items in sorted(edge.items()):
        for doc, i in items[MAX_EDGE_AUDIENCES_PER_SANDBOX:]:
            yield doc.diagnostic(
                "CP153",
                f"sandbox '{sandbox}' has {len(items)} edge audiences; Adobe's guardrail is "
                f"{MAX_EDGE_AUDIENCES_PER_SANDBOX}",
                ("audiences", i, "evaluation"),
                hint="evaluate some audiences by streaming instead",
                severity=WARNING,
            )


RULES: tuple[Callable[[Context], Iterator[Diagnostic]], ...] = (
    check_duplicate_ids,
    check_duplicate_datastream_names,
    check_datastream_reference,
    check_alias_unique_per_datastream,
    check_windows,
    check_duplicate_audiences,
    check_attribute_targets,
    check_catalog_audiences,
    check_merge_policy_references,
    check_active_on_edge_policies,
    check_guardrails,
)


def check_all(project: Project) -> list[Diagnostic]:
    ctx = Context(project)
    return [diagnostic for rule in RULES for diagnostic in rule(ctx)]
