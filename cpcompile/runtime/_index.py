"""Check the shape of an artifact body and index it for lookups.

The decoded body is already shaped for the hot path (datastream first, then audience ID), so
the index keeps each datastream's ``audiences`` object as decoded and only precomputes the
small parts: destinations as ``(destinationId, alias, attribute specs)`` tuples and which
destinations have attributes. Converting the 200,000 mapping objects of a large artifact into
tuples would cost 100-250 ms per load (about as much as decoding them) and save nothing
measurable per request, where only the few audiences a profile hits are looked at.

The shape check is the costly part of a load (~50 ms for 200,000 mappings, mostly memory
traffic), so it runs as a few C-level passes (``map``, ``set``, ``itemgetter``) over all
audiences and mappings of a datastream; only when a pass finds a problem does a slow scan look
for the first offending item to name it.
"""

from __future__ import annotations

from itertools import chain, compress
from operator import itemgetter

from cpcompile.artifact_format.body import (
    ACCESS,
    ATTRIBUTE,
    AUDIENCE,
    BODY,
    DATASTREAM,
    DESTINATION,
    MAPPING,
)
from cpcompile.artifact_format.errors import ArtifactCorrupt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, NoReturn, Tuple

    # (target, source path split at dots), sorted by target
    AttributeSpecs = Tuple[Tuple[str, Tuple[str, ...]], ...]
    # (destinationId, alias, attribute specs)
    Destination = Tuple[str, str, AttributeSpecs]
    # (audience id -> {"namespace", "mappings"}, destinations, indexes of those with
    # attributes, whether only authenticated calls are answered, whether every audience ID is
    # made of lower-case hex digits and dashes, like the UUIDs the compiler writes, and what
    # the lookups keep of each audience on its first hit: [item heads or None,
    # {audience ID: (segment JSON, sole window-free destination or None, namespace)},
    # lookup_shared's plan or None])
    DatastreamIndex = Tuple[
        Dict[str, Any], Tuple[Destination, ...], Tuple[int, ...], bool, bool, List[Any]
    ]

# every key name and allowed value comes from the format's declaration (artifact_format/body.py)
_DATASTREAMS = BODY.keys["datastreams"]
_ACCESS, _DESTINATIONS, _AUDIENCES = (DATASTREAM.keys[k] for k in ("access", "destinations", "audiences"))
_ALIAS, _DESTINATION_ID, _ATTRIBUTES = (DESTINATION.keys[k] for k in ("alias", "destinationId", "attributes"))
_SOURCE, _TARGET = ATTRIBUTE.keys["source"], ATTRIBUTE.keys["target"]
_NAMESPACE, _MAPPINGS = AUDIENCE.keys["namespace"], AUDIENCE.keys["mappings"]
_DESTINATION, _START, _END = MAPPING.keys["destination"], MAPPING.keys["start"], MAPPING.keys["end"]
_ACCESS_SINCE = DATASTREAM.field(_ACCESS).since
ACCESS_TYPES = ACCESS.values
_AUTHENTICATED_ONLY = ACCESS_TYPES[ACCESS_TYPES.index("authenticated-only")]

_namespace_of = itemgetter(_NAMESPACE)
_mappings_of = itemgetter(_MAPPINGS)
_destination_of = itemgetter(_DESTINATION)


def build_index(body: dict[str, Any], schema_version: int) -> dict[str, DatastreamIndex]:
    """``schema_version`` 1 has no ``access`` (every datastream is ``mixed``); from 2 on every
    datastream has one."""
    datastreams = body.get(_DATASTREAMS)
    if type(datastreams) is not dict:
        _corrupt(f"body.{_DATASTREAMS}", "must be an object")
    index = {}
    for datastream_id, entry in datastreams.items():
        where = f"body.{_DATASTREAMS}[{datastream_id!r}]"
        if type(datastream_id) is not str or not datastream_id:
            _corrupt(where, "datastream IDs must be non-empty strings")
        index[datastream_id] = _datastream(entry, where, schema_version)
    return index


def _datastream(entry: object, where: str, schema_version: int) -> DatastreamIndex:
    if type(entry) is not dict:
        _corrupt(where, "must be an object")
    authenticated_only = _authenticated_only(entry, where, schema_version)
    raw_destinations = entry.get(_DESTINATIONS)
    if type(raw_destinations) is not list:
        _corrupt(f"{where}.{_DESTINATIONS}", "must be an array")
    destinations = tuple(
        _destination(d, f"{where}.{_DESTINATIONS}[{i}]") for i, d in enumerate(raw_destinations)
    )
    audiences = entry.get(_AUDIENCES)
    if type(audiences) is not dict:
        _corrupt(f"{where}.{_AUDIENCES}", "must be an object")
    _check_audiences(audiences, len(destinations), f"{where}.{_AUDIENCES}")
    with_attributes = tuple(i for i, d in enumerate(destinations) if d[2])
    fragments: list[Any] = [None, {}, None]  # filled by the lookups, on first use
    return audiences, destinations, with_attributes, authenticated_only, _hex_ids(audiences), fragments


def _hex_ids(audiences: dict[str, Any]) -> bool:
    """Whether every audience ID is lower-case hex digits and dashes (a C-level pass, ~20 µs
    for 1,000 IDs). Then only A-F can make a request's ID differ from one by case alone."""
    return not "".join(audiences).encode("utf-8").translate(None, b"0123456789abcdef-")


