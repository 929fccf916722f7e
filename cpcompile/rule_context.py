"""What the cross-file rules look things up by: the project and the indexes over it that several
rules share, each built on first use. The rules themselves are in rules.py (the config's own)
and governance_rules.py (data governance)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property

from .governance import Labels, Policies
from .model import CatalogAudience, Datastream, Destination, MergePolicy
from .project import Doc, Entry, Project, datastream_index
from .settings import DEFAULT_CATALOG_MAX_AGE_DAYS


@dataclass(frozen=True)
class CatalogItem:
    sandbox: str
    doc: Doc
    path: tuple[str | int, ...]


@dataclass
class Context:
    project: Project
    now: int | None = None  # Unix seconds for the time-dependent rules (CP148); None: freshness_now()
    max_catalog_age_days: int = DEFAULT_CATALOG_MAX_AGE_DAYS
    datastreams: dict[str, Entry[Datastream]] = field(init=False)

    def __post_init__(self) -> None:
        self.datastreams = datastream_index(self.project)

    def datastream_of(self, destination: Entry[Destination]) -> Entry[Datastream] | None:
        return self.datastreams.get(destination.model.datastream)

    @cached_property
    def audiences(self) -> dict[str, tuple[CatalogAudience, CatalogItem]]:
        out: dict[str, tuple[CatalogAudience, CatalogItem]] = {}
        for entry in self.project.catalogs:
            for i, audience in enumerate(entry.model.audiences):
                out.setdefault(audience.id, (audience, CatalogItem(entry.model.sandbox, entry.doc, ("audiences", i))))
        return out

    @cached_property
    def labels(self) -> Labels:
        return Labels(self.project)

    @cached_property
    def policies(self) -> Policies:
        return Policies(self.project)

    @cached_property
    def merge_policies(self) -> dict[tuple[str, str], MergePolicy]:
        return {
            (entry.model.sandbox, policy.id): policy
            for entry in self.project.catalogs
            for policy in entry.model.merge_policies
        }

    @cached_property
    def catalog_sandboxes(self) -> set[str]:
        return {entry.model.sandbox for entry in self.project.catalogs}

    @cached_property
    def without_edge_policy(self) -> dict[str, Doc]:
        """Sandboxes whose catalog lists merge policies but none active on edge, with the first
        catalog file listing them."""
        listed: dict[str, Doc] = {}
        active: set[str] = set()
        for entry in self.project.catalogs:
            if entry.model.merge_policies:
                listed.setdefault(entry.model.sandbox, entry.doc)
            if any(policy.active_on_edge for policy in entry.model.merge_policies):
                active.add(entry.model.sandbox)
        return {sandbox: doc for sandbox, doc in listed.items() if sandbox not in active}

    @cached_property
    def destinations_by_sandbox(self) -> dict[str, list[Entry[Destination]]]:
        out: dict[str, list[Entry[Destination]]] = defaultdict(list)
        for entry in self.project.destinations:
            datastream = self.datastream_of(entry)
            if datastream is not None:
                out[datastream.model.sandbox].append(entry)
        return out
