"""The data governance rules (CP181-CP190): declarations in policies/ and the catalog, and each
destination's audiences against the policies in force. See docs/governance.md."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Collection, Iterable, Iterator

from .diagnostics import Diagnostic, Severity
from .governance import (
    CORE_ACTIONS, EVERY_ACTIVATION, NEVER_MAPPED, ActivePolicy, Finding, Path_, at, chain_text, default_policies,
    describe, did_you_mean, evaluate_destination, expression_labels, lineage_text, sensitive_labels,
)
from .project import Doc, Entry, first_seen
from .rule_context import Context
from .values import ACTION_NAME

if TYPE_CHECKING:
    from .model import Destination


def _label_uses(ctx: Context) -> Iterator[tuple[str, Doc, Path_]]:
    for datastream in ctx.project.datastreams:
        for k, label in enumerate(datastream.model.labels):
            yield label, datastream.doc, ("labels", k)
    for cat in ctx.project.catalogs:
        labelled: list[tuple[str, list[list[str]]]] = [
            ("audiences", [a.labels for a in cat.model.audiences]),
            ("datasets", [d.labels for d in cat.model.datasets]),
            ("fields", [f.labels for f in cat.model.fields]),
        ]
        for kind, lists in labelled:
            for i, labels in enumerate(lists):
                for k, label in enumerate(labels):
                    yield label, cat.doc, (kind, i, "labels", k)
    for entry in ctx.project.policies:
        for i, policy in enumerate(entry.model.policies):
            for label, path in expression_labels(policy.deny, ("policies", i, "deny")):
                yield label, entry.doc, path


def check_custom_labels(ctx: Context) -> Iterator[Diagnostic]:
    if ctx.project.broken_policies:
        return  # the declaration may be in the broken file
    declared = ctx.policies.custom_labels
    for label, doc, path in _label_uses(ctx):
        if label.startswith("custom/") and label not in declared:
            close = did_you_mean(label, {name: "" for name in declared})
            yield doc.diagnostic(
                "CP181", f"custom label '{label}' is not declared in policies/", path,
                hint=f"did you mean '{close}'?" if close else f"declare it in a policies/ file: labels: [{{name: {label}}}]",
            )


def check_policy_actions(ctx: Context) -> Iterator[Diagnostic]:
    """R22: a policy's marketing actions are core actions or declared ones."""
    yield from _unknown_actions(ctx, (
        (action, e.doc, ("policies", i, "marketing_actions", k), "policy")
        for e in ctx.project.policies for i, p in enumerate(e.model.policies)
        for k, action in enumerate(p.marketing_actions) if action != EVERY_ACTIVATION
    ))


def check_destination_actions(ctx: Context, entry: Entry[Destination]) -> Iterator[Diagnostic]:
    """R22: a destination's marketing actions are core actions or declared ones."""
    yield from _unknown_actions(ctx, (
        (action, entry.doc, ("marketing_actions", k), "destination")
        for k, action in enumerate(entry.model.marketing_actions)
    ))


def _unknown_actions(ctx: Context, uses: Iterable[tuple[str, Doc, Path_, str]]) -> Iterator[Diagnostic]:
    if ctx.project.broken_policies:
        return
    known = ctx.policies.actions
    for action, doc, path, what in uses:
        if action in known:
            continue
        close = did_you_mean(action, known)
        declare = (
            f"declare a custom one in policies/: marketing_actions: [{{name: {action}}}]" if ACTION_NAME.fullmatch(action)
            else "a custom action's name is a letter, then letters, digits, _ or -"
        )
        yield doc.diagnostic(
            "CP182", f"unknown marketing action '{action}' (a {what} can only name Adobe's core actions or "
            "custom actions declared in policies/)", path,
            hint=f"did you mean '{close}'?" if close else f"core actions: {', '.join(CORE_ACTIONS)}; {declare}",
        )


def _duplicates(items: Iterable[tuple[str, Doc, Path_]], what: str, hint: str) -> Iterator[Diagnostic]:
    return first_seen(items, "CP184", what, hint, verb="declared")


def _reserved(
    items: Iterable[tuple[str, Doc, Path_]], reserved: Collection[str], what: str, why: str, hint: str
) -> Iterator[Diagnostic]:
    """CP184 for a declaration that takes a name cpcompile already has."""
    for name, doc, path in items:
        if name in reserved:
            yield doc.diagnostic("CP184", f"{what} '{name}' is {why}", path, hint=hint)


