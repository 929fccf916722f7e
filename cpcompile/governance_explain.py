"""`cpcompile explain destination|audience|policy NAME`: what may flow where, and why, as text
or as data.

Built on the same evaluation as the rules (governance.py), so an explanation never disagrees
with `validate`."""

from __future__ import annotations

from typing import Iterator

from .governance import (
    EVERY_ACTIVATION, NEVER_MAPPED, ActivePolicy, Finding, Labels, Lineage, Policies, at, chain_text, describe,
    evaluate_destination, holds, sensitive_labels,
)
from .model import Datastream, Destination
from .project import Entry, Project, datastream_index

KINDS = ("destination", "audience", "policy")


class NotFound(Exception):
    """NAME names nothing of that kind; the message lists what does."""


def explain(project: Project, kind: str, name: str) -> str:
    labels, policies = Labels(project), Policies(project)
    lines = {"destination": _destination, "audience": _audience, "policy": _policy}[kind](project, labels, policies, name)
    return "\n".join(lines) + "\n"


def _lineage_lines(lineage: Lineage, indent: str) -> Iterator[str]:
    for label in sorted(lineage):
        for chain in lineage[label]:
            yield f"{indent}{label} from {chain_text(chain)}"


def _status(policy: ActivePolicy) -> str:
    return "enabled" if policy.status == "enabled" else "draft, not enforced"


def _find_destination(project: Project, name: str) -> Entry[Destination]:
    for entry in project.destinations:
        if name in (entry.doc.source.stem, entry.model.name, entry.model.alias, entry.model.id):
            return entry
    known = ", ".join(sorted(e.doc.source.stem for e in project.destinations)) or "none"
    raise NotFound(f"no destination '{name}' (by file name, name, alias or id); destinations: {known}")


def _destination(project: Project, labels: Labels, policies: Policies, name: str) -> Iterator[str]:
    entry = _find_destination(project, name)
    datastream = datastream_index(project).get(entry.model.datastream)
    sandbox = datastream.model.sandbox if datastream else None
    actions = entry.model.marketing_actions
    yield f"destination '{entry.model.name}' ({entry.doc.relpath}), datastream '{entry.model.datastream}'" + (
        f", sandbox '{sandbox}'" if sandbox else ""
    )
    yield f"marketing actions: {', '.join(actions) or 'none'}"
    sensitive = datastream is not None and bool(sensitive_labels(datastream.model))
    for reason in _blocked(entry, datastream, labels):
        yield f"blocked: {reason}"
    applicable = policies.applicable(actions)
    yield "policies on them:" if applicable else "policies on them: none, so no label restricts this destination"
    for policy in applicable:
        on = ", ".join(policy.actions_for(actions)).replace(EVERY_ACTIVATION, "every activation")
        yield f"  '{policy.policy.name}' ({_status(policy)}; {policy.where}): on {on}, denies {describe(policy.policy.deny)}"
    attributes = labels.attribute_lineage(sandbox, entry) if sandbox else {}
    if attributes:
        yield "labels the mapped attributes bring to every audience:"
        for lineage in attributes.values():
            yield from _lineage_lines(lineage, "  ")
    findings: dict[int, list[str]] = {}
    for f in evaluate_destination(entry, sandbox, labels, policies):
        verdict = "denied" if f.policy.status == "enabled" else "would be denied (draft)"
        findings.setdefault(f.mapping, []).append(f"{verdict} by '{f.policy.policy.name}': {f.held.branch} held")
    yield "audiences:"
    for j, mapping in enumerate(entry.model.audiences):
        found = labels.audiences.get(mapping.id)
        title = f"'{found[1].name}' ({mapping.id})" if found else f"{mapping.id} (not in the catalog: no labels known)"
        verdicts = findings.get(j, ["may not flow (sensitive datastream, above)" if sensitive else "may flow"])
        yield f"  {title} at {at(entry.doc, ('audiences', j, 'id'))}: {'; '.join(verdicts)}"
        yield from _lineage_lines(labels.audience_lineage(mapping.id), "    ")


