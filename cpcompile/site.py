"""`cpcompile site`: the validated config as a static HTML catalog (docs/site.md).

Pages: ``index.html`` (datastreams → aliases → audiences, a picture of each datastream, search),
``audiences.html`` (every audience), ``destinations/<id>.html`` and ``audiences/<id>.html``.
Rendered by jinja2 from ``cpcompile/templates/site/`` with autoescaping on; file names and links
are built from ids only (``slug``), never from names. The pages load nothing: the style sheet
and the search script are inline and allowed by hash in each page's Content-Security-Policy, so
the site works offline and from a file: URL, and config text that slipped past the escaping
still could not run. Same config, same bytes: everything is sorted and no clock is read
(``SOURCE_DATE_EPOCH``, when set, is shown as the date of the site).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from markupsafe import Markup

from . import __version__
from .diagnostics import Diagnostic
from .gcpause import paused_gc
from .governance import Labels, Policies, describe, evaluate_destination
from .model import Datastream, Destination
from .project import Entry, Project, datastream_index
from .site_graph import Graph, Node, render_svg
from .sources import CONFIG_KINDS, Kind

GENERATOR = "cpcompile site"
INDEX_AUDIENCES = 8  # audiences named per destination on the index; the rest on its page
GRAPH_AUDIENCES = 40  # audience boxes in one picture; beyond, one box per destination says how many
SEARCH_LIMIT = 50
_SLUG = re.compile(r"[0-9a-z][0-9a-z-]{0,99}")
_MARKER = f'<meta name="generator" content="{GENERATOR}">'.encode()


class SiteOutError(Exception):
    """--out cannot be used: inside the config, or an existing directory that is not a site."""


def slug(value: str) -> str:
    """A piece of a file name and URL made from an id: lower-case letters, digits and '-'. An
    id that is not made of those alone (config ids are UUIDs, so none should be) becomes a hash
    of itself, so that no config text ever reaches a URL."""
    lowered = value.lower()
    if _SLUG.fullmatch(lowered):
        return lowered
    return "h" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def script_json(value: Any) -> Markup:
    """``value`` as JSON that is safe inside a ``<script>`` element: ASCII only (so U+2028 and
    U+2029 are escapes), and ``<``, ``>``, ``&`` as ``\\u`` escapes, so that neither
    ``</script>`` nor ``<!--`` can appear in it. Still the same JSON value."""
    text = json.dumps(value, ensure_ascii=True, sort_keys=True, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def when_text(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return value.isoformat()


# --- the model the templates read ---------------------------------------------------------------


@dataclass(eq=False)
class MergePolicyView:
    id: str
    name: str
    active_on_edge: bool
    attribute_merge: str
    identity_graph: str


@dataclass(eq=False)
class UseView:
    destination: DestinationView
    start: str
    end: str


@dataclass(eq=False)
class AudienceView:
    id: str
    url: str
    name: str | None  # None: mapped, but in no catalog
    sandbox: str | None = None
    namespace: str = "ups"
    evaluation: str | None = None
    merge_policy: MergePolicyView | None = None
    merge_policy_id: str | None = None
    ttl_days: int | None = None
    labels: list[str] = field(default_factory=list)
    uses: list[UseView] = field(default_factory=list, repr=False)

    @property
    def title(self) -> str:
        return self.name if self.name is not None else self.id


@dataclass(eq=False)
class MappedView:
    audience: AudienceView
    start: str
    end: str
    verdicts: list[str] = field(default_factory=list)


@dataclass(eq=False)
class AttributeView:
    source: str
    target: str
    labels: list[str]


@dataclass(eq=False)
class PolicyView:
    name: str
    status: str
    deny: str
    where: str
    on: str


@dataclass(eq=False)
class DestinationView:
    id: str
    url: str
    name: str
    description: str | None
    alias: str
    file: str
    datastream: DatastreamView = field(repr=False)
    marketing_actions: list[tuple[str, str]] = field(default_factory=list)
    attributes: list[AttributeView] = field(default_factory=list)
    audiences: list[MappedView] = field(default_factory=list)
    policies: list[PolicyView] = field(default_factory=list)
    graph: Markup = Markup("")


@dataclass(eq=False)
class DatastreamView:
    id: str
    anchor: str
    name: str
    description: str | None
    sandbox: str
    access: str
    file: str
    services: list[str]
    labels: list[str]
    destinations: list[DestinationView] = field(default_factory=list)
    graph: Markup = Markup("")

    @property
    def audience_count(self) -> int:
        return len({m.audience.id for d in self.destinations for m in d.audiences})


@dataclass
class SiteModel:
    datastreams: list[DatastreamView]
    destinations: list[DestinationView]
    audiences: list[AudienceView]
    governance: bool  # the config declares labels or policies: show them
    files: int


def site_model(project: Project, files: int) -> SiteModel:
    """The resolved catalog of a project that validated without errors."""
    labels, policies = Labels(project), Policies(project)
    governance = bool(project.policies) or _has_labels(project)
    audiences = _audiences(project, labels)
    by_key = datastream_index(project)
    datastreams: dict[str, DatastreamView] = {}
    for ds_entry in sorted(project.datastreams, key=lambda e: (e.model.name, e.model.id)):
        datastreams[ds_entry.model.id] = _datastream_view(ds_entry)
    destinations = []
    for entry in project.destinations:
        ds_model = by_key[entry.model.datastream].model
        view = _destination_view(entry, datastreams[ds_model.id], ds_model, audiences, labels, policies)
        view.datastream.destinations.append(view)
        destinations.append(view)
    for ds in datastreams.values():
        ds.destinations.sort(key=lambda d: (d.alias, d.id))
        ds.graph = render_svg(_datastream_graph(ds), f"datastream {ds.name}: aliases and audiences")
    for dest in destinations:
        dest.graph = render_svg(_destination_graph(dest), f"destination {dest.name}: datastream, alias, audiences")
    for audience in audiences.values():
        audience.uses.sort(key=lambda u: (u.destination.datastream.name, u.destination.alias, u.destination.id))
    return SiteModel(
        datastreams=list(datastreams.values()),
        destinations=sorted(destinations, key=lambda d: (d.name, d.id)),
        audiences=sorted(audiences.values(), key=lambda a: (a.name is None, a.title, a.id)),
        governance=governance,
        files=files,
    )


def _has_labels(project: Project) -> bool:
    return any(e.model.labels for e in project.datastreams) or any(
        c.model.datasets or c.model.fields or any(a.labels or a.datasets for a in c.model.audiences)
        or any(m.identity_graph == "pdg" for m in c.model.merge_policies)
        for c in project.catalogs
    )


def _audiences(project: Project, labels: Labels) -> dict[str, AudienceView]:
    out: dict[str, AudienceView] = {}
    for entry in project.catalogs:
        sandbox = entry.model.sandbox
        policies = {m.id: m for m in entry.model.merge_policies}
        for a in entry.model.audiences:
            if a.id in out:
                continue
            policy = policies.get(a.merge_policy or "")
            out[a.id] = AudienceView(
                id=a.id, url=f"audiences/{slug(a.id)}.html", name=a.name, sandbox=sandbox, namespace=a.namespace,
                evaluation=a.evaluation, merge_policy_id=a.merge_policy, ttl_days=a.ttl_days,
                merge_policy=None if policy is None else MergePolicyView(
                    policy.id, policy.name, policy.active_on_edge, policy.attribute_merge, policy.identity_graph
                ),
                labels=sorted(labels.audience_lineage(a.id)),
            )
    for dest in project.destinations:
        for mapping in dest.model.audiences:
            if mapping.id not in out:
                out[mapping.id] = AudienceView(id=mapping.id, url=f"audiences/{slug(mapping.id)}.html", name=None)
    return out


def _datastream_view(entry: Entry[Datastream]) -> DatastreamView:
    m = entry.model
    services = [name for name, on in (
        ("edge segmentation", m.edge_segmentation), ("personalization destinations", m.personalization_destinations),
        ("Adobe Journey Optimizer", m.ajo),
    ) if on]
    return DatastreamView(
        id=m.id, anchor=f"ds-{slug(m.id)}", name=m.name, description=m.description, sandbox=m.sandbox,
        access=m.access, file=entry.doc.relpath, services=services, labels=sorted(m.labels),
    )


def _destination_view(
    entry: Entry[Destination], datastream: DatastreamView, ds_model: Datastream,
    audiences: dict[str, AudienceView], labels: Labels, policies: Policies,
) -> DestinationView:
    m = entry.model
    view = DestinationView(
        id=m.id, url=f"destinations/{slug(m.id)}.html", name=m.name, description=m.description, alias=m.alias,
        file=entry.doc.relpath, datastream=datastream,
        marketing_actions=[(action, policies.actions.get(action, "")) for action in m.marketing_actions],
    )
    lineage = labels.attribute_lineage(ds_model.sandbox, entry)
    view.attributes = [
        AttributeView(a.source, a.target, sorted(lineage.get(i, {})))
        for i, a in sorted(enumerate(m.attributes), key=lambda p: p[1].target)
    ]
    verdicts: dict[int, list[str]] = defaultdict(list)
    for finding in evaluate_destination(entry, ds_model.sandbox, labels, policies):
        state = "denied" if finding.policy.status == "enabled" else "would be denied (draft)"
        verdicts[finding.mapping].append(f"{state} by '{finding.policy.policy.name}': {finding.held.branch}")
    mapped = []
    for j, mapping in enumerate(m.audiences):
        audience = audiences[mapping.id]
        start, end = when_text(mapping.start), when_text(mapping.end)
        mapped.append(MappedView(audience, start, end, verdicts.get(j, [])))
        audience.uses.append(UseView(view, start, end))
    view.audiences = sorted(mapped, key=lambda v: (v.audience.name is None, v.audience.title, v.audience.id))
    view.policies = [
        PolicyView(
            p.policy.name, p.status, describe(p.policy.deny), p.where,
            ", ".join(p.actions_for(m.marketing_actions)).replace("*", "every activation"),
        )
        for p in policies.applicable(m.marketing_actions)
    ]
    return view


def _datastream_graph(ds: DatastreamView) -> Graph:
    graph = Graph()
    graph.columns[0].append(Node(ds.anchor, ds.name, f"#{ds.anchor}", "datastream", f"datastream {ds.name} ({ds.id})"))
    collapse = ds.audience_count > GRAPH_AUDIENCES
    seen: set[str] = set()
    for dest in ds.destinations:
        graph.columns[1].append(Node(dest.url, dest.alias, dest.url, "destination", f"{dest.alias}: {dest.name}"))
        graph.edges.append((ds.anchor, dest.url))
        if collapse:
            key = f"count:{dest.url}"
            graph.columns[2].append(Node(key, _count(len(dest.audiences), "audience"), dest.url, "more"))
            graph.edges.append((dest.url, key))
            continue
        for mapped in dest.audiences:
            a = mapped.audience
            if a.id not in seen:
                seen.add(a.id)
                graph.columns[2].append(Node(a.url, a.title, a.url, "audience", f"{a.title} ({a.id})"))
            graph.edges.append((dest.url, a.url))
    graph.columns[2].sort(key=lambda n: (n.label, n.key))
    return graph


def _destination_graph(dest: DestinationView) -> Graph:
    """The destination's own picture, drawn on its page (links one folder up)."""
    ds = dest.datastream
    graph = Graph()
    graph.columns[0].append(Node("ds", ds.name, f"../index.html#{ds.anchor}", "datastream", f"datastream {ds.name} ({ds.id})"))
    graph.columns[1].append(Node("dest", dest.alias, None, "destination", f"{dest.alias}: {dest.name}"))
    graph.edges.append(("ds", "dest"))
    for mapped in dest.audiences[:GRAPH_AUDIENCES]:
        a = mapped.audience
        graph.columns[2].append(Node(a.url, a.title, f"../{a.url}", "audience", f"{a.title} ({a.id})"))
        graph.edges.append(("dest", a.url))
    rest = len(dest.audiences) - GRAPH_AUDIENCES
    if rest > 0:
        graph.columns[2].append(Node("more", f"and {_count(rest, 'more audience')}", None, "more"))
        graph.edges.append(("dest", "more"))
    return graph


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def search_entries(model: SiteModel) -> list[list[str]]:
    """What the search box looks through: [kind, title, id, detail, url], in display order."""
    out = [["datastream", d.name, d.id, f"sandbox {d.sandbox}", f"index.html#{d.anchor}"] for d in model.datastreams]
    out += [["destination", d.name, d.id, f"{d.alias} on {d.datastream.name}", d.url] for d in model.destinations]
    out += [
        ["audience", a.title, a.id, f"sandbox {a.sandbox}" if a.sandbox else "in no catalog", a.url]
        for a in model.audiences
    ]
    return out


