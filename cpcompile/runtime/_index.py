"""Check the shape of an artifact body and index it for lookups.

The decoded body is already shaped for the hot path (datastream first, then audience ID), so
the index keeps each datastream's ``audiences`` object as decoded and only precomputes the
small parts: destinations as ``(destinationId, alias, attribute specs)`` tuples and which
destinations have attributes. Converting the 200,000 mapping objects of a large artifact into
tuples would cost 100-250 ms per load (about as much as decoding them) and save nothing
measurable per request, where only the few audiences a profile hits are looked at.

The shape check is the costly part of a load, so it runs as C-level passes (``map``, ``set``,
``itemgetter``) over all audiences and mappings at once; only when a pass finds a problem does
a slow scan look for the first offending item to name it.
"""

from __future__ import annotations

from itertools import chain, compress
from operator import itemgetter

from cpcompile._format import ArtifactCorrupt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, NoReturn, Tuple

    # (target, source path split at dots), sorted by target
    AttributeSpecs = Tuple[Tuple[str, Tuple[str, ...]], ...]
    # (destinationId, alias, attribute specs)
    Destination = Tuple[str, str, AttributeSpecs]
    # (audience id -> {"namespace", "mappings"}, destinations, indexes of those with attributes)
    DatastreamIndex = Tuple[Dict[str, Any], Tuple[Destination, ...], Tuple[int, ...]]

_namespace_of = itemgetter("namespace")
_mappings_of = itemgetter("mappings")
_destination_of = itemgetter("destination")


def build_index(body: dict[str, Any]) -> dict[str, DatastreamIndex]:
    datastreams = body.get("datastreams")
    if type(datastreams) is not dict:
        _corrupt("body.datastreams", "must be an object")
    index = {}
    for datastream_id, entry in datastreams.items():
        where = f"body.datastreams[{datastream_id!r}]"
        if type(datastream_id) is not str or not datastream_id:
            _corrupt(where, "datastream IDs must be non-empty strings")
        index[datastream_id] = _datastream(entry, where)
    return index


def _datastream(entry: object, where: str) -> DatastreamIndex:
    if type(entry) is not dict:
        _corrupt(where, "must be an object")
    raw_destinations = entry.get("destinations")
    if type(raw_destinations) is not list:
        _corrupt(f"{where}.destinations", "must be an array")
    destinations = tuple(
        _destination(d, f"{where}.destinations[{i}]") for i, d in enumerate(raw_destinations)
    )
    audiences = entry.get("audiences")
    if type(audiences) is not dict:
        _corrupt(f"{where}.audiences", "must be an object")
    _check_audiences(audiences, len(destinations), f"{where}.audiences")
    with_attributes = tuple(i for i, d in enumerate(destinations) if d[2])
    return audiences, destinations, with_attributes


def _destination(raw: object, where: str) -> Destination:
    if type(raw) is not dict:
        _corrupt(where, "must be an object")
    destination_id, alias = raw.get("destinationId"), raw.get("alias")
    if type(destination_id) is not str or not destination_id:
        _corrupt(f"{where}.destinationId", "must be a non-empty string")
    if type(alias) is not str or not alias:
        _corrupt(f"{where}.alias", "must be a non-empty string")
    attributes = raw.get("attributes", [])
    if type(attributes) is not list:
        _corrupt(f"{where}.attributes", "must be an array")
    specs = tuple(_attribute(a, f"{where}.attributes[{i}]") for i, a in enumerate(attributes))
    return destination_id, alias, specs


def _attribute(raw: object, where: str) -> tuple[str, tuple[str, ...]]:
    if type(raw) is not dict:
        _corrupt(where, "must be an object")
    source, target = raw.get("source"), raw.get("target")
    if type(target) is not str or not target:
        _corrupt(f"{where}.target", "must be a non-empty string")
    if type(source) is not str or "" in source.split("."):
        _corrupt(f"{where}.source", "must be a dot-separated path of non-empty names")
    return target, tuple(source.split("."))


def _check_audiences(audiences: dict[str, Any], n_destinations: int, where: str) -> None:
    if not audiences:
        return
    if not _all_of_type(audiences, str) or "" in audiences:
        _corrupt(where, "audience IDs must be non-empty strings")
    entries = list(audiences.values())
    if not _all_of_type(entries, dict):
        _first_bad(audiences, where, "must be an object", lambda v: type(v) is dict)
    try:
        namespaces = list(map(_namespace_of, entries))
        mapping_lists = list(map(_mappings_of, entries))
    except KeyError:
        _first_bad(audiences, where, "needs 'namespace' and 'mappings'", _has_audience_keys)
    if not _all_of_type(namespaces, str) or "" in namespaces:
        _first_bad(audiences, where, "namespace must be a non-empty string", _has_namespace)
    if not _all_of_type(mapping_lists, list):
        _first_bad(
            audiences, where, "mappings must be an array", lambda v: type(v["mappings"]) is list
        )
    _check_mappings(list(chain.from_iterable(mapping_lists)), n_destinations, where)


def _check_mappings(mappings: list[Any], n_destinations: int, where: str) -> None:
    problem = f"mappings must be objects with an integer 'destination' in 0..{n_destinations - 1}"
    if not mappings:
        return
    if not _all_of_type(mappings, dict):
        _corrupt(where, problem)
    try:
        destinations = list(map(_destination_of, mappings))
    except KeyError:
        _corrupt(where, problem)
    if not _all_of_type(destinations, int) or not (
        0 <= min(destinations) and max(destinations) < n_destinations
    ):
        _corrupt(where, problem)
    # most mappings have no window: only those with more keys than 'destination' are looked at
    for mapping in compress(mappings, map((1).__ne__, map(len, mappings))):
        _check_window(mapping, where)


def _check_window(mapping: dict[str, Any], where: str) -> None:
    for bound in ("start", "end"):
        if bound in mapping and type(mapping[bound]) is not int:
            _corrupt(where, f"a mapping's {bound} must be integer Unix seconds: {mapping!r}")


def _all_of_type(values: Any, kind: type) -> bool:
    # exact types on purpose: bool is not an integer here, and JSON gives no subclasses
    return set(map(type, values)) <= {kind}


def _has_audience_keys(value: dict[str, Any]) -> bool:
    return "namespace" in value and "mappings" in value


def _has_namespace(value: dict[str, Any]) -> bool:
    return type(value["namespace"]) is str and value["namespace"] != ""


def _first_bad(
    audiences: dict[str, Any], where: str, problem: str, ok: Callable[[Any], bool]
) -> NoReturn:
    for audience_id, value in audiences.items():
        if not ok(value):
            _corrupt(f"{where}[{audience_id!r}]", problem)
    _corrupt(where, problem)  # not reached: a pass said something is wrong


def _corrupt(where: str, problem: str) -> NoReturn:
    raise ArtifactCorrupt(f"artifact has the wrong shape: {where} {problem}")
