"""`cpcompile drift`: the config against a fresh export of the platform (docs/drift.md).

The export is a folder per sandbox with the API listings ``cpcompile import`` reads. Each
difference is a ``Drift``: effective when it changes what a visitor gets or what validation
concludes (a mapped audience deleted or no longer evaluated on edge, a merge policy flipped,
a destination or mapping on one side only), cosmetic when it does not (names, audiences the
platform has that the catalog lacks and no mapping uses). Rendering escapes everything that
came from either side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from .escape import log_safe_json, neutralise
from .importer import CatalogExport, DestinationExport, read_catalog, read_destinations, when_value
from .model import CatalogAudience, Destination, MergePolicy
from .values import window_bounds
from .project import Project, datastream_index

FORMAT = "cpcompile-drift"
VERSION = 1
EFFECTIVE_KINDS = (
    "audience_deleted", "audience_not_on_edge", "destination_only_in_config", "destination_only_on_platform",
    "destination_disabled",
    "mapping_only_in_config", "mapping_only_on_platform", "window_changed", "alias_changed", "datastream_changed",
    "attribute_only_in_config", "attribute_only_on_platform", "attribute_changed",
    "merge_policy_only_in_config", "merge_policy_only_on_platform", "merge_policy_changed",
    "catalog_audience_only_in_config", "catalog_audience_changed",
)
COSMETIC_KINDS = ("name_changed", "catalog_audience_only_on_platform")
_RANK = {kind: rank for rank, kind in enumerate((*EFFECTIVE_KINDS, *COSMETIC_KINDS))}
SEGMENTS, MERGE_POLICIES, FLOWS = "segments", "merge-policies", "flows"


@dataclass(frozen=True)
class SandboxExport:
    catalog: CatalogExport
    destinations: list[DestinationExport]
    has_flows: bool


def read_export(export_dir: Path) -> dict[str, SandboxExport]:
    """Each sandbox folder of ``export_dir`` with at least one listing in it."""
    out: dict[str, SandboxExport] = {}
    for folder in sorted(p for p in export_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = {prefix: sorted(folder.glob(f"{prefix}*.json")) for prefix in (SEGMENTS, MERGE_POLICIES, FLOWS)}
        if not any(files.values()):
            continue
        catalog = read_catalog(folder.name, files[SEGMENTS], files[MERGE_POLICIES])
        out[folder.name] = SandboxExport(catalog, read_destinations(files[FLOWS]), bool(files[FLOWS]))
    return out


@dataclass(frozen=True)
class Drift:
    """One difference. ``config`` and ``platform`` are the two sides' values (None: absent)."""

    kind: str
    sandbox: str
    destination: str | None = None
    audience: str | None = None
    merge_policy: str | None = None
    field: str | None = None
    config: Any = None
    platform: Any = None
    name: str | None = None  # what the thing is called (config's name, else the platform's)

    @property
    def effective(self) -> bool:
        return self.kind in EFFECTIVE_KINDS

    def sort_key(self) -> tuple[str, str, int, str, str, str]:
        return (self.sandbox, self.destination or "", _RANK[self.kind], self.audience or "", self.merge_policy or "", self.field or "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "sandbox": self.sandbox, "destination": self.destination, "audience": self.audience,
            "merge_policy": self.merge_policy, "field": self.field, "config": self.config, "platform": self.platform,
            "name": self.name,
        }


@dataclass
class Report:
    sandboxes: list[str]  # compared
    not_compared: list[str]  # sandboxes with config but no export folder
    effective: list[Drift] = field(default_factory=list)
    cosmetic: list[Drift] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "version": VERSION, "drift": bool(self.effective),
            "sandboxes": self.sandboxes, "not_compared": self.not_compared,
            "effective": [d.as_dict() for d in self.effective], "cosmetic": [d.as_dict() for d in self.cosmetic],
        }


def compare(project: Project, platform: Mapping[str, SandboxExport]) -> Report:
    datastreams = datastream_index(project)
    sandbox_of = {e.model.id: ds.model.sandbox for e in project.destinations if (ds := datastreams.get(e.model.datastream))}
    configured = {e.model.sandbox for e in project.catalogs} | set(sandbox_of.values())
    found: list[Drift] = []
    for sandbox, export in sorted(platform.items()):
        catalogs = [e.model for e in project.catalogs if e.model.sandbox == sandbox]
        destinations = [
            e.model.model_copy(update={"datastream": datastreams[e.model.datastream].model.id})
            for e in project.destinations if sandbox_of.get(e.model.id) == sandbox
        ]  # a datastream named by file or by id is compared by id
        found.extend(_catalog_drift(sandbox, catalogs, export.catalog))
        found.extend(_mapping_drift(sandbox, destinations, export, catalogs))
    found.sort(key=Drift.sort_key)
    return Report(
        sorted(platform), sorted(configured - set(platform)),
        [d for d in found if d.effective], [d for d in found if not d.effective],
    )


