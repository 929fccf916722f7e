"""Project → artifact body: pure and deterministic (no clock, no environment, no paths).

The body's shape is declared in cpcompile/artifact_format/body.py, and every entry is built
through it; cpcompile/artifact_format/README.md says how to change it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from .artifact_format.body import ATTRIBUTE, AUDIENCE, BODY, DATASTREAM, DESTINATION, MAPPING
from .project import Project, datastream_index
from .values import window_bounds

if TYPE_CHECKING:
    from .model import AudienceMapping, Destination

DEFAULT_NAMESPACE = "ups"


@dataclass(frozen=True)
class Counts:
    datastreams: int
    destinations: int
    audiences: int  # distinct audiences mapped to at least one destination
    mappings: int

    def as_dict(self) -> dict[str, int]:
        return {
            "audiences": self.audiences,
            "datastreams": self.datastreams,
            "destinations": self.destinations,
            "mappings": self.mappings,
        }


def compile_body(project: Project) -> dict[str, Any]:
    """The artifact body of a project that validated without errors.

    Every object's keys are in sorted order, as in the canonical JSON, so that the msgpack
    encoding (which keeps insertion order) can pack the body as it is."""
    datastreams = datastream_index(project)
    namespaces = audience_namespaces(project)
    by_datastream: dict[str, list[Destination]] = defaultdict(list)
    for entry in project.destinations:
        by_datastream[datastreams[entry.model.datastream].model.id].append(entry.model)
    entries = {
        entry.model.id: compile_datastream(entry.model.access, by_datastream[entry.model.id], namespaces)
        for entry in project.datastreams
    }
    return BODY.entry(datastreams=dict(sorted(entries.items())))


def audience_namespaces(project: Project) -> dict[str, str]:
    """Each catalog audience's identity namespace (an audience in no catalog: DEFAULT_NAMESPACE)."""
    return {a.id: a.namespace for c in project.catalogs for a in c.model.audiences}


# mappings and audiences are the most numerous entries: built as plain dicts with the declared
# key names, in sorted order, rather than through Record.entry
_DESTINATION, _START, _END = MAPPING.keys["destination"], MAPPING.keys["start"], MAPPING.keys["end"]
_MAPPINGS, _NAMESPACE = AUDIENCE.keys["mappings"], AUDIENCE.keys["namespace"]


def compile_datastream(
    access: str, destinations: list[Destination], namespaces: Mapping[str, str]
) -> dict[str, Any]:
    """One datastream's entry of the body: it depends on nothing but its own destinations (in any
    order), its access and the catalogs' namespaces, so a build can keep it (incremental.py)."""
    destinations = sorted(destinations, key=lambda d: (d.alias, d.id))
    mappings: defaultdict[str, list[dict[str, int]]] = defaultdict(list)
    for index, destination in enumerate(destinations):
        # one object for every mapping of this destination without a window: the body is only
        # read and encoded, and at scale one dict per mapping was a third of its memory
        plain = {_DESTINATION: index}
        for mapping in destination.audiences:
            if mapping.start is None and mapping.end is None:
                mappings[mapping.id].append(plain)
            else:
                mappings[mapping.id].append(_windowed(index, mapping))
    return DATASTREAM.entry(
        access=access,
        audiences={
            audience: {_MAPPINGS: items, _NAMESPACE: namespaces.get(audience, DEFAULT_NAMESPACE)}
            for audience, items in sorted(mappings.items())
        },
        destinations=[_destination_entry(d) for d in destinations],
    )


def _windowed(index: int, mapping: AudienceMapping) -> dict[str, int]:
    start, end = window_bounds(mapping.start, mapping.end)
    item = {_DESTINATION: index}
    if end is not None:
        item[_END] = end
    if start is not None:
        item[_START] = start
    return item


def _destination_entry(destination: Destination) -> dict[str, Any]:
    optional: dict[str, Any] = {}
    if destination.attributes:
        optional["attributes"] = [
            ATTRIBUTE.entry(source=a.source, target=a.target)
            for a in sorted(destination.attributes, key=lambda a: a.target)
        ]
    return DESTINATION.entry(alias=destination.alias, destinationId=destination.id, **optional)


def count(body: dict[str, Any]) -> Counts:
    datastreams = body["datastreams"].values()
    audiences: set[str] = set()
    mappings = 0
    for datastream in datastreams:
        audiences.update(datastream["audiences"])
        mappings += sum(map(len, map(_mappings_of, datastream["audiences"].values())))
    return Counts(
        datastreams=len(body["datastreams"]),
        destinations=sum(len(d["destinations"]) for d in datastreams),
        audiences=len(audiences),
        mappings=mappings,
    )


_mappings_of = itemgetter(_MAPPINGS)
