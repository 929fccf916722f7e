"""What changes for visitors between two versions of the config: a pure function from two
artifact bodies (and, when both sides are config, the two validated projects) to a ``Plan``.

Effective changes are those that change some answer (or, for datastream toggles, marketing
actions and catalog settings, what Adobe does with it); cosmetic changes are names,
descriptions, comments, formatting, ordering and file names. Reading the sides (directories,
git commits, artifacts) is ``diff_sides.py``; rendering is ``plan_render.py``. The json form is
documented in docs/diff.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .project import Entry, Project

FORMAT = "cpcompile-diff"
VERSION = 1

# kinds of change (docs/diff.md)
EFFECTIVE_KINDS = (
    "datastream_added", "datastream_removed", "access_changed", "datastream_setting_changed",
    "destination_added", "destination_removed", "destination_moved", "alias_changed",
    "marketing_actions_changed", "attribute_added", "attribute_removed", "attribute_changed",
    "audience_added", "audience_removed", "window_changed", "namespace_changed", "audience_setting_changed",
    "destination_setting_changed", "config_changed",
)
COSMETIC_KINDS = ("name_changed", "description_changed", "file_renamed", "formatting_only", "ordering_only")

_RANK = {kind: rank for rank, kind in enumerate((*EFFECTIVE_KINDS, *COSMETIC_KINDS))}


@dataclass(frozen=True)
class Change:
    """One change. ``datastream``, ``destination`` and ``audience`` are the IDs involved (None
    where one is not); ``field`` names the setting, attribute target or file; ``before`` and
    ``after`` are the values (None: absent)."""

    kind: str
    datastream: str | None = None
    destination: str | None = None
    audience: str | None = None
    field: str | None = None
    before: Any = None
    after: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "datastream": self.datastream, "destination": self.destination,
            "audience": self.audience, "field": self.field, "before": self.before, "after": self.after,
        }

    def sort_key(self) -> tuple[str, str, int, str, str]:
        return (self.datastream or "", self.destination or "", _RANK.get(self.kind, 0), self.audience or "", self.field or "")


@dataclass(frozen=True)
class Names:
    """Readable names from the config, by ID (head's where both sides have one)."""

    datastreams: Mapping[str, str] = field(default_factory=dict)
    destinations: Mapping[str, str] = field(default_factory=dict)
    audiences: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    effective: tuple[Change, ...]
    cosmetic: tuple[Change, ...]
    cosmetic_visible: bool  # False when a side is a built artifact: its names and files are gone
    names: Names
    aliases: Mapping[str, str]  # destination ID -> alias (head's, else base's)

    @property
    def changed(self) -> bool:
        return bool(self.effective)

    def summary(self) -> Summary:
        return Summary.of(self.effective)

    def as_dict(self) -> dict[str, Any]:
        s = self.summary()
        return {
            "format": FORMAT,
            "version": VERSION,
            "changed": self.changed,
            "summary": {
                "datastreams": s.datastreams, "destinations": s.destinations,
                "audiences_added": s.added, "audiences_removed": s.removed,
            },
            "cosmetic_visible": self.cosmetic_visible,
            "effective": [c.as_dict() for c in self.effective],
            "cosmetic": [c.as_dict() for c in self.cosmetic],
        }


@dataclass(frozen=True)
class Summary:
    datastreams: int  # datastreams with an effective change
    destinations: int  # destinations with an effective change
    added: int  # audience mappings added (those of added destinations included)
    removed: int

    @classmethod
    def of(cls, changes: Iterable[Change]) -> Summary:
        datastreams, destinations, added, removed = set(), set(), 0, 0
        for c in changes:
            if c.datastream is not None:
                datastreams.add(c.datastream)
            if c.kind == "destination_moved":
                datastreams.add(c.before)  # it changes on the datastream it left too
            if c.destination is not None:
                destinations.add(c.destination)
            if c.kind == "audience_added":
                added += 1
            elif c.kind == "audience_removed":
                removed += 1
            elif c.kind == "destination_added":
                added += len(c.after["audiences"])
            elif c.kind == "destination_removed":
                removed += len(c.before["audiences"])
        return cls(len(datastreams), len(destinations), added, removed)


def make_plan(
    base: Mapping[str, Any], head: Mapping[str, Any], base_project: Project | None = None,
    head_project: Project | None = None,
) -> Plan:
    """The plan from artifact body ``base`` to ``head``; with both projects, the cosmetic
    changes and the settings that are not in the artifact too."""
    effective = _body_changes(base, head)
    cosmetic: list[Change] = []
    with_config = base_project is not None and head_project is not None
    if base_project is not None and head_project is not None:
        where = {**_destination_datastreams(base), **_destination_datastreams(head)}
        _project_changes(base_project, head_project, where, effective, cosmetic)
    old_names, new_names = _names(base_project), _names(head_project)
    names = Names(
        **{k: {**getattr(old_names, k), **getattr(new_names, k)} for k in ("datastreams", "destinations", "audiences")}
    )
    aliases = {**_aliases(base), **_aliases(head)}
    return Plan(
        tuple(sorted(effective, key=Change.sort_key)), tuple(sorted(cosmetic, key=Change.sort_key)),
        with_config, names, aliases,
    )


# --- the artifact ------------------------------------------------------------------------------


@dataclass
class _Dest:
    datastream: str
    alias: str
    attributes: dict[str, str]  # target -> source
    audiences: dict[str, tuple[int | None, int | None]]  # audience -> (start, end)
    namespaces: dict[str, str]


def _view(datastream: str, entry: Mapping[str, Any]) -> dict[str, _Dest]:
    dests = [
        _Dest(datastream, d["alias"], {a["target"]: a["source"] for a in d.get("attributes", ())}, {}, {})
        for d in entry["destinations"]
    ]
    for audience, item in entry["audiences"].items():
        namespace = item["namespace"]
        for m in item["mappings"]:
            dest = dests[m["destination"]]
            dest.audiences[audience] = (m.get("start"), m.get("end"))
            dest.namespaces[audience] = namespace
    return {d["destinationId"]: view for d, view in zip(entry["destinations"], dests)}


def _window(bounds: tuple[int | None, int | None]) -> dict[str, int | None] | None:
    return None if bounds == (None, None) else {"start": bounds[0], "end": bounds[1]}


def _body_changes(base: Mapping[str, Any], head: Mapping[str, Any]) -> list[Change]:
    out: list[Change] = []
    b_ds, h_ds = base["datastreams"], head["datastreams"]
    # equal datastream entries (most of them, in a pull request) are compared in C and skipped
    differing = [ds for ds in sorted(b_ds.keys() | h_ds.keys()) if b_ds.get(ds) != h_ds.get(ds)]
    before: dict[str, _Dest] = {}
    after: dict[str, _Dest] = {}
    for ds in differing:
        old, new = b_ds.get(ds), h_ds.get(ds)
        if old is None:
            out.append(Change("datastream_added", ds, after={"access": new.get("access", "mixed")}))
        elif new is None:
            out.append(Change("datastream_removed", ds, before={"access": old.get("access", "mixed")}))
        elif old.get("access", "mixed") != new.get("access", "mixed"):
            out.append(Change("access_changed", ds, before=old.get("access", "mixed"), after=new.get("access", "mixed")))
        if old is not None:
            before.update(_view(ds, old))
        if new is not None:
            after.update(_view(ds, new))
    for dest_id in sorted(before.keys() | after.keys()):
        old_d, new_d = before.get(dest_id), after.get(dest_id)
        if new_d is None:
            assert old_d is not None
            out.append(Change("destination_removed", old_d.datastream, dest_id, before=_whole(old_d)))
        elif old_d is None:
            out.append(Change("destination_added", new_d.datastream, dest_id, after=_whole(new_d)))
        else:
            _destination_changes(dest_id, old_d, new_d, out)
    return out


def _whole(d: _Dest) -> dict[str, Any]:
    return {
        "alias": d.alias,
        "attributes": [{"target": t, "source": s} for t, s in sorted(d.attributes.items())],
        "audiences": sorted(d.audiences),
    }


def _destination_changes(dest_id: str, old: _Dest, new: _Dest, out: list[Change]) -> None:
    ds = new.datastream
    if old.datastream != new.datastream:
        out.append(Change("destination_moved", ds, dest_id, before=old.datastream, after=new.datastream))
    if old.alias != new.alias:
        out.append(Change("alias_changed", ds, dest_id, before=old.alias, after=new.alias))
    if old.attributes != new.attributes:
        for target in sorted(old.attributes.keys() | new.attributes.keys()):
            was, now = old.attributes.get(target), new.attributes.get(target)
            if was == now:
                continue
            kind = "attribute_added" if was is None else "attribute_removed" if now is None else "attribute_changed"
            out.append(Change(kind, ds, dest_id, field=target, before=was, after=now))
    if old.audiences == new.audiences and old.namespaces == new.namespaces:
        return
    for audience in old.audiences.keys() - new.audiences.keys():
        out.append(Change("audience_removed", ds, dest_id, audience, before=_window(old.audiences[audience])))
    for audience in new.audiences.keys() - old.audiences.keys():
        out.append(Change("audience_added", ds, dest_id, audience, after=_window(new.audiences[audience])))
    for audience in old.audiences.keys() & new.audiences.keys():
        if old.audiences[audience] != new.audiences[audience]:
            out.append(Change(
                "window_changed", ds, dest_id, audience,
                before=_window(old.audiences[audience]), after=_window(new.audiences[audience]),
            ))
        if old.namespaces[audience] != new.namespaces[audience]:
            out.append(Change(
                "namespace_changed", ds, dest_id, audience, before=old.namespaces[audience], after=new.namespaces[audience],
            ))


def _destination_datastreams(body: Mapping[str, Any]) -> dict[str, str]:
    return {d["destinationId"]: ds for ds, entry in body["datastreams"].items() for d in entry["destinations"]}


def _aliases(body: Mapping[str, Any]) -> dict[str, str]:
    return {d["destinationId"]: d["alias"] for entry in body["datastreams"].values() for d in entry["destinations"]}


# --- the config --------------------------------------------------------------------------------


def _names(project: Project | None) -> Names:
    if project is None:
        return Names()
    return Names(
        {e.model.id: e.model.name for e in project.datastreams},
        {e.model.id: e.model.name for e in project.destinations},
        {a.id: a.name for e in project.catalogs for a in e.model.audiences},
    )


def _project_changes(
    base: Project, head: Project, where: Mapping[str, str], effective: list[Change], cosmetic: list[Change]
) -> None:
    """What the artifact does not hold: settings of datastreams, destinations and catalog
    audiences (every field the artifact and the cosmetic kinds do not cover, so that a field
    added to the config later shows up as effective), the rest of the catalogs, the policies
    files; and the cosmetic changes."""
    b_ds = {e.model.id: e for e in base.datastreams}
    h_ds = {e.model.id: e for e in head.datastreams}
    for ds in _changed(b_ds, h_ds):
        old, new = b_ds[ds].model, h_ds[ds].model
        for name, was, now in _other_fields(old, new, _IN_ARTIFACT_OR_COSMETIC["datastream"]):
            effective.append(Change("datastream_setting_changed", ds, field=name, before=was, after=now))
        _texts(old, new, cosmetic, datastream=ds)
    b_dest = {e.model.id: e for e in base.destinations}
    h_dest = {e.model.id: e for e in head.destinations}
    for dest in _changed(b_dest, h_dest):
        old_d, new_d = b_dest[dest].model, h_dest[dest].model
        on = where.get(dest)
        for name, was, now in _other_fields(old_d, new_d, _IN_ARTIFACT_OR_COSMETIC["destination"]):
            if name == "marketing_actions":
                if sorted(was) != sorted(now):
                    effective.append(Change("marketing_actions_changed", on, dest, before=sorted(was), after=sorted(now)))
            else:
                effective.append(Change("destination_setting_changed", on, dest, field=name, before=was, after=now))
        _texts(old_d, new_d, cosmetic, datastream=on, destination=dest)
    # audiences of catalog files that are the same on both sides are the same
    same = {(e.doc.relpath, e.doc.source.sha256) for e in base.catalogs} & {
        (e.doc.relpath, e.doc.source.sha256) for e in head.catalogs
    }
    b_aud = {a.id: a for e in base.catalogs if (e.doc.relpath, e.doc.source.sha256) not in same for a in e.model.audiences}
    h_aud = {a.id: a for e in head.catalogs if (e.doc.relpath, e.doc.source.sha256) not in same for a in e.model.audiences}
    for audience in sorted(b_aud.keys() & h_aud.keys()):
        old_a, new_a = b_aud[audience], h_aud[audience]
        for name, was, now in _other_fields(old_a, new_a, _IN_ARTIFACT_OR_COSMETIC["audience"]):
            effective.append(Change("audience_setting_changed", audience=audience, field=name, before=was, after=now))
        if old_a.name != new_a.name:
            cosmetic.append(Change("name_changed", audience=audience, before=old_a.name, after=new_a.name))
    _other_config(base, head, effective)
    _file_changes(base, head, where, cosmetic)


def _changed(old: Mapping[str, Entry[Any]], new: Mapping[str, Entry[Any]]) -> list[str]:
    """IDs on both sides whose files differ: the same bytes declare the same thing."""
    return sorted(
        key for key in old.keys() & new.keys() if old[key].doc.source.sha256 != new[key].doc.source.sha256
    )


_IN_ARTIFACT_OR_COSMETIC = {
    "datastream": {"id", "name", "description", "access"},
    "destination": {"id", "name", "description", "alias", "datastream", "attributes", "audiences"},
    "audience": {"id", "name", "namespace"},
}


def _other_fields(old: Any, new: Any, covered: set[str]) -> list[tuple[str, Any, Any]]:
    was = old.model_dump(mode="json", exclude=covered)
    now = new.model_dump(mode="json", exclude=covered)
    return [(name, was.get(name), now.get(name)) for name in sorted(was.keys() | now.keys()) if was.get(name) != now.get(name)]


def _other_config(base: Project, head: Project, effective: list[Change]) -> None:
    """A catalog's merge policies, datasets and field labels, and the policies/ files: what Adobe
    evaluates and enforces. Named by file (``config_changed``), not described further."""
    # exported_at says when the catalog was imported, which changes no answer
    old: dict[str, Any] = {e.doc.relpath: _unordered(e.model.model_dump(mode="json", exclude={"audiences", "exported_at"})) for e in base.catalogs}
    new: dict[str, Any] = {e.doc.relpath: _unordered(e.model.model_dump(mode="json", exclude={"audiences", "exported_at"})) for e in head.catalogs}
    old_by_sandbox = {e.model.sandbox: e.doc.relpath for e in base.catalogs}
    for e in head.catalogs:  # a catalog file renamed is compared with the one of its sandbox
        was = old_by_sandbox.get(e.model.sandbox)
        if was is not None and was != e.doc.relpath and was in old:
            old[e.doc.relpath] = old.pop(was)
    for path in sorted(old.keys() & new.keys()):
        if old[path] != new[path]:
            effective.append(Change("config_changed", field=path))
    old_p = {e.doc.relpath: _unordered(e.model.model_dump(mode="json")) for e in base.policies}
    new_p = {e.doc.relpath: _unordered(e.model.model_dump(mode="json")) for e in head.policies}
    for path in sorted(old_p.keys() | new_p.keys()):
        if old_p.get(path) != new_p.get(path):
            effective.append(Change("config_changed", field=path))


def _texts(old: Any, new: Any, cosmetic: list[Change], *, datastream: str | None, destination: str | None = None) -> None:
    for name, kind in (("name", "name_changed"), ("description", "description_changed")):
        if getattr(old, name) != getattr(new, name):
            cosmetic.append(Change(kind, datastream, destination, before=getattr(old, name), after=getattr(new, name)))


def _entries(project: Project, where: Mapping[str, str]) -> dict[tuple[str, str], tuple[Entry[Any], str | None, str | None]]:
    """Each file's entry by what it declares, with the datastream and destination it is about."""
    out: dict[tuple[str, str], tuple[Entry[Any], str | None, str | None]] = {}
    for e in project.datastreams:
        out[("datastream", e.model.id)] = (e, e.model.id, None)
    for d in project.destinations:
        out[("destination", d.model.id)] = (d, where.get(d.model.id), d.model.id)
    for c in project.catalogs:
        out[("catalog", c.model.sandbox)] = (c, None, None)
    return out


def _file_changes(base: Project, head: Project, where: Mapping[str, str], cosmetic: list[Change]) -> None:
    """Files renamed or moved, and files that changed without a change of what they declare:
    comments, layout, quoting, a datastream named by its file instead of its ID
    (``formatting_only``, when nothing else in the file changed), or the order of list items
    (``ordering_only``)."""
    old_files, new_files = _entries(base, where), _entries(head, where)
    for key in sorted(old_files.keys() & new_files.keys()):
        (old, _, _), (new, ds, dest) = old_files[key], new_files[key]
        if old.doc.relpath != new.doc.relpath:
            cosmetic.append(Change("file_renamed", ds, dest, field=new.doc.relpath, before=old.doc.relpath, after=new.doc.relpath))
        if old.doc.source.sha256 == new.doc.source.sha256:
            continue
        was, now = _declared(old, where), _declared(new, where)
        if was == now:
            texts = ("name", "description")
            if all(getattr(old.model, t, None) == getattr(new.model, t, None) for t in texts):
                cosmetic.append(Change("formatting_only", ds, dest, field=new.doc.relpath))
        elif _unordered(was) == _unordered(now):
            cosmetic.append(Change("ordering_only", ds, dest, field=new.doc.relpath))


def _declared(entry: Entry[Any], where: Mapping[str, str]) -> Any:
    """What a file declares, without its name and description, and with a destination's
    datastream as the ID it resolves to."""
    data = entry.model.model_dump(mode="json", exclude={"name", "description"})
    if "datastream" in data and "alias" in data:
        data["datastream"] = where.get(entry.model.id, data["datastream"])
    return data


def _unordered(value: Any) -> Any:
    """``value`` with every list sorted (by its items' JSON form), so that order does not count."""
    if isinstance(value, dict):
        return {k: _unordered(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted((_unordered(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    return value