def _catalog_drift(sandbox: str, catalogs: list[Any], export: CatalogExport) -> list[Drift]:
    if not catalogs:
        return []  # nothing in the config claims what the sandbox holds
    out: list[Drift] = []
    ours_a: dict[str, CatalogAudience] = {a.id: a for c in catalogs for a in c.audiences}
    theirs_a = {a["id"]: a for a in export.audiences}
    for ident in sorted(set(ours_a) | set(theirs_a)):
        mine, theirs = ours_a.get(ident), theirs_a.get(ident)
        if theirs is None:
            out.append(Drift("catalog_audience_only_in_config", sandbox, audience=ident, name=mine.name if mine else None))
        elif mine is None:
            out.append(Drift("catalog_audience_only_on_platform", sandbox, audience=ident, platform=theirs.get("evaluation"),
                             name=theirs["name"]))
        else:
            for key in ("namespace", "merge_policy", "evaluation", "ttl_days", "labels"):
                if key == "labels" and key not in theirs:
                    continue  # the listing carried no labels: the catalog's are not compared
                value = getattr(mine, key)
                value = sorted(value) if key == "labels" else value
                if value != theirs.get(key, [] if key == "labels" else None):
                    out.append(Drift("catalog_audience_changed", sandbox, audience=ident, field=key, config=value,
                                     platform=theirs.get(key), name=mine.name))
            if mine.name != theirs["name"]:
                out.append(Drift("name_changed", sandbox, audience=ident, config=mine.name, platform=theirs["name"]))
    ours_p: dict[str, MergePolicy] = {p.id: p for c in catalogs for p in c.merge_policies}
    theirs_p = {p["id"]: p for p in export.merge_policies}
    for ident in sorted(set(ours_p) | set(theirs_p)):
        policy, exported = ours_p.get(ident), theirs_p.get(ident)
        if exported is None:
            out.append(Drift("merge_policy_only_in_config", sandbox, merge_policy=ident, name=policy.name if policy else None))
        elif policy is None:
            out.append(Drift("merge_policy_only_on_platform", sandbox, merge_policy=ident,
                             platform={"active_on_edge": exported["active_on_edge"]}, name=exported["name"]))
        else:
            defaults = {"attribute_merge": "timestamp_ordered", "dataset_order": [], "identity_graph": "none"}
            for key in ("active_on_edge", "attribute_merge", "dataset_order", "identity_graph"):
                value, other = getattr(policy, key), exported.get(key, defaults.get(key))
                if value != other:
                    out.append(Drift("merge_policy_changed", sandbox, merge_policy=ident, field=key, config=value,
                                     platform=other, name=policy.name))
            if policy.name != exported["name"]:
                out.append(Drift("name_changed", sandbox, merge_policy=ident, config=policy.name, platform=exported["name"]))
    return out


def _mapping_drift(
    sandbox: str, destinations: list[Destination], export: SandboxExport, catalogs: list[Any]
) -> list[Drift]:
    out: list[Drift] = []
    audiences = {a["id"]: a for a in export.catalog.audiences}
    claimed = {a.id: a.evaluation for c in catalogs for a in c.audiences}
    if export.catalog.audiences or export.catalog.merge_policies:  # the sandbox's audiences were exported
        for destination in destinations:
            for mapping in destination.audiences:
                found = audiences.get(mapping.id)
                if found is None:
                    out.append(Drift("audience_deleted", sandbox, destination=destination.id, audience=mapping.id,
                                     name=destination.name))
                elif found.get("evaluation") != "edge" and claimed.get(mapping.id, "edge") == "edge":
                    # the catalog says edge, or says nothing: the mapping expects edge evaluation
                    out.append(Drift("audience_not_on_edge", sandbox, destination=destination.id, audience=mapping.id,
                                     field="evaluation", config=claimed.get(mapping.id), platform=found.get("evaluation"),
                                     name=found["name"]))
    if not export.has_flows:
        return out  # no dataflows exported: destinations are not compared
    ours = {d.id: d for d in destinations}
    theirs = {e.destination["id"]: e.destination for e in export.destinations}
    states = {e.destination["id"]: e.state for e in export.destinations}
    for ident in sorted(set(ours) | set(theirs)):
        mine, exported = ours.get(ident), theirs.get(ident)
        if exported is None:
            out.append(Drift("destination_only_in_config", sandbox, destination=ident, name=mine.name if mine else None))
        elif mine is None:
            out.append(Drift("destination_only_on_platform", sandbox, destination=ident, name=exported["name"],
                             platform={"audiences": [a["id"] for a in exported["audiences"]]}))
        else:
            if states[ident] == "disabled":
                out.append(Drift("destination_disabled", sandbox, destination=ident, field="state", config="enabled",
                                 platform="disabled", name=mine.name))
            out.extend(_destination_drift(sandbox, mine, exported))
    return out