def _blocked(entry: Entry[Destination], datastream: Entry[Datastream] | None, labels: Labels) -> list[str]:
    """What refuses the destination, or one of its attributes, whatever the policies (CP189, CP190)."""
    out = []
    if datastream is not None and (found := sensitive_labels(datastream.model)):
        out.append(
            f"its datastream carries sensitive label{'s' if len(found) > 1 else ''} {', '.join(found)} "
            f"({datastream.doc.relpath}): no edge destination may use it (CP189)"
        )
    if datastream is not None:
        for i, lineage in labels.attribute_lineage(datastream.model.sandbox, entry).items():
            if NEVER_MAPPED in lineage:
                out.append(f"attribute '{entry.model.attributes[i].target}' maps a {NEVER_MAPPED} field, never activated (CP190)")
    return out


def _audience(project: Project, labels: Labels, policies: Policies, name: str) -> Iterator[str]:
    matches = [i for i, (_, a, _) in labels.audiences.items() if name in (i, a.name)]
    if not matches:
        raise NotFound(f"no audience '{name}' in the catalog (by id or name)")
    audience_id = matches[0]
    _, audience, source = labels.audiences[audience_id]
    yield f"audience '{audience.name}' ({audience_id}, {at(source.doc, source.path)})"
    lineage = labels.audience_lineage(audience_id)
    yield "labels:" if lineage else "labels: none"
    yield from _lineage_lines(lineage, "  ")
    own = frozenset(lineage)
    denied = [(p, h) for p in policies.active if (h := holds(p.policy.deny, own)) is not None]
    yield "its own labels are denied for:" if denied else "its own labels are denied for: nothing"
    for policy, held in denied:
        on = ", ".join(policy.policy.marketing_actions).replace(EVERY_ACTIVATION, "every activation")
        yield f"  {on} by '{policy.policy.name}' ({_status(policy)}): {held.branch} held"
    yield "mapped by:"
    index = datastream_index(project)
    for entry in project.destinations:
        for j, mapping in enumerate(entry.model.audiences):
            if mapping.id != audience_id:
                continue
            datastream = index.get(entry.model.datastream)
            found = [
                f for f in evaluate_destination(entry, datastream.model.sandbox if datastream else None, labels, policies)
                if f.mapping == j
            ]
            verdict = "; ".join(
                f"{'denied' if f.policy.status == 'enabled' else 'would be denied (draft)'} by "
                f"'{f.policy.policy.name}' on {f.action}" for f in found
            ) or "may flow"
            yield f"  destination '{entry.model.name}' at {at(entry.doc, ('audiences', j, 'id'))}: {verdict}"


def _policy(project: Project, labels: Labels, policies: Policies, name: str) -> Iterator[str]:
    policy = policies.find(name)
    if policy is None:
        known = "; ".join(p.policy.name for p in policies.active)
        raise NotFound(f"no policy '{name}' in force (defaults that are off are not listed); policies: {known}")
    p = policy.policy
    yield f"policy '{p.name}' ({_status(policy)}; {policy.where})"
    if p.description:
        yield f"  {p.description}"
    on = ", ".join(p.marketing_actions).replace(EVERY_ACTIVATION, "every activation")
    yield f"on: {on}"
    yield f"denies: {describe(p.deny)}"
    yield "blocks:" if policy.status == "enabled" else "would block, once enabled:"
    index = datastream_index(project)
    count = 0
    for entry in project.destinations:
        datastream = index.get(entry.model.datastream)
        for f in evaluate_destination(entry, datastream.model.sandbox if datastream else None, labels, policies):
            if f.policy is policy:
                count += 1
                audience_id = entry.model.audiences[f.mapping].id
                yield f"  audience {audience_id} to destination '{entry.model.name}' " \
                      f"({at(entry.doc, ('audiences', f.mapping, 'id'))}): {f.held.branch} held"
    if not count:
        yield "  nothing in this config"


# The same answers as data (`cpcompile explain --format json`): the lineage of every label as a
# list of chains, each chain a list of {what, at} from the nearest source outwards.
def explain_data(project: Project, kind: str, name: str) -> dict[str, object]:
    labels, policies = Labels(project), Policies(project)
    builders = {"destination": _destination_data, "audience": _audience_data, "policy": _policy_data}
    return {"kind": kind, **builders[kind](project, labels, policies, name)}


def _lineage_data(lineage: Lineage) -> dict[str, list[list[dict[str, str]]]]:
    return {
        label: [[{"what": s.what, "at": at(s.doc, s.path)} for s in chain] for chain in chains]
        for label, chains in sorted(lineage.items())
    }


