"""Data governance: data usage labels, marketing actions and policies, evaluated for each
destination and each audience it maps, with the lineage of every label (docs/governance.md).

Pure: takes the loaded project, gives back data. ``governance_rules.py`` turns the findings into
diagnostics (CP181-CP190), ``governance_explain.py`` into ``cpcompile explain`` answers.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cache, cached_property
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, NamedTuple

from . import yamlsrc
from .load import check_model
from .project import Doc, Entry, Project

if TYPE_CHECKING:
    from .model import CatalogAudience, Datastream, Destination, Expression, Policy

# Adobe's core marketing actions [POL], by identifier. Only `exportToThirdParty` is documented
# as an identifier [MAAPI]; the others are derived the same way from their display names
# (camelCase of the words), see docs/governance.md.
CORE_ACTIONS: dict[str, str] = {
    "analytics": "Analytics",
    "combineWithDirectlyIdentifiableData": "Combine with directly identifiable data",
    "crossSiteTargeting": "Cross Site Targeting",
    "dataScience": "Data Science",
    "emailTargeting": "Email Targeting",
    "exportToThirdParty": "Export to Third Party",
    "onsiteAdvertising": "Onsite Advertising",
    "onsitePersonalization": "Onsite Personalization",
    "segmentMatch": "Segment Match",
    "singleIdentityPersonalization": "Single Identity Personalization",
}
EVERY_ACTIVATION = "*"  # a policy on every activation, whatever the destination's marketing actions
# R7 names RHD and S1; PSPD and S2 are the other sensitive labels of [LBL] (derived, see docs)
SENSITIVE_LABELS = ("PSPD", "RHD", "S1", "S2")
PDG_LABEL = "C10"  # R12: audiences of a private-graph merge policy carry it
NEVER_MAPPED = "C12"  # R28: a field labelled C12 is never mapped as an attribute
DEFAULT_POLICIES = "cpcompile/data/default_policies.yaml"

Path_ = tuple[str | int, ...]


def at(doc: Doc, path: Path_) -> str:
    line, col = doc.positions.locate(path)
    return f"{doc.relpath}:{line}:{col}"


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one object per policy in force
class ActivePolicy:
    """A policy as it applies to this config: its status after default_policies, and where it is."""

    policy: Policy
    status: str  # enabled | draft
    default: bool
    doc: Doc | None = None  # None for a default policy
    path: Path_ = ()

    @property
    def where(self) -> str:
        return f"default policy, {DEFAULT_POLICIES}" if self.doc is None else at(self.doc, self.path)

    def actions_for(self, destination_actions: list[str]) -> list[str]:
        if EVERY_ACTIVATION in self.policy.marketing_actions:
            return [EVERY_ACTIVATION]
        return [a for a in destination_actions if a in self.policy.marketing_actions]


@dataclass(frozen=True)
class Held:
    labels: tuple[str, ...]  # the labels that made the expression true
    branch: str  # the part of the expression that held, as text


def describe(expr: Expression) -> str:
    if expr.label is not None:
        return expr.label
    parts = [describe(e) if e.label is not None or len(e.operands or ()) < 2 else f"({describe(e)})" for e in expr.operands or ()]
    return f" {expr.operator} ".join(parts)


def holds(expr: Expression, labels: frozenset[str]) -> Held | None:
    """Whether ``deny`` holds for these labels, and which branch of it: labels are compared as
    written (case-sensitive, as Adobe evaluates them [EVAL])."""
    if expr.label is not None:
        return Held((expr.label,), expr.label) if expr.label in labels else None
    operands = expr.operands or []
    if expr.operator == "OR":
        return next((found for e in operands if (found := holds(e, labels)) is not None), None)
    held: list[Held] = []
    for e in operands:
        one = holds(e, labels)
        if one is None:
            return None
        held.append(one)
    if len(held) == 1:
        return held[0]
    return Held(tuple(label for f in held for label in f.labels), "(" + " AND ".join(f.branch for f in held) + ")")


def expression_labels(expr: Expression, path: Path_) -> Iterator[tuple[str, Path_]]:
    if expr.label is not None:
        yield expr.label, (*path, "label")
    for i, operand in enumerate(expr.operands or ()):
        yield from expression_labels(operand, (*path, "operands", i))


@cache
def default_policies() -> tuple[Policy, ...]:
    # read beside this module, as quick.py reads its table (importlib.resources costs a validation ~5 ms)
    text = (Path(__file__).with_name("data") / "default_policies.yaml").read_text(encoding="utf-8")
    data = yamlsrc.parse(text)
    return tuple(check_model("Policy", p) for p in data["policies"])


def did_you_mean(value: str, known: dict[str, str], cutoff: float = 0.6) -> str | None:
    """The closest of ``known`` (name -> other spelling, such as a display name), case-insensitively."""
    by_lower = {name.lower(): name for name in known}
    by_lower.update({other.lower(): name for name, other in known.items() if other})
    close = difflib.get_close_matches(value.lower(), list(by_lower), n=1, cutoff=cutoff)
    return by_lower[close[0]] if close else None


class Source(NamedTuple):  # one per catalog audience, field and dataset: a tuple is quick to make
    """One labelled thing an audience or attribute draws labels from."""

    what: str  # "audience 'X'", "dataset 'crm'", ...
    doc: Doc
    path: Path_

    def text(self) -> str:
        return f"{self.what} ({at(self.doc, self.path)})"


Lineage = dict[str, list[tuple[Source, ...]]]  # label -> chains, nearest source first


class Labels:
    """Labels of catalog audiences and fields, per sandbox, with where each came from."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.datasets: dict[tuple[str, str], tuple[list[str], Source]] = {}
        self.fields: dict[tuple[str, str], tuple[list[str], list[str], Source]] = {}
        self.pdg: dict[tuple[str, str], Source] = {}
        for entry in project.catalogs:
            sandbox, doc = entry.model.sandbox, entry.doc
            for i, d in enumerate(entry.model.datasets):
                self.datasets.setdefault((sandbox, d.name), (d.labels, Source(f"dataset '{d.name}'", doc, ("datasets", i))))
            for i, f in enumerate(entry.model.fields):
                self.fields.setdefault(
                    (sandbox, f.path), (f.labels, f.datasets, Source(f"field {f.path}", doc, ("fields", i, "path")))
                )
            for i, m in enumerate(entry.model.merge_policies):
                if m.identity_graph == "pdg":
                    self.pdg.setdefault(
                        (sandbox, m.id), Source(f"merge policy '{m.name}' (identity_graph: pdg)", doc, ("merge_policies", i))
                    )

    @cached_property
    def audiences(self) -> dict[str, tuple[str, CatalogAudience, Source]]:
        """Each catalog audience (the first listed of an id), with its sandbox and where it is."""
        out: dict[str, tuple[str, CatalogAudience, Source]] = {}
        for entry in self.project.catalogs:
            sandbox, doc = entry.model.sandbox, entry.doc
            for i, a in enumerate(entry.model.audiences):
                out.setdefault(a.id, (sandbox, a, Source(f"audience '{a.name}'", doc, ("audiences", i))))
        return out

    def audience_lineage(self, audience_id: str) -> Lineage:
        found = self.audiences.get(audience_id)
        if found is None:
            return {}
        sandbox, audience, source = found
        out: Lineage = {}
        for k, label in enumerate(audience.labels):
            out.setdefault(label, []).append((Source(source.what, source.doc, (*source.path, "labels", k)),))
        for name in audience.datasets:
            dataset = self.datasets.get((sandbox, name))
            if dataset is not None:
                for label in dataset[0]:
                    out.setdefault(label, []).append((dataset[1], source))
        policy = self.pdg.get((sandbox, audience.merge_policy or ""))
        if policy is not None:
            out.setdefault(PDG_LABEL, []).append((policy, source))
        return out

    @cached_property
    def audience_sets(self) -> dict[str, frozenset[str]]:
        """Each labelled audience's labels (an audience without any is not listed): the labels
        of ``audience_lineage``, without building the lineage of every audience."""
        out: dict[str, frozenset[str]] = {}
        seen: set[str] = set()
        for entry in self.project.catalogs:
            sandbox = entry.model.sandbox
            for audience in entry.model.audiences:
                if audience.id in seen:
                    continue  # the first listed counts, as in ``audiences``
                seen.add(audience.id)
                if audience.labels or audience.datasets or self.pdg:
                    labels = self._own_labels(sandbox, audience)
                    if labels:
                        out[audience.id] = labels
        return out

    def _own_labels(self, sandbox: str, audience: CatalogAudience) -> frozenset[str]:
        labels = set(audience.labels)
        for name in audience.datasets:
            dataset = self.datasets.get((sandbox, name))
            if dataset is not None:
                labels.update(dataset[0])
        if (sandbox, audience.merge_policy or "") in self.pdg:
            labels.add(PDG_LABEL)
        return frozenset(labels)

    def field_lineage(self, sandbox: str, path: str) -> Lineage:
        found = self.fields.get((sandbox, path))
        if found is None:
            return {}
        labels, datasets, source = found
        out: Lineage = {}
        for label in labels:
            out.setdefault(label, []).append((source,))
        for name in datasets:
            dataset = self.datasets.get((sandbox, name))
            if dataset is not None:
                for label in dataset[0]:
                    out.setdefault(label, []).append((dataset[1], source))
        return out

    def attribute_lineage(self, sandbox: str, entry: Entry[Destination]) -> dict[int, Lineage]:
        """Lineage of each mapped attribute that has labels, by its index."""
        out = {}
        for i, attribute in enumerate(entry.model.attributes):
            lineage = self.field_lineage(sandbox, attribute.source)
            if lineage:
                mapped = Source(f"attribute '{attribute.target}'", entry.doc, ("attributes", i, "source"))
                out[i] = {label: [(*chain, mapped) for chain in chains] for label, chains in lineage.items()}
        return out


