"""Project → artifact body: pure and deterministic (no clock, no environment, no paths).

The body's shape is the contract in docs/artifact.md; change it only with a schema version bump.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .model import Destination, window_bounds
from .project import Project, datastream_index

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
    """The artifact body of a project that validated without errors."""
    datastreams = datastream_index(project)
    namespaces = {a.id: a.namespace for c in project.catalogs for a in c.model.audiences}
    by_datastream: dict[str, list[Destination]] = defaultdict(list)
    for entry in project.destinations:
        by_datastream[datastreams[entry.model.datastream].model.id].append(entry.model)
    return {
        "datastreams": {
            entry.model.id: {
                "access": entry.model.access,
                **_datastream_entry(by_datastream[entry.model.id], namespaces),
            }
            for entry in project.datastreams
        }
    }


def _datastream_entry(destinations: list[Destination], namespaces: Mapping[str, str]) -> dict[str, Any]:
    destinations = sorted(destinations, key=lambda d: (d.alias, d.id))
    audiences: dict[str, dict[str, Any]] = {}
    for index, destination in enumerate(destinations):
        for mapping in destination.audiences:
            item: dict[str, int] = {"destination": index}
            if mapping.start is not None or mapping.end is not None:
                start, end = window_bounds(mapping.start, mapping.end)
                if start is not None:
                    item["start"] = start
                if end is not None:
                    item["end"] = end
            audience = audiences.get(mapping.id)
            if audience is None:
                audience = audiences[mapping.id] = {
                    "namespace": namespaces.get(mapping.id, DEFAULT_NAMESPACE),
                    "mappings": [],
                }
            audience["mappings"].append(item)
    return {"destinations": [_destination_entry(d) for d in destinations], "audiences": audiences}


def _destination_entry(destination: Destination) -> dict[str, Any]:
    entry: dict[str, Any] = {"alias": destination.alias, "destinationId": destination.id}
    if destination.attributes:
        entry["attributes"] = [
            {"source": a.source, "target": a.target}
            for a in sorted(destination.attributes, key=lambda a: a.target)
        ]
    return entry


def count(body: dict[str, Any]) -> Counts:
    datastreams = body["datastreams"].values()
    return Counts(
        datastreams=len(body["datastreams"]),
        destinations=sum(len(d["destinations"]) for d in datastreams),
        audiences=len({a for d in datastreams for a in d["audiences"]}),
        mappings=sum(len(a["mappings"]) for d in datastreams for a in d["audiences"].values()),
    )