def _authenticated_only(entry: dict[str, Any], where: str, schema_version: int) -> bool:
    """Version 1 artifacts predate ``access``: all their datastreams are ``mixed``. Any other
    value than the two known ones is refused rather than guessed at."""
    if schema_version < _ACCESS_SINCE:
        return False
    access = entry.get(_ACCESS)
    if access not in ACCESS_TYPES or type(access) is not str:
        _corrupt(f"{where}.{_ACCESS}", f"must be one of {', '.join(map(repr, ACCESS_TYPES))}")
    return access == _AUTHENTICATED_ONLY


def _destination(raw: object, where: str) -> Destination:
    if type(raw) is not dict:
        _corrupt(where, "must be an object")
    destination_id, alias = raw.get(_DESTINATION_ID), raw.get(_ALIAS)
    if type(destination_id) is not str or not destination_id:
        _corrupt(f"{where}.{_DESTINATION_ID}", "must be a non-empty string")
    if type(alias) is not str or not alias:
        _corrupt(f"{where}.{_ALIAS}", "must be a non-empty string")
    attributes = raw.get(_ATTRIBUTES, [])
    if type(attributes) is not list:
        _corrupt(f"{where}.{_ATTRIBUTES}", "must be an array")
    specs = tuple(_attribute(a, f"{where}.{_ATTRIBUTES}[{i}]") for i, a in enumerate(attributes))
    return destination_id, alias, specs


def _attribute(raw: object, where: str) -> tuple[str, tuple[str, ...]]:
    if type(raw) is not dict:
        _corrupt(where, "must be an object")
    source, target = raw.get(_SOURCE), raw.get(_TARGET)
    if type(target) is not str or not target:
        _corrupt(f"{where}.{_TARGET}", "must be a non-empty string")
    if type(source) is not str or "" in source.split("."):
        _corrupt(f"{where}.{_SOURCE}", "must be a dot-separated path of non-empty names")
    return target, tuple(source.split("."))


def _check_audiences(audiences: dict[str, Any], n_destinations: int, where: str) -> None:
    """Fast passes over every audience and mapping; ``_explain`` names the first problem.

    Keys need no check: JSON object keys are strings, and a msgpack body with other keys has
    already failed its revision check (it cannot be re-encoded as JSON). Values can only be
    JSON types, so ``itemgetter`` raising KeyError or TypeError covers "not an object",
    "missing key" and "not an array" for non-empty values; the type of each ``mappings`` is
    checked too, so that an empty object or string cannot pass for an empty array.
    """
    if "" in audiences:
        _corrupt(where, "audience IDs must be non-empty strings")
    try:
        namespaces = set(map(_namespace_of, audiences.values()))
        mapping_lists = list(map(_mappings_of, audiences.values()))
        if mapping_lists and not _all_of_type(mapping_lists, list):
            _explain(audiences, n_destinations, where)
        mappings = list(chain.from_iterable(mapping_lists))
        destinations = list(map(_destination_of, mappings))
    except (KeyError, TypeError):
        _explain(audiences, n_destinations, where)
    if not all(type(ns) is str and ns for ns in namespaces):
        _explain(audiences, n_destinations, where)
    if destinations and not (
        _all_of_type(destinations, int)
        and 0 <= min(destinations)
        and max(destinations) < n_destinations
    ):
        _explain(audiences, n_destinations, where)
    # most mappings have no window: only those with more keys than 'destination' are looked at
    for mapping in compress(mappings, map((1).__ne__, map(len, mappings))):
        if not _valid_window(mapping):
            _explain(audiences, n_destinations, where)


def _explain(audiences: dict[str, Any], n_destinations: int, where: str) -> NoReturn:
    """The slow scan after a fast pass failed: raise for the first offending item."""
    for audience_id, audience in audiences.items():
        at = f"{where}[{audience_id!r}]"
        if type(audience) is not dict:
            _corrupt(at, "must be an object")
        if _NAMESPACE not in audience or _MAPPINGS not in audience:
            _corrupt(at, f"needs {_NAMESPACE!r} and {_MAPPINGS!r}")
        if type(audience[_NAMESPACE]) is not str or not audience[_NAMESPACE]:
            _corrupt(f"{at}.{_NAMESPACE}", "must be a non-empty string")
        if type(audience[_MAPPINGS]) is not list:
            _corrupt(f"{at}.{_MAPPINGS}", "must be an array")
        for i, mapping in enumerate(audience[_MAPPINGS]):
            destination = mapping.get(_DESTINATION) if type(mapping) is dict else None
            if type(destination) is not int or not 0 <= destination < n_destinations:
                _corrupt(
                    f"{at}.{_MAPPINGS}[{i}]",
                    f"must be an object with an integer {_DESTINATION!r} in 0..{n_destinations - 1}",
                )
            if not _valid_window(mapping):
                _corrupt(
                    f"{at}.{_MAPPINGS}[{i}]",
                    f"start and end must be integer Unix seconds: {mapping!r}",
                )
    raise AssertionError("a fast check failed but no item is wrong")  # pragma: no cover


def _valid_window(mapping: dict[str, Any]) -> bool:
    return type(mapping.get(_START, 0)) is int and type(mapping.get(_END, 0)) is int


def _all_of_type(values: Any, kind: type) -> bool:
    # exact types on purpose: bool is not an integer here, and JSON gives no subclasses
    return set(map(type, values)) <= {kind}


def _corrupt(where: str, problem: str) -> NoReturn:
    raise ArtifactCorrupt(f"artifact has the wrong shape: {where} {problem}")