def _destination_drift(sandbox: str, mine: Destination, exported: dict[str, Any]) -> list[Drift]:
    out: list[Drift] = []
    d = mine.id

    def add(kind: str, **values: Any) -> None:
        out.append(Drift(kind, sandbox, destination=d, **values))

    if mine.name != exported["name"]:
        add("name_changed", config=mine.name, platform=exported["name"])
    if "alias" in exported and exported["alias"] != mine.alias:
        add("alias_changed", field="alias", config=mine.alias, platform=exported["alias"], name=mine.name)
    if "datastream" in exported and exported["datastream"] != mine.datastream:
        add("datastream_changed", field="datastream", config=mine.datastream, platform=exported["datastream"], name=mine.name)
    windows = {m.id: _window(window_bounds(m.start, m.end)) for m in mine.audiences}
    exported_windows = {a["id"]: _exported_window(a) for a in exported["audiences"]}
    for audience in sorted(set(windows) | set(exported_windows)):
        if audience not in exported_windows:
            add("mapping_only_in_config", audience=audience, config=windows[audience], name=mine.name)
        elif audience not in windows:
            add("mapping_only_on_platform", audience=audience, platform=exported_windows[audience], name=mine.name)
        elif windows[audience] != exported_windows[audience]:
            add("window_changed", audience=audience, config=windows[audience], platform=exported_windows[audience], name=mine.name)
    sources = {a.target: a.source for a in mine.attributes}
    exported_sources = {a["target"]: a["source"] for a in exported.get("attributes", [])}
    for target in sorted(set(sources) | set(exported_sources)):
        if target not in exported_sources:
            add("attribute_only_in_config", field=target, config=sources[target], name=mine.name)
        elif target not in sources:
            add("attribute_only_on_platform", field=target, platform=exported_sources[target], name=mine.name)
        elif sources[target] != exported_sources[target]:
            add("attribute_changed", field=target, config=sources[target], platform=exported_sources[target], name=mine.name)
    return out


def _window(bounds: tuple[int | None, int | None]) -> dict[str, int | None] | None:
    start, end = bounds
    return None if start is None and end is None else {"start": start, "end": end}


def _exported_window(mapping: dict[str, Any]) -> dict[str, int | None] | None:
    start = when_value(mapping["start"]) if "start" in mapping else None
    end = when_value(mapping["end"]) if "end" in mapping else None
    return _window(window_bounds(start, end))


# --- rendering --------------------------------------------------------------------------------

Esc = Callable[[str], str]


def _window_text(value: Any) -> str:
    from .plan_render import window

    return window(value)