def check_governance_duplicates(ctx: Context) -> Iterator[Diagnostic]:
    p = ctx.project
    actions = [(a.name, e.doc, ("marketing_actions", i, "name")) for e in p.policies for i, a in enumerate(e.model.marketing_actions)]
    yield from _duplicates(actions, "marketing action", "declare each custom action once, in one policies/ file")
    yield from _reserved(
        actions, CORE_ACTIONS, "marketing action", "one of Adobe's core actions", "remove the declaration: core actions need none"
    )
    yield from _duplicates(
        ((lb.name, e.doc, ("labels", i, "name")) for e in p.policies for i, lb in enumerate(e.model.labels)),
        "label", "declare each custom label once, in one policies/ file",
    )
    policies = [(pol.name, e.doc, ("policies", i, "name")) for e in p.policies for i, pol in enumerate(e.model.policies)]
    yield from _reserved(
        policies, {policy.name for policy in default_policies()}, "policy", "a default policy",
        "rename it, or change the default's status under default_policies.policies",
    )
    yield from _duplicates(
        policies, "policy", "policy names identify policies in messages and in cpcompile explain; rename one"
    )
    yield from _duplicates(
        (("default_policies", e.doc, ("default_policies",)) for e in p.policies if e.model.default_policies is not None),
        "setting", "set default_policies in one policies/ file only",
    )
    yield from _duplicates(
        ((f"{d.name}' in sandbox '{c.model.sandbox}", c.doc, ("datasets", i, "name"))
         for c in p.catalogs for i, d in enumerate(c.model.datasets)),
        "dataset", "list each dataset once per sandbox",
    )
    yield from _duplicates(
        ((f"{f.path}' in sandbox '{c.model.sandbox}", c.doc, ("fields", i, "path"))
         for c in p.catalogs for i, f in enumerate(c.model.fields)),
        "field", "list each field once per sandbox, with all its labels",
    )


def check_dataset_references(ctx: Context) -> Iterator[Diagnostic]:
    known: dict[str, dict[str, str]] = defaultdict(dict)
    for c in ctx.project.catalogs:
        for d in c.model.datasets:
            known[c.model.sandbox][d.name] = ""
    for c in ctx.project.catalogs:
        sandbox = c.model.sandbox
        if not ctx.project.catalog_is_complete(sandbox):
            continue
        referring: list[tuple[str, list[list[str]]]] = [
            ("audiences", [a.datasets for a in c.model.audiences]),
            ("fields", [f.datasets for f in c.model.fields]),
        ]
        for kind, lists in referring:
            for i, names in enumerate(lists):
                for k, name in enumerate(names):
                    if name not in known[sandbox]:
                        close = did_you_mean(name, known[sandbox])
                        yield c.doc.diagnostic(
                            "CP185", f"dataset '{name}' is not in the catalog of sandbox '{sandbox}'",
                            (kind, i, "datasets", k),
                            hint=f"did you mean '{close}'?" if close else
                            f"list it under datasets (with its labels) in a catalog file of sandbox '{sandbox}'",
                        )


def check_default_policy_names(ctx: Context) -> Iterator[Diagnostic]:
    names = {policy.name: "" for policy in default_policies()}
    for e in ctx.project.policies:
        settings = e.model.default_policies
        for name in settings.policies if settings else ():
            if name not in names:
                close = did_you_mean(name, names, cutoff=0.85)
                yield e.doc.diagnostic(
                    "CP186", f"'{name}' is not a default policy", ("default_policies", "policies", name), key=True,
                    hint=f"did you mean '{close}'?" if close else "default policies: " + "; ".join(names),
                )


def check_policies(ctx: Context, entry: Entry[Destination]) -> Iterator[Diagnostic]:
    """CP187 (enabled) and CP188 (draft): a destination's audiences against the policies on its
    marketing actions, at the audience's mapping, and at each attribute whose label tipped it."""
    if ctx.project.broken_policies:
        return  # default_policies may be in the broken file: the policies in force are not known
    datastream = ctx.datastream_of(entry)
    sandbox = datastream.model.sandbox if datastream else None
    tipped: dict[tuple[int, int], list[Finding]] = defaultdict(list)
    policies: dict[int, ActivePolicy] = {}
    for finding in evaluate_destination(entry, sandbox, ctx.labels, ctx.policies):
        yield _violation(ctx, entry, sandbox, finding)
        for i in finding.tipped_by:
            tipped[(id(finding.policy), i)].append(finding)
            policies[id(finding.policy)] = finding.policy
    for (key, i), findings in tipped.items():
        yield _tipping_attribute(ctx, entry, sandbox, policies[key], i, findings)


def _code(policy: ActivePolicy) -> tuple[str, Severity, str]:
    if policy.status == "enabled":
        return "CP187", Severity.ERROR, "policy"
    return "CP188", Severity.WARNING, "draft policy (not enforced)"