def _policy_summary(policy: ActivePolicy) -> dict[str, object]:
    p = policy.policy
    return {
        "name": p.name, "status": policy.status, "default": policy.default, "where": policy.where,
        "marketing_actions": list(p.marketing_actions), "deny": describe(p.deny),
    }


def _verdict(f: Finding) -> dict[str, object]:
    return {
        "policy": f.policy.policy.name, "status": f.policy.status, "action": f.action,
        "held": f.held.branch, "labels": list(dict.fromkeys(f.held.labels)),
    }


def _destination_data(project: Project, labels: Labels, policies: Policies, name: str) -> dict[str, object]:
    entry = _find_destination(project, name)
    datastream = datastream_index(project).get(entry.model.datastream)
    sandbox = datastream.model.sandbox if datastream else None
    by_mapping: dict[int, list[dict[str, object]]] = {}
    for f in evaluate_destination(entry, sandbox, labels, policies):
        by_mapping.setdefault(f.mapping, []).append(_verdict(f))
    attributes = labels.attribute_lineage(sandbox, entry) if sandbox else {}
    return {
        "name": entry.model.name, "file": entry.doc.relpath, "datastream": entry.model.datastream, "sandbox": sandbox,
        "marketing_actions": list(entry.model.marketing_actions),
        "blocked": _blocked(entry, datastream, labels),
        "policies": [_policy_summary(p) for p in policies.applicable(entry.model.marketing_actions)],
        "attributes": [
            {"target": entry.model.attributes[i].target, "labels": _lineage_data(lineage)}
            for i, lineage in attributes.items()
        ],
        "audiences": [
            {
                "id": m.id, "name": labels.audiences[m.id][1].name if m.id in labels.audiences else None,
                "at": at(entry.doc, ("audiences", j, "id")), "labels": _lineage_data(labels.audience_lineage(m.id)),
                "verdicts": by_mapping.get(j, []),
            }
            for j, m in enumerate(entry.model.audiences)
        ],
    }


def _audience_data(project: Project, labels: Labels, policies: Policies, name: str) -> dict[str, object]:
    matches = [i for i, (_, a, _) in labels.audiences.items() if name in (i, a.name)]
    if not matches:
        raise NotFound(f"no audience '{name}' in the catalog (by id or name)")
    audience_id = matches[0]
    _, audience, source = labels.audiences[audience_id]
    lineage = labels.audience_lineage(audience_id)
    own = frozenset(lineage)
    index = datastream_index(project)
    mapped = []
    for entry in project.destinations:
        datastream = index.get(entry.model.datastream)
        findings = list(evaluate_destination(entry, datastream.model.sandbox if datastream else None, labels, policies))
        for j, m in enumerate(entry.model.audiences):
            if m.id == audience_id:
                mapped.append({
                    "destination": entry.model.name, "at": at(entry.doc, ("audiences", j, "id")),
                    "verdicts": [_verdict(f) for f in findings if f.mapping == j],
                })
    return {
        "id": audience_id, "name": audience.name, "at": at(source.doc, source.path), "labels": _lineage_data(lineage),
        "denied_for": [
            {**_policy_summary(p), "held": h.branch}
            for p in policies.active if (h := holds(p.policy.deny, own)) is not None
        ],
        "mapped_by": mapped,
    }


def _policy_data(project: Project, labels: Labels, policies: Policies, name: str) -> dict[str, object]:
    policy = policies.find(name)
    if policy is None:
        known = "; ".join(p.policy.name for p in policies.active)
        raise NotFound(f"no policy '{name}' in force (defaults that are off are not listed); policies: {known}")
    index = datastream_index(project)
    blocks = []
    for entry in project.destinations:
        datastream = index.get(entry.model.datastream)
        for f in evaluate_destination(entry, datastream.model.sandbox if datastream else None, labels, policies):
            if f.policy is policy:
                blocks.append({
                    "destination": entry.model.name, "audience": entry.model.audiences[f.mapping].id,
                    "at": at(entry.doc, ("audiences", f.mapping, "id")), "action": f.action, "held": f.held.branch,
                })
    return {**_policy_summary(policy), "description": policy.policy.description, "blocks": blocks}