# --- rendering ----------------------------------------------------------------------------------


def _asset(name: str) -> str:
    return resources.files("cpcompile").joinpath(f"templates/site/{name}").read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


class _Cells:
    """The table cells of an audience (on destination pages) and of a destination (on audience
    pages), each rendered once however many pages show it: most of a large site's rows."""

    def __init__(self, macros: Any) -> None:
        self._macros = macros
        self._audiences: dict[str, Markup] = {}
        self._destinations: dict[str, Markup] = {}

    def audience(self, view: AudienceView) -> Markup:
        found = self._audiences.get(view.id)
        if found is None:
            found = self._audiences[view.id] = Markup(self._macros.audience(view))
        return found

    def destination(self, view: DestinationView) -> Markup:
        found = self._destinations.get(view.id)
        if found is None:
            found = self._destinations[view.id] = Markup(self._macros.destination(view))
        return found


def render_pages(model: SiteModel, *, source_date_epoch: int | None = None) -> dict[str, bytes]:
    """Every file of the site by its relative path."""
    import jinja2

    css, script = _asset("site.css"), _asset("search.js")
    csp = (
        f"default-src 'none'; style-src {_sha256(css)}; script-src {_sha256(script)}; img-src data:; "
        "base-uri 'none'; form-action 'none'"
    )
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("cpcompile", "templates/site"), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )
    env.filters["count"] = _count
    dated = None
    if source_date_epoch is not None:
        dated = datetime.fromtimestamp(source_date_epoch, timezone.utc).date().isoformat()
    common = {
        "css": Markup(css), "csp": csp, "version": __version__, "files": model.files, "dated": dated,
        "governance": model.governance, "index_audiences": INDEX_AUDIENCES,
    }
    pages: dict[str, bytes] = {}

    def put(path: str, template: Any, root: str, **values: Any) -> None:
        pages[path] = template.render(**common, root=root, **values).encode("utf-8")

    put(
        "index.html", env.get_template("index.html.j2"), "", model=model,
        search=script_json(search_entries(model)), script=Markup(script), search_limit=SEARCH_LIMIT,
    )
    put("audiences.html", env.get_template("audiences.html.j2"), "", model=model)
    common["cells"] = _Cells(env.get_template("cells.html.j2").make_module(common))
    destination = env.get_template("destination.html.j2")
    for dest in model.destinations:
        put(dest.url, destination, "../", dest=dest)
    audience = env.get_template("audience.html.j2")
    for a in model.audiences:
        put(a.url, audience, "../", audience=a)
    return pages


