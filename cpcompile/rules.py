"""Cross-file rules. Each rule is a small function with a stable code; see docs/rules.md."""

from __future__ import annotations

import difflib
from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

from .compiler import DEFAULT_NAMESPACE
from .diagnostics import Diagnostic, Severity
from .freshness import freshness_now
from .governance_rules import GOVERNANCE_DESTINATION_RULES, GOVERNANCE_RULES
from .settings import DEFAULT_CATALOG_MAX_AGE_DAYS
from .project import Doc, Entry, Project, first_seen
from .rule_context import NO_MERGE_POLICY, UNEVALUATED, Context, DestinationFacts
from .values import window_bounds

if TYPE_CHECKING:
    from .model import Destination, MergePolicy

# The rules come in three kinds, so that a build can check again only what a changed file
# affects (incremental.py): rules of the context (every file but the destinations), rules of one
# destination against the context, and rules across destinations, which read only each one's
# DestinationFacts. check_all runs the three; docs/build.md says how a build reuses them.
Placed = tuple[DestinationFacts, Doc]

WARNING = Severity.WARNING
# Adobe's guardrails (docs/rules.md cites them); exceeding them is allowed but not advised, except
# the attributes per sandbox, which Adobe enforces
MAX_DESTINATIONS_PER_SANDBOX = 10
MAX_AUDIENCES_PER_DESTINATION = 250
MAX_ATTRIBUTES_PER_SANDBOX = 30
MAX_EDGE_AUDIENCES_PER_SANDBOX = 150
MAX_STREAMING_AUDIENCES_PER_SANDBOX = 500  # edge audiences count as streaming too
MAX_AUDIENCES_PER_SANDBOX = 4000
MAX_DATASET_ORDER = 50
UPLOAD_NAMESPACE = "CustomerAudienceUpload"


def check_duplicate_ids(ctx: Context) -> Iterator[Diagnostic]:
    p = ctx.project
    yield from first_seen(
        ((e.model.id, e.doc, ("id",)) for e in p.datastreams), "CP130", "datastream id",
        "each datastream file must describe a different datastream",
    )
    yield from first_seen(
        ((a.id, e.doc, ("audiences", i, "id")) for e in p.catalogs for i, a in enumerate(e.model.audiences)),
        "CP130", "audience id", "list each audience once in the catalog",
    )
    yield from first_seen(
        ((m.id, e.doc, ("merge_policies", i, "id")) for e in p.catalogs for i, m in enumerate(e.model.merge_policies)),
        "CP130", "merge policy id",
        "remove the copy: a merge policy is listed once, in one catalog file of its sandbox "
        "(if these are two different policies, correct one id)",
    )


def check_duplicate_destination_ids(ctx: Context, placed: Sequence[Placed]) -> Iterator[Diagnostic]:
    yield from first_seen(
        ((facts.id, doc, ("id",)) for facts, doc in placed), "CP130", "destination id",
        "each destination file must describe a different destination connection",
    )


def check_duplicate_datastream_names(ctx: Context) -> Iterator[Diagnostic]:
    yield from first_seen(
        ((e.doc.source.stem, e.doc, ()) for e in ctx.project.datastreams), "CP137", "datastream file name",
        "destinations name datastreams by file name, so it must be unique; rename one file",
    )