def _value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def describe(d: Drift, esc: Esc, code: Esc) -> str:
    """One line for ``d``: what it is about, then what differs."""
    named = f" ({esc(d.name)})" if d.name else ""
    audience = f"audience {code(d.audience or '')}"
    text: Callable[[], str] = {
        "audience_deleted": lambda: f"{audience} is mapped but no longer exists on the platform",
        "audience_not_on_edge": lambda: f"{audience}{named} is mapped but evaluated by {esc(_value(d.platform))} on the platform, not on edge",
        "destination_only_in_config": lambda: f"destination {code(d.destination or '')}{named} is in the config only",
        "destination_only_on_platform": lambda: f"destination {code(d.destination or '')}{named} is on the platform only "
        f"({_count(len(d.platform['audiences']), 'audience')})",
        "destination_disabled": lambda: f"destination {code(d.destination or '')}{named} is disabled (paused) on the platform",
        "mapping_only_in_config": lambda: f"{audience} is mapped in the config only",
        "mapping_only_on_platform": lambda: f"{audience} is mapped on the platform only",
        "window_changed": lambda: f"{audience}: window {esc(_window_text(d.config))} in the config, "
        f"{esc(_window_text(d.platform))} on the platform",
        "alias_changed": lambda: f"alias {code(str(d.config))} in the config, {code(str(d.platform))} on the platform",
        "datastream_changed": lambda: f"datastream {code(str(d.config))} in the config, {code(str(d.platform))} on the platform",
        "attribute_only_in_config": lambda: f"attribute {code(d.field or '')} is mapped in the config only",
        "attribute_only_on_platform": lambda: f"attribute {code(d.field or '')} is mapped on the platform only",
        "attribute_changed": lambda: f"attribute {code(d.field or '')}: source {code(str(d.config))} in the config, "
        f"{code(str(d.platform))} on the platform",
        "merge_policy_only_in_config": lambda: f"merge policy {code(d.merge_policy or '')}{named} is in the catalog only",
        "merge_policy_only_on_platform": lambda: f"merge policy {code(d.merge_policy or '')}{named} is on the platform only"
        + (" (active on edge)" if d.platform and d.platform.get("active_on_edge") else ""),
        "merge_policy_changed": lambda: f"merge policy {code(d.merge_policy or '')}{named}: {esc(d.field or '')} "
        f"{esc(_value(d.config))} in the catalog, {esc(_value(d.platform))} on the platform",
        "catalog_audience_only_in_config": lambda: f"{audience}{named} is in the catalog but not on the platform",
        "catalog_audience_changed": lambda: f"{audience}{named}: {esc(d.field or '')} {esc(_value(d.config))} in the catalog, "
        f"{esc(_value(d.platform))} on the platform",
        "catalog_audience_only_on_platform": lambda: f"{audience}{named} is on the platform but not in the catalog",
        "name_changed": lambda: f"{_subject(d, code)} is named {esc(repr(d.config))} in the config, {esc(repr(d.platform))} on the platform",
    }[d.kind]
    return text()


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _subject(d: Drift, code: Esc) -> str:
    if d.audience:
        return f"audience {code(d.audience)}"
    if d.merge_policy:
        return f"merge policy {code(d.merge_policy)}"
    return f"destination {code(d.destination or '')}"


def _groups(drifts: list[Drift]) -> list[tuple[str, str | None, list[Drift]]]:
    """(sandbox, destination or None for the catalog, drifts), in report order."""
    out: list[tuple[str, str | None, list[Drift]]] = []
    for d in drifts:
        key = (d.sandbox, d.destination)
        if not out or (out[-1][0], out[-1][1]) != key:
            out.append((d.sandbox, d.destination, []))
        out[-1][2].append(d)
    return out


def summary_line(report: Report) -> str:
    sandboxes = ", ".join(report.sandboxes)
    if not report.effective and not report.cosmetic:
        return f"no drift: the config matches the export ({sandboxes})"
    return (f"{len(report.effective)} effective and {len(report.cosmetic)} cosmetic difference"
            f"{'s' if len(report.effective) + len(report.cosmetic) != 1 else ''} between the config and the export ({sandboxes})")


def render_text(report: Report) -> str:
    lines = [neutralise(summary_line(report))]
    for title, drifts in (("effective", report.effective), ("cosmetic", report.cosmetic)):
        if not drifts:
            continue
        lines.append(f"{title}:")
        for sandbox, destination, group in _groups(drifts):
            lines.append(neutralise(f"  sandbox {sandbox}, " + (f"destination {destination}" if destination else "catalog") + ":"))
            lines.extend("    " + neutralise(describe(d, str, str)) for d in group)
    if report.not_compared:
        lines.append(neutralise("not compared (no folder in the export): " + ", ".join(report.not_compared)))
    return "\n".join(lines) + "\n"


def render_markdown(report: Report) -> str:
    from .plan_render import md, md_code

    lines = ["### cpcompile drift", "", md(summary_line(report))]
    for title, drifts in (("Effective", report.effective), ("Cosmetic", report.cosmetic)):
        if not drifts:
            continue
        lines += ["", f"#### {title}"]
        for sandbox, destination, group in _groups(drifts):
            lines += ["", f"**sandbox {md_code(sandbox)}, " + (f"destination {md_code(destination)}" if destination else "catalog") + "**", ""]
            lines.extend(f"- {describe(d, md, md_code)}" for d in group)
    if report.not_compared:
        lines += ["", "Not compared (no folder in the export): " + ", ".join(md_code(s) for s in report.not_compared)]
    return "\n".join(lines) + "\n"


def render(report: Report, fmt: str) -> str:
    if fmt == "json":
        return log_safe_json(report.as_dict())
    return render_markdown(report) if fmt == "markdown" else render_text(report)