def _violation(ctx: Context, entry: Entry[Destination], sandbox: str | None, finding: Finding) -> Diagnostic:
    mapping = entry.model.audiences[finding.mapping]
    lineage = ctx.labels.audience_lineage(mapping.id)
    if sandbox is not None:
        for attribute_lineage in ctx.labels.attribute_lineage(sandbox, entry).values():
            for label, chains in attribute_lineage.items():
                lineage.setdefault(label, []).extend(chains)
    code, severity, kind = _code(finding.policy)
    policy = finding.policy.policy
    action = "every activation" if finding.action == EVERY_ACTIVATION else f"marketing action {finding.action}"
    outcome = "may not flow to this destination" if severity is Severity.ERROR else (
        "would be refused here once the draft is enabled"
    )
    verb = "denies" if severity is Severity.ERROR else "would deny"
    message = (
        f"{_audience_name(ctx, mapping.id)} {outcome}: {kind} '{policy.name}' "
        f"({finding.policy.where}) {verb} {action} when {describe(policy.deny)}; "
        f"held: {finding.held.branch}, with {lineage_text(lineage, finding.held.labels)}"
    )
    hint = (
        "Unmap the audience, correct the label where it comes from, or remove the marketing action if the "
        f"destination does not do it; `cpcompile explain destination {entry.doc.source.stem}` shows every label in play"
    )
    if severity is Severity.WARNING:
        hint = "Adobe enforces only enabled policies; enabling this one would block the activation. " + hint
    return entry.doc.diagnostic(code, message, ("audiences", finding.mapping, "id"), hint=hint, severity=severity)


def _tipping_attribute(
    ctx: Context, entry: Entry[Destination], sandbox: str | None, policy: ActivePolicy, i: int, findings: list[Finding]
) -> Diagnostic:
    attribute = entry.model.attributes[i]
    lineage = ctx.labels.attribute_lineage(sandbox or "", entry).get(i, {})
    labels = tuple(label for f in findings for label in f.held.labels if label in lineage)
    first = at(entry.doc, ("audiences", findings[0].mapping, "id"))
    count = len(findings)
    code, severity, kind = _code(policy)
    message = (
        f"attribute '{attribute.target}' brings {lineage_text(lineage, labels, drop_last=True)}, which makes {kind} "
        f"'{policy.policy.name}' ({policy.where}) {'deny' if severity is Severity.ERROR else 'would deny'} "
        f"{count} audience{'s' if count > 1 else ''} of this destination (first at {first})"
    )
    return entry.doc.diagnostic(
        code, message, ("attributes", i, "source"), severity=severity,
        hint="unmap the attribute, or correct the field's labels in the catalog",
    )


def _audience_name(ctx: Context, audience_id: str) -> str:
    found = ctx.labels.audiences.get(audience_id)
    return f"audience '{found[1].name}' ({audience_id})" if found else f"audience {audience_id}"


def check_sensitive_datastreams(ctx: Context, entry: Entry[Destination]) -> Iterator[Diagnostic]:
    """R7: no edge destination on a datastream whose schema carries sensitive labels."""
    datastream = ctx.datastream_of(entry)
    found = sensitive_labels(datastream.model) if datastream else []
    if datastream is None or not found:
        return
    where = at(datastream.doc, ("labels", datastream.model.labels.index(found[0])))
    yield entry.doc.diagnostic(
        "CP189",
        f"datastream '{entry.model.datastream}' carries sensitive label{'s' if len(found) > 1 else ''} "
        f"{', '.join(found)} ({where}): Adobe rejects edge destinations, such as this one, on it",
        ("datastream",),
        hint="connect the destination to a datastream whose schema has no sensitive labels",
    )


def check_never_mapped(ctx: Context, entry: Entry[Destination]) -> Iterator[Diagnostic]:
    """R28: a field labelled C12 is never mapped as an attribute."""
    datastream = ctx.datastream_of(entry)
    if datastream is None or not entry.model.attributes:
        return
    for i, lineage in ctx.labels.attribute_lineage(datastream.model.sandbox, entry).items():
        if NEVER_MAPPED in lineage:
            chains = "; and from ".join(chain_text(c[:-1]) for c in lineage[NEVER_MAPPED])
            yield entry.doc.diagnostic(
                "CP190",
                f"attribute '{entry.model.attributes[i].target}' maps a field labelled {NEVER_MAPPED}, which is "
                f"never exported or activated: {NEVER_MAPPED} from {chains}",
                ("attributes", i, "source"),
                hint="unmap the attribute",
            )


# rules of the context (they read no destination), and rules of one destination against it
GOVERNANCE_RULES = (
    check_custom_labels,
    check_policy_actions,
    check_governance_duplicates,
    check_dataset_references,
    check_default_policy_names,
)
GOVERNANCE_DESTINATION_RULES = (
    check_destination_actions,
    check_policies,
    check_sensitive_datastreams,
    check_never_mapped,
)