def check_datastream_reference(ctx: Context, entry: Entry[Destination]) -> Iterator[Diagnostic]:
    ref = entry.model.datastream
    datastream = ctx.datastreams.get(ref)
    if datastream is None:
        close = difflib.get_close_matches(ref, sorted(ctx.datastreams), n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else "name a file in datastreams/ (without .yaml) or its id"
        yield entry.doc.diagnostic("CP132", f"unknown datastream '{ref}'", ("datastream",), hint=hint)
    elif not datastream.model.personalization_destinations:
        yield entry.doc.diagnostic(
            "CP133",
            f"datastream '{ref}' does not have personalization_destinations enabled, so it cannot "
            "return this destination",
            ("datastream",),
            hint=f"set personalization_destinations: true in {datastream.doc.relpath}",
        )


def check_edge_segmentation(ctx: Context, entry: Entry[Destination]) -> Iterator[Diagnostic]:
    """CP134 where it matters: a destination maps an audience that the catalog says is evaluated
    on edge, on a datastream without edge segmentation. A lookup-only setup is not warned."""
    datastream = ctx.datastream_of(entry)
    if datastream is None or datastream.model.edge_segmentation:
        return
    if not datastream.model.personalization_destinations:
        return  # CP133
    edge = [j for j, m in enumerate(entry.model.audiences) if _evaluation(ctx, m.id) == "edge"]
    if not edge:
        return
    others = len({entry.model.audiences[j].id for j in edge}) - 1
    more = f" ({others} more edge audience{'s' if others > 1 else ''} in this destination)" if others else ""
    yield entry.doc.diagnostic(
        "CP134",
        f"audience {entry.model.audiences[edge[0]].id} is evaluated on edge (catalog), but datastream "
        f"'{entry.model.datastream}' has edge_segmentation off: its membership is only looked up, not "
        f"re-evaluated during the request{more}",
        ("audiences", edge[0], "id"),
        hint=f"set edge_segmentation: true in {datastream.doc.relpath} for same-page personalization",
        severity=WARNING,
    )


def _evaluation(ctx: Context, audience_id: str) -> str | None:
    found = ctx.audiences.get(audience_id)
    return found[0].evaluation if found else None


def check_datastream_services(ctx: Context) -> Iterator[Diagnostic]:
    for entry in ctx.project.datastreams:
        if entry.model.ajo and not entry.model.edge_segmentation:
            yield entry.doc.diagnostic(
                "CP138",
                "ajo is on but edge_segmentation is off: Adobe Journey Optimizer needs Edge Segmentation "
                "on the datastream (Adobe greys the setting out without it)",
                ("ajo",),
                hint="set edge_segmentation: true, or ajo: false",
            )


def check_alias_unique_per_datastream(ctx: Context, placed: Sequence[Placed]) -> Iterator[Diagnostic]:
    items = (
        (f"{facts.alias}' on datastream '{facts.datastream}", doc, ("alias",))
        for facts, doc in placed if facts.datastream is not None
    )
    yield from first_seen(items, "CP131", "alias", "pages tell destinations apart by alias; rename one")


def check_windows(ctx: Context, entry: Entry[Destination]) -> Iterator[Diagnostic]:
    for i, mapping in enumerate(entry.model.audiences):
        if mapping.start is None or mapping.end is None:
            continue
        start, end = window_bounds(mapping.start, mapping.end)
        if start is not None and end is not None and end <= start:
            yield entry.doc.diagnostic(
                "CP126", f"audience {mapping.id}: end ({mapping.end}) is not after start ({mapping.start})",
                ("audiences", i, "end"), hint="an end date is inclusive; it must not be before the start",
            )


def check_duplicate_audiences(ctx: Context, entry: Entry[Destination]) -> Iterator[Diagnostic]:
    audiences = entry.model.audiences
    if len({m.id for m in audiences}) == len(audiences):
        return
    yield from first_seen(
        ((m.id, entry.doc, ("audiences", i, "id")) for i, m in enumerate(audiences)),
        "CP135", "audience", "map each audience once per destination; merge the two entries",
    )


def check_attribute_targets(ctx: Context, entry: Entry[Destination]) -> Iterator[Diagnostic]:
    yield from first_seen(
        ((a.target, entry.doc, ("attributes", i, "target")) for i, a in enumerate(entry.model.attributes)),
        "CP136", "attribute target", "targets become keys of the response's attributes; make them unique",
    )


def check_catalog_audiences(ctx: Context, entry: Entry[Destination]) -> tuple[list[Diagnostic], list[tuple[str, int]]]:
    """Each mapped audience against the catalog: it exists (CP140, or CP147 without a catalog for
    its sandbox), in the datastream's sandbox (CP144), on a merge policy Adobe evaluates on edge
    (CP141, CP145). Nothing is said of a sandbox whose catalog has a file that failed to load:
    the answer could be in that file. Also returns the mappings (sandbox, index) of audiences no
    merge policy evaluates on edge, which CP146 counts across destinations."""
    out: list[Diagnostic] = []
    unevaluated: list[tuple[str, int]] = []
    quiet = ctx.quiet_sandbox
    datastream = ctx.datastream_of(entry)
    sandbox = datastream.model.sandbox if datastream else None
    for j, mapping in enumerate(entry.model.audiences):
        home = quiet(mapping.id)
        if home is not None and (home == sandbox or sandbox is None):
            continue
        path = ("audiences", j, "id")
        found = ctx.audiences.get(mapping.id)
        if found is None:
            out.extend(_not_in_catalog(ctx, entry.doc, path, mapping.id, sandbox))
            continue
        audience, item = found
        if sandbox is not None and item.sandbox != sandbox:
            if ctx.project.catalog_is_complete(sandbox):
                out.append(entry.doc.diagnostic(
                    "CP144",
                    f"audience {mapping.id} belongs to sandbox '{item.sandbox}', but this destination's "
                    f"datastream is in sandbox '{sandbox}'",
                    path,
                    hint="map audiences of the datastream's own sandbox",
                ))
            continue
        verdict = ctx.own_sandbox_verdict(audience, item)
        if verdict is None:
            continue
        if verdict is UNEVALUATED:
            unevaluated.append((item.sandbox, j))
        elif verdict is NO_MERGE_POLICY:
            out.append(entry.doc.diagnostic(
                "CP145",
                f"audience {mapping.id} has no merge_policy in the catalog ({_at(item.doc, item.path)}): "
                "whether Adobe evaluates it on edge (its merge policy must be active on edge) was not checked",
                path,
                hint="add merge_policy: <its merge policy id> to the audience's catalog entry",
                severity=WARNING,
            ))
        elif not isinstance(verdict, str):  # the merge policy, not active on edge
            out.append(entry.doc.diagnostic(
                "CP141",
                f"audience {audience.id} uses merge policy '{verdict.name}', which is not active on edge: "
                "edge destinations will not evaluate it",
                path,
                hint="assign the audience the sandbox's active-on-edge merge policy, or unmap it",
            ))
    return out, unevaluated


def _at(doc: Doc, path: tuple[str | int, ...]) -> str:
    line, col = doc.positions.locate(path)
    return f"{doc.relpath}:{line}:{col}"


def _not_in_catalog(
    ctx: Context, doc: Doc, path: tuple[str | int, ...], audience_id: str, sandbox: str | None
) -> Iterator[Diagnostic]:
    if not ctx.project.catalog_is_complete(sandbox):
        return
    if sandbox in ctx.catalog_sandboxes or (sandbox is None and ctx.project.catalogs):
        where = "the audience catalog" if sandbox is None else f"the audience catalog of sandbox '{sandbox}'"
        yield doc.diagnostic(
            "CP140", f"audience {audience_id} is not in {where}", path,
            hint="add it to a file in audiences/, or check the id",
        )
    elif sandbox is not None:
        yield doc.diagnostic(
            "CP147",
            f"audience {audience_id} is in no audience catalog (sandbox '{sandbox}' has none): namespace "
            f"'{DEFAULT_NAMESPACE}' is assumed, and whether Adobe evaluates it on edge was not checked",
            path,
            hint=f"add a catalog file to audiences/ with sandbox: {sandbox}, its merge policies and this "
            f"audience (an uploaded list needs namespace: {UPLOAD_NAMESPACE})",
            severity=WARNING,
        )


def check_edge_policy_needed(ctx: Context, placed: Sequence[Placed]) -> Iterator[Diagnostic]:
    """CP146, once per sandbox, at its catalog, counting the mappings of every destination."""
    counted: dict[str, list[int]] = {}
    first: dict[str, tuple[Doc, tuple[str | int, ...]]] = {}
    for facts, doc in placed:
        for sandbox, count, j in facts.unevaluated:
            counted.setdefault(sandbox, [0])[0] += count
            first.setdefault(sandbox, (doc, ("audiences", j, "id")))
    for sandbox, (mapped,) in counted.items():
        first_doc, first_path = first[sandbox]
        yield ctx.without_edge_policy[sandbox].diagnostic(
            "CP146",
            f"no merge policy of sandbox '{sandbox}' is active on edge, but {mapped} mapped "
            f"audience{'s' if mapped > 1 else ''} of it (first at {_at(first_doc, first_path)}) "
            "need one: Adobe does not evaluate them for edge destinations",
            ("merge_policies",),
            key=True,
            hint="set active_on_edge: true on the merge policy that is Active-On-Edge in Adobe (one per sandbox); "
            "without one, unmap the audiences",
        )


def check_merge_policy_references(ctx: Context) -> Iterator[Diagnostic]:
    for entry in ctx.project.catalogs:
        sandbox = entry.model.sandbox
        if not ctx.project.catalog_is_complete(sandbox):
            continue
        for i, audience in enumerate(entry.model.audiences):
            if audience.merge_policy is not None and (sandbox, audience.merge_policy) not in ctx.merge_policies:
                yield entry.doc.diagnostic(
                    "CP143",
                    f"merge policy {audience.merge_policy} is not in the catalog of sandbox '{sandbox}'",
                    ("audiences", i, "merge_policy"),
                    hint=f"list it under merge_policies in one catalog file of sandbox '{sandbox}', or check the id",
                )


def check_active_on_edge_policies(ctx: Context) -> Iterator[Diagnostic]:
    first: dict[str, tuple[Doc, int, MergePolicy]] = {}
    for entry in ctx.project.catalogs:
        sandbox = entry.model.sandbox
        for i, policy in enumerate(entry.model.merge_policies):
            if not policy.active_on_edge:
                continue
            if sandbox not in first:
                first[sandbox] = (entry.doc, i, policy)
                continue
            doc, j, other = first[sandbox]
            if other.id == policy.id:
                continue  # the same policy listed twice: CP130 says to remove the copy
            yield entry.doc.diagnostic(
                "CP142",
                f"sandbox '{sandbox}' already has an active-on-edge merge policy, '{other.name}' "
                f"({_at(doc, ('merge_policies', j, 'active_on_edge'))})",
                ("merge_policies", i, "active_on_edge"),
                hint="a sandbox can have only one active-on-edge merge policy; set active_on_edge: false "
                "on all but one",
            )


def check_merge_policy_settings(ctx: Context) -> Iterator[Diagnostic]:
    """CP128: dataset precedence needs 1 to 50 datasets in order; a dataset order does nothing
    with timestamp-ordered merging, so it is refused rather than silently ignored."""
    for entry in ctx.project.catalogs:
        for i, policy in enumerate(entry.model.merge_policies):
            path: tuple[str | int, ...] = ("merge_policies", i)
            count = len(policy.dataset_order)
            if policy.attribute_merge == "dataset_precedence" and not count:
                yield entry.doc.diagnostic(
                    "CP128", f"merge policy '{policy.name}' uses dataset precedence but has no dataset_order",
                    (*path, "attribute_merge"), hint="list 1 to 50 datasets in dataset_order, first wins",
                )
            elif policy.attribute_merge == "dataset_precedence" and count > MAX_DATASET_ORDER:
                yield entry.doc.diagnostic(
                    "CP128",
                    f"merge policy '{policy.name}' orders {count} datasets; Adobe allows at most {MAX_DATASET_ORDER}",
                    (*path, "dataset_order", MAX_DATASET_ORDER), hint="keep at most 50 datasets in dataset_order",
                )
            elif policy.attribute_merge == "timestamp_ordered" and count:
                yield entry.doc.diagnostic(
                    "CP128",
                    f"merge policy '{policy.name}' has a dataset_order, but merges attributes by timestamp, "
                    "which ignores it",
                    (*path, "dataset_order"), key=True,
                    hint="set attribute_merge: dataset_precedence, or remove dataset_order",
                )


def check_audience_ttl(ctx: Context) -> Iterator[Diagnostic]:
    for entry in ctx.project.catalogs:
        for i, audience in enumerate(entry.model.audiences):
            if audience.ttl_days is not None and audience.namespace != UPLOAD_NAMESPACE:
                yield entry.doc.diagnostic(
                    "CP127",
                    f"audience {audience.id} has ttl_days, but only uploaded audiences (namespace "
                    f"{UPLOAD_NAMESPACE}) expire; a '{audience.namespace}' audience has no TTL",
                    ("audiences", i, "ttl_days"), key=True,
                    hint=f"remove ttl_days, or set namespace: {UPLOAD_NAMESPACE} if it is an uploaded list",
                )


def check_sandbox_guardrails(ctx: Context, placed: Sequence[Placed]) -> Iterator[Diagnostic]:
    by_sandbox: dict[str, list[Placed]] = defaultdict(list)
    for facts, doc in placed:
        if facts.sandbox is not None:
            by_sandbox[facts.sandbox].append((facts, doc))
    for sandbox, entries in sorted(by_sandbox.items()):
        if len(entries) > MAX_DESTINATIONS_PER_SANDBOX:
            for _, doc in entries[MAX_DESTINATIONS_PER_SANDBOX:]:
                yield doc.diagnostic(
                    "CP150",
                    f"sandbox '{sandbox}' has {len(entries)} Custom Personalization destinations; Adobe's "
                    f"guardrail is {MAX_DESTINATIONS_PER_SANDBOX}",
                    hint="consolidate destinations, or confirm the higher count with Adobe",
                    severity=WARNING,
                )
        attributes = [(doc, j) for facts, doc in entries for j in range(facts.attributes)]
        for doc, j in attributes[MAX_ATTRIBUTES_PER_SANDBOX:]:
            yield doc.diagnostic(
                "CP152",
                f"sandbox '{sandbox}' maps {len(attributes)} attributes to personalization destinations; "
                f"Adobe enforces at most {MAX_ATTRIBUTES_PER_SANDBOX}",
                ("attributes", j),
                hint="map fewer attributes: Adobe refuses the activation past the limit",
            )


def check_destination_guardrail(ctx: Context, entry: Entry[Destination]) -> Iterator[Diagnostic]:
    count = len(entry.model.audiences)
    if count > MAX_AUDIENCES_PER_DESTINATION:
        yield entry.doc.diagnostic(
            "CP151",
            f"{count} audiences mapped; Adobe's guardrail is {MAX_AUDIENCES_PER_DESTINATION} per destination",
            ("audiences", MAX_AUDIENCES_PER_DESTINATION),
            hint="split the audiences over several destinations",
            severity=WARNING,
        )


# (code, what is counted, limit, key pointed at, hint): all counted over a sandbox's catalog audiences
_CATALOG_GUARDRAILS = (
    ("CP153", "edge audiences", MAX_EDGE_AUDIENCES_PER_SANDBOX, "evaluation",
     "evaluate some audiences by streaming instead"),
    ("CP154", "streaming audiences (edge included)", MAX_STREAMING_AUDIENCES_PER_SANDBOX, "evaluation",
     "evaluate some audiences in batch instead"),
    ("CP155", "audiences", MAX_AUDIENCES_PER_SANDBOX, "id", "remove audiences the sandbox no longer uses"),
)


def check_catalog_guardrails(ctx: Context) -> Iterator[Diagnostic]:
    """Adobe's per-sandbox audience guardrails, counted on the catalog (the audiences that exist,
    mapped or not); reported at each audience past the limit, in file order."""
    counted: dict[str, list[list[tuple[Doc, int]]]] = defaultdict(lambda: [[], [], []])
    for entry in ctx.project.catalogs:
        edge, streaming, every = counted[entry.model.sandbox]
        for i, audience in enumerate(entry.model.audiences):
            every.append((entry.doc, i))
            if audience.evaluation in ("edge", "streaming"):
                streaming.append((entry.doc, i))
            if audience.evaluation == "edge":
                edge.append((entry.doc, i))
    for sandbox, lists in sorted(counted.items()):
        for (code, what, limit, key, hint), items in zip(_CATALOG_GUARDRAILS, lists):
            for doc, i in items[limit:]:
                yield doc.diagnostic(
                    code,
                    f"sandbox '{sandbox}' has {len(items)} {what}; Adobe's guardrail is {limit}",
                    ("audiences", i, key),
                    hint=hint,
                    severity=WARNING,
                )


def check_catalog_freshness(ctx: Context) -> Iterator[Diagnostic]:
    """CP148: a catalog exported longer ago than the limit; audiences change in Adobe while the
    repository sleeps. A catalog without exported_at is not checked."""
    now = freshness_now() if ctx.now is None else ctx.now
    limit = ctx.max_catalog_age_days
    for entry in ctx.project.catalogs:
        exported = entry.model.exported_at
        if exported is None:
            continue
        start, _ = window_bounds(exported, None)
        if start is not None and now - start > limit * 86_400:
            yield entry.doc.diagnostic(
                "CP148",
                f"the catalog of sandbox '{entry.model.sandbox}' was exported at {_shown(exported)}, more than "
                f"{limit} day{'s' if limit != 1 else ''} ago: audiences and merge policies may have changed in Adobe since",
                ("exported_at",),
                hint="re-import it with cpcompile import catalog (docs/import.md), or check it with cpcompile drift",
                severity=WARNING,
            )


def _shown(when: date | datetime) -> str:
    if isinstance(when, datetime):
        return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return when.isoformat()


# rules of the context: they read no destination; all but the last are a function of the files
RULES: tuple[Callable[[Context], Iterator[Diagnostic]], ...] = (
    check_duplicate_ids,
    check_duplicate_datastream_names,
    check_datastream_services,
    check_merge_policy_references,
    check_active_on_edge_policies,
    check_merge_policy_settings,
    check_audience_ttl,
    check_catalog_guardrails,
    *GOVERNANCE_RULES,
)
CLOCK_RULES: tuple[Callable[[Context], Iterator[Diagnostic]], ...] = (check_catalog_freshness,)
DESTINATION_RULES: tuple[Callable[[Context, Entry[Destination]], Iterator[Diagnostic]], ...] = (
    check_datastream_reference,
    check_edge_segmentation,
    check_windows,
    check_duplicate_audiences,
    check_attribute_targets,
    check_destination_guardrail,
    *GOVERNANCE_DESTINATION_RULES,
)
RULES_ACROSS: tuple[Callable[[Context, Sequence[Placed]], Iterator[Diagnostic]], ...] = (
    check_duplicate_destination_ids,
    check_alias_unique_per_datastream,
    check_edge_policy_needed,
    check_sandbox_guardrails,
)


def check_context(ctx: Context, *, clock: bool = True) -> list[Diagnostic]:
    """The context's diagnostics; without ``clock``, only those that depend on the files alone."""
    return [diagnostic for rule in (*RULES, *(CLOCK_RULES if clock else ())) for diagnostic in rule(ctx)]


def check_clock(ctx: Context) -> list[Diagnostic]:
    """The context's diagnostics that depend on the time as well as the files (CP148)."""
    return [diagnostic for rule in CLOCK_RULES for diagnostic in rule(ctx)]


def check_destination(ctx: Context, entry: Entry[Destination]) -> tuple[list[Diagnostic], DestinationFacts]:
    """The diagnostics of one destination of ``ctx.project`` on its own, and its facts for the
    rules across destinations."""
    diagnostics = [diagnostic for rule in DESTINATION_RULES for diagnostic in rule(ctx, entry)]
    catalog, unevaluated = check_catalog_audiences(ctx, entry)
    diagnostics.extend(catalog)
    counted: dict[str, list[int]] = {}
    for sandbox, j in unevaluated:
        counted.setdefault(sandbox, [0, j])[0] += 1
    datastream = ctx.datastream_of(entry)
    facts = DestinationFacts(
        id=entry.model.id,
        alias=entry.model.alias,
        datastream=datastream.model.id if datastream else None,
        sandbox=datastream.model.sandbox if datastream else None,
        attributes=len(entry.model.attributes),
        unevaluated=tuple((sandbox, count, j) for sandbox, (count, j) in counted.items()),
    )
    return diagnostics, facts


def check_across(ctx: Context, placed: Sequence[Placed]) -> list[Diagnostic]:
    """The rules across destinations, over every destination's facts in file order."""
    return [diagnostic for rule in RULES_ACROSS for diagnostic in rule(ctx, placed)]


def check_all(
    project: Project, *, now: int | None = None, max_catalog_age_days: int = DEFAULT_CATALOG_MAX_AGE_DAYS
) -> list[Diagnostic]:
    # the rules see the project without its destinations, as an incremental build does: a rule
    # of one destination cannot come to depend on the others
    ctx = Context(replace(project, destinations=[]), now, max_catalog_age_days)
    diagnostics = check_context(ctx)
    placed: list[Placed] = []
    for entry in project.destinations:
        own, facts = check_destination(ctx, entry)
        diagnostics.extend(own)
        placed.append((facts, entry.doc))
    diagnostics.extend(check_across(ctx, placed))
    return diagnostics
