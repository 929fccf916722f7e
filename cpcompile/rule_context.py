"""What the cross-file rules look things up by: the project and the indexes over it that several
rules share, each built on first use. The rules themselves are in rules.py (the config's own)
and governance_rules.py (data governance)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

from .governance import Labels, Policies
from .project import Doc, Entry, Project, datastream_index
from .settings import DEFAULT_CATALOG_MAX_AGE_DAYS

if TYPE_CHECKING:
    from .model import CatalogAudience, Datastream, Destination, MergePolicy

# what a mapping of an audience in its own sandbox can be told besides nothing or a merge policy
UNEVALUATED, NO_MERGE_POLICY = "unevaluated", "no merge policy"


class CatalogItem(NamedTuple):  # one per catalog audience: a tuple is quick to make
    sandbox: str
    doc: Doc
    path: tuple[str | int, ...]


@dataclass(frozen=True)
class DestinationFacts:
    """What the rules across destinations need of one destination (rules.check_across). Small
    and plain, so that an incremental build keeps them for every destination file it does not
    load again (incremental.py)."""

    id: str
    alias: str
    datastream: str | None  # the id of the datastream it names, when that exists
    sandbox: str | None  # that datastream's sandbox
    attributes: int
    # CP146: per sandbox without an active-on-edge merge policy, how many of its audiences this
    # destination maps, and the index of the first such mapping
    unevaluated: tuple[tuple[str, int, int], ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id, "alias": self.alias, "datastream": self.datastream, "sandbox": self.sandbox,
            "attributes": self.attributes, "unevaluated": [list(u) for u in self.unevaluated],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DestinationFacts:
        """Raises KeyError, TypeError or ValueError for anything as_dict did not write."""
        facts = cls(
            str(data["id"]), str(data["alias"]), _optional_text(data["datastream"]),
            _optional_text(data["sandbox"]), int(data["attributes"]),
            tuple((str(sandbox), int(count), int(first)) for sandbox, count, first in data["unevaluated"]),
        )
        if facts.as_dict() != data:
            raise ValueError("not a record of destination facts")
        return facts


def _optional_text(value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError("expected a string or null")
    return value


@dataclass
class Context:
    project: Project
    now: int | None = None  # Unix seconds for the time-dependent rules (CP148); None: freshness_now()
    max_catalog_age_days: int = DEFAULT_CATALOG_MAX_AGE_DAYS
    datastreams: dict[str, Entry[Datastream]] = field(init=False)
    _quiet: dict[str, str | None] = field(init=False, default_factory=dict, repr=False)

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

    def own_sandbox_verdict(self, audience: CatalogAudience, item: CatalogItem) -> MergePolicy | str | None:
        """What a mapping of ``audience`` on a datastream of its own sandbox (or of none) is told:
        nothing (None; also when the sandbox's catalog has a file that failed to load),
        ``UNEVALUATED`` (no merge policy of the sandbox is active on edge: CP146),
        ``NO_MERGE_POLICY`` (CP145), or the merge policy it uses that is not active on edge (CP141;
        an unknown one is CP143's)."""
        if not self.project.catalog_is_complete(item.sandbox):
            return None
        if item.sandbox in self.without_edge_policy:
            return UNEVALUATED
        if audience.merge_policy is None:
            return NO_MERGE_POLICY
        policy = self.merge_policies.get((item.sandbox, audience.merge_policy))
        return policy if policy is not None and not policy.active_on_edge else None

    def quiet_sandbox(self, audience_id: str) -> str | None:
        """The sandbox of an audience that a mapping in its own sandbox says nothing about, else
        None: nearly every mapping of a config is one, so it is decided once per audience."""
        try:
            return self._quiet[audience_id]
        except KeyError:
            found = self.audiences.get(audience_id)
            quiet = found[1].sandbox if found and self.own_sandbox_verdict(*found) is None else None
            self._quiet[audience_id] = quiet
            return quiet