# --- writing ------------------------------------------------------------------------------------


def check_out_dir(root: Path, out: Path) -> None:
    """Refuse an --out inside a config folder, the config root or a folder holding it, and an
    existing directory that is neither empty nor an earlier site (it would be replaced)."""
    root_r, out_r = root.resolve(), out.resolve()
    for kind in (*CONFIG_KINDS, Kind.SPEC):
        folder = root_r / kind.value
        if out_r == folder or folder in out_r.parents:
            raise SiteOutError(f"{out} is inside the config folder {kind.value}/; write the site elsewhere")
    if out_r == root_r or out_r in root_r.parents:
        raise SiteOutError(f"{out} holds the config; write the site into a folder of its own")
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise SiteOutError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not is_site(out):
        raise SiteOutError(f"{out} is not empty and holds no earlier site (no index.html by {GENERATOR}); not replacing it")


def is_site(folder: Path) -> bool:
    try:
        with open(folder / "index.html", "rb") as handle:
            return _MARKER in handle.read(4096)
    except OSError:
        return False


def write_site(pages: dict[str, bytes], out: Path) -> None:
    """Write the site into a new folder beside ``out``, then rename it to ``out``: a reader sees
    the earlier site or the new one, whole, never a part (between the two renames that replace
    an earlier site, ``out`` is briefly absent)."""
    parent = out.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=f".{out.name}.", suffix=".tmp"))
    old: Path | None = None
    try:
        os.chmod(staging, 0o755)
        for folder in sorted({str(Path(p).parent) for p in pages} - {"."}):
            (staging / folder).mkdir(parents=True, exist_ok=True)
        for path in sorted(pages):
            with open(staging / path, "wb") as handle:
                handle.write(pages[path])
        if out.exists():
            old = Path(tempfile.mkdtemp(dir=parent, prefix=f".{out.name}.", suffix=".old"))
            os.rmdir(old)
            os.rename(out, old)
        os.rename(staging, out)
    except BaseException:
        if old is not None and not out.exists():
            os.rename(old, out)
            old = None
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@dataclass
class SiteOutcome:
    diagnostics: list[Diagnostic]
    files_checked: int
    skipped: int
    model: SiteModel | None  # None: the config has errors, nothing was written


def make_site(root: Path, out: Path, *, source_date_epoch: int | None = None) -> SiteOutcome:
    """Validate ROOT and, when it has no errors, write its site to ``out`` (``check_out_dir``
    first: a SiteOutError before anything is read)."""
    from .validate import validate_tree

    check_out_dir(root, out)
    result = validate_tree(root)
    if any(d.is_error for d in result.diagnostics):
        return SiteOutcome(result.diagnostics, result.files_checked, result.skipped, None)
    with paused_gc():  # many objects, all kept to the end: a collection would only rescan them
        model = site_model(result.project, result.files_checked)
        pages = render_pages(model, source_date_epoch=source_date_epoch)
    write_site(pages, out)
    return SiteOutcome(result.diagnostics, result.files_checked, result.skipped, model)