def chain_text(chain: tuple[Source, ...]) -> str:
    return " <- ".join(source.text() for source in chain)


def lineage_text(lineage: Lineage, labels: tuple[str, ...], *, drop_last: bool = False) -> str:
    parts = []
    for label in dict.fromkeys(labels):
        chains = lineage.get(label, [])
        parts.append(f"{label} from " + "; and from ".join(chain_text(c[:-1] if drop_last else c) for c in chains))
    return "; ".join(parts)


class Policies:
    """The marketing actions, custom labels and policies in force: the defaults after
    default_policies, then the config's own."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.actions: dict[str, str] = dict(CORE_ACTIONS)  # name -> display name or description
        self.custom_labels: dict[str, Source] = {}
        self._applicable: dict[tuple[str, ...], tuple[ActivePolicy, ...]] = {}
        self._denied_alone: dict[tuple[ActivePolicy, ...], frozenset[str]] = {}
        self._verdicts: dict[
            tuple[tuple[ActivePolicy, ...], frozenset[str], frozenset[str]], list[tuple[ActivePolicy, Held, frozenset[str]]]
        ] = {}
        for entry in project.policies:
            for action in entry.model.marketing_actions:
                self.actions.setdefault(action.name, action.description or "")
            for i, label in enumerate(entry.model.labels):
                self.custom_labels.setdefault(label.name, Source(f"label {label.name}", entry.doc, ("labels", i)))

    @cached_property
    def default_settings(self) -> tuple[str, dict[str, str]]:
        for entry in self.project.policies:
            settings = entry.model.default_policies
            if settings is not None:
                return settings.status, dict(settings.policies)
        return "enabled", {}

    @cached_property
    def active(self) -> list[ActivePolicy]:
        status, single = self.default_settings
        out = []
        for policy in default_policies():
            chosen = single.get(policy.name, status)
            if chosen != "off":
                out.append(ActivePolicy(policy, chosen, True))
        for entry in self.project.policies:
            for i, policy in enumerate(entry.model.policies):
                out.append(ActivePolicy(policy, policy.status, False, entry.doc, ("policies", i)))
        return out

    def applicable(self, destination_actions: list[str]) -> tuple[ActivePolicy, ...]:
        key = tuple(destination_actions)
        found = self._applicable.get(key)
        if found is None:
            found = self._applicable[key] = tuple(p for p in self.active if p.actions_for(destination_actions))
        return found

    def verdicts(
        self, applicable: tuple[ActivePolicy, ...], own: frozenset[str], attribute_labels: frozenset[str]
    ) -> list[tuple[ActivePolicy, Held, frozenset[str]]]:
        """The policies of ``applicable`` whose deny holds on ``own`` ∪ ``attribute_labels``, each
        with the labels it needs from the attributes (empty when ``own`` alone holds it).
        Memoised: audiences share few distinct label sets, so a large config evaluates few."""
        key = (applicable, own, attribute_labels)
        found = self._verdicts.get(key)
        if found is None:
            found = self._verdicts[key] = []
            in_play = own | attribute_labels
            for policy in applicable:
                held = holds(policy.policy.deny, in_play)
                if held is not None:
                    alone = holds(policy.policy.deny, own) is not None
                    found.append((policy, held, frozenset() if alone else frozenset(held.labels) - own))
        return found

    def denied_alone(self, applicable: tuple[ActivePolicy, ...], audience_sets: dict[str, frozenset[str]]) -> frozenset[str]:
        """The audiences (of ``audience_sets``) whose own labels a policy of ``applicable``
        denies; memoised per ``applicable``, of which a config has a few."""
        found = self._denied_alone.get(applicable)
        if found is None:
            nothing: frozenset[str] = frozenset()
            found = self._denied_alone[applicable] = frozenset(
                audience for audience, own in audience_sets.items() if self.verdicts(applicable, own, nothing)
            )
        return found

    def find(self, name: str) -> ActivePolicy | None:
        return next((p for p in self.active if p.policy.name == name), None)


@dataclass(frozen=True)
class Finding:
    """An audience of a destination that a policy denies (or would, for a draft)."""

    policy: ActivePolicy
    action: str
    held: Held
    mapping: int  # index in the destination's audiences
    tipped_by: tuple[int, ...]  # attribute indexes whose labels the violation needs


def evaluate_destination(
    entry: Entry[Destination], sandbox: str | None, labels: Labels, policies: Policies
) -> Iterator[Finding]:
    """Every (audience, policy) of the destination whose ``deny`` holds. Labels in play are the
    audience's own ∪ the mapped attributes' (C12 attributes excepted: CP190 refuses them). AND
    is evaluated per audience, never across audiences [ENF]."""
    applicable = policies.applicable(entry.model.marketing_actions)
    if not applicable:
        return
    attributes = labels.attribute_lineage(sandbox, entry) if sandbox is not None else {}
    by_attribute = {i: frozenset(l for l in lineage if l != NEVER_MAPPED) for i, lineage in attributes.items()}
    attribute_labels = frozenset().union(*by_attribute.values())
    audience_sets = labels.audience_sets
    empty: frozenset[str] = frozenset()
    # without attribute labels, only audiences whose own labels a policy denies are found: in a
    # config that passes, none, and most destinations need no walk of their audiences
    denied = policies.denied_alone(applicable, audience_sets) if not attribute_labels else None
    if denied is not None and denied.isdisjoint(map(_mapping_id, entry.model.audiences)):
        return
    for j, mapping in enumerate(entry.model.audiences):
        own = audience_sets.get(mapping.id, empty)
        if not own and not attribute_labels:
            continue
        for policy, held, extra in policies.verdicts(applicable, own, attribute_labels):
            tipped = tuple(i for i, found in by_attribute.items() if found & extra) if extra else ()
            action = policy.actions_for(entry.model.marketing_actions)[0]
            yield Finding(policy, action, held, j, tipped)


_mapping_id = attrgetter("id")


def sensitive_labels(datastream: Datastream) -> list[str]:
    return [label for label in datastream.labels if label in SENSITIVE_LABELS]
