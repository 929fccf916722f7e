"""A loaded artifact and the hot path: ``Artifact.lookup``.

``lookup`` does, per request: one dict lookup for the datastream; one C-level set intersection
of the profile's audience IDs with the datastream's audiences (``dict.keys() & ids`` iterates
the smaller side in C, so a 50-membership profile costs about as much as 50 bare dict probes);
then Python work only for the few audiences that hit. The clock is read only if a hit has a
time window. Everything returned is built fresh per call, so callers may mutate it.
"""

from __future__ import annotations

import _thread

# collections.abc re-exports Mapping from here; importing collections.abc itself would load
# the whole collections package (~1.5 ms) on every replica for an isinstance fallback
from _collections_abc import Mapping
from math import isfinite
from time import time as _time

from cpcompile.runtime._index import build_index

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Iterable, List, Union

    from cpcompile.runtime._index import AttributeSpecs, Destination

    Memberships = Union[Iterable[str], Mapping[str, Mapping[str, Any]]]
    Payload = List[Dict[str, Any]]

# containers of audience IDs that the hot path intersects directly; anything else goes through
# _found, which tells a segmentMembership map, a bare string and other iterables apart
_ID_COLLECTIONS = frozenset((list, tuple, set, frozenset, type({}.keys())))
_NEG_INF = float("-inf")
_INF = float("inf")
_MISSING = object()
_EXITED = "exited"


class Stats:
    """Counters of one artifact's lookups. ``unknown_datastreams``: requests for a datastream
    the artifact does not know (answered with ``[]``)."""

    __slots__ = ("unknown_datastreams", "_lock")

    def __init__(self) -> None:
        self.unknown_datastreams = 0
        # `+=` on an attribute is not atomic across threads
        self._lock = _thread.allocate_lock()

    def count_unknown_datastream(self) -> None:
        with self._lock:
            self.unknown_datastreams += 1

    def __repr__(self) -> str:
        return f"Stats(unknown_datastreams={self.unknown_datastreams})"


class Artifact:
    """A verified, indexed artifact. Immutable; safe to share between threads.

    Make one with ``cpcompile.runtime.load`` / ``loads``; the constructor takes a document
    that ``_format.read_document`` has verified and checks the shape of its body.
    """

    __slots__ = ("_revision", "_datastream_ids", "_index", "stats")

    def __init__(self, document: dict[str, Any]) -> None:
        self._revision: str = document["revision"]
        self._index = build_index(document["body"])
        self._datastream_ids = tuple(sorted(self._index))
        self.stats = Stats()

    @property
    def revision(self) -> str:
        """``sha256:…``, the identity of the artifact's content."""
        return self._revision

    @property
    def datastream_ids(self) -> tuple[str, ...]:
        """Every datastream the artifact knows, also those without destinations, sorted."""
        return self._datastream_ids

    def __repr__(self) -> str:
        return f"<Artifact {self._revision[:19]}… {len(self._index)} datastreams>"

    def lookup(
        self,
        datastream_id: str,
        memberships: Memberships,
        *,
        now: Any = None,
        attributes: Mapping[str, Any] | None = None,
        authenticated: bool = False,
    ) -> Payload:
        """The ``activation:pull`` payload (the Web SDK's ``results.destinations``).

        ``memberships``: audience IDs (any iterable of str), or an XDM ``segmentMembership``
        map ``{namespace: {audience_id: {"status": ...}}}``. ``now``: aware datetime (naive is
        UTC), Unix seconds, or None for the current time. ``attributes``: the profile's
        attributes as nested dicts, used only when ``authenticated``. See docs/runtime.md.
        """
        try:
            entry = self._index.get(datastream_id)
        except TypeError:  # unhashable
            raise _not_a_datastream_id(datastream_id) from None
        if entry is None:
            return self._unknown(datastream_id, memberships)
        audiences, destinations, with_attributes = entry
        if type(memberships) in _ID_COLLECTIONS:
            try:
                found = audiences.keys() & memberships
            except TypeError as e:
                raise _bad_member(e) from None
        else:
            found = _found(audiences, memberships)
        if now is not None:
            now = epoch_seconds(now)
        if attributes is not None:
            _check_attributes(attributes)
            if authenticated and with_attributes:
                slots = _segments(audiences, found, now, len(destinations)) if found else None
                return _items_with_attributes(slots, destinations, attributes)
        if not found:
            return []
        return [
            {
                "type": "profileLookup",
                "destinationId": destination_id,
                "alias": alias,
                "segments": segments,
            }
            for (destination_id, alias, _), segments in zip(
                destinations, _segments(audiences, found, now, len(destinations))
            )
            if segments
        ]

    def _unknown(self, datastream_id: object, memberships: Any) -> Payload:
        if not isinstance(datastream_id, str):
            raise _not_a_datastream_id(datastream_id)
        _check_memberships(memberships)
        self.stats.count_unknown_datastream()
        return []


def _segments(
    audiences: dict[str, Any], found: Iterable[str], now: float | None, n_destinations: int
) -> list[list[dict[str, str]] | None]:
    """The segments of each destination (by index, ``None`` for none).

    Walking the hits in ID order sorts each list; a list indexed by destination (rather than a
    dict) keeps the destinations in order for free and is ~15 % faster for many hits.
    """
    slots: list[list[dict[str, str]] | None] = [None] * n_destinations
    for audience_id in sorted(found):
        audience = audiences[audience_id]
        namespace = audience["namespace"]
        for mapping in audience["mappings"]:
            if len(mapping) != 1:  # only {"destination"} has no window
                if now is None:
                    now = _time()
                if not mapping.get("start", _NEG_INF) <= now < mapping.get("end", _INF):
                    continue
            destination = mapping["destination"]
            segments = slots[destination]
            if segments is None:
                slots[destination] = [{"id": audience_id, "namespace": namespace}]
            else:
                segments.append({"id": audience_id, "namespace": namespace})
    return slots


def _items_with_attributes(
    slots: list[list[dict[str, str]] | None] | None,
    destinations: tuple[Destination, ...],
    attributes: Mapping[str, Any],
) -> Payload:
    items = []
    for d, (destination_id, alias, specs) in enumerate(destinations):
        segments = slots[d] if slots is not None else None
        values = project_attributes(attributes, specs) if specs else None
        if not segments and not values:
            continue
        item: dict[str, Any] = {
            "type": "profileLookup",
            "destinationId": destination_id,
            "alias": alias,
            "segments": segments or [],
        }
        if values:
            item["attributes"] = values
        items.append(item)
    return items


def project_attributes(
    attributes: Mapping[str, Any], specs: AttributeSpecs
) -> dict[str, dict[str, Any]]:
    """``{target: {"value": v}}`` for each spec whose source path holds a single value.

    Missing paths, ``None`` and non-scalar values (objects, arrays) are left out: the
    destination carries only single-valued attributes. Non-finite floats are left out too, as
    JSON cannot carry them.
    """
    values = {}
    for target, path in specs:
        value: Any = attributes
        for name in path:
            if type(value) is not dict and not isinstance(value, Mapping):
                value = _MISSING
                break
            value = value.get(name, _MISSING)
        if isinstance(value, (str, int, float)) and (type(value) is not float or isfinite(value)):
            values[target] = {"value": value}
    return values


def _found(audiences: dict[str, Any], memberships: Any) -> set[str]:
    """The audience IDs of ``memberships`` that the datastream maps, for inputs other than the
    common ID collections."""
    if isinstance(memberships, Mapping):
        return _found_in_membership_map(audiences, memberships)
    _check_memberships(memberships)
    try:
        return audiences.keys() & memberships
    except TypeError as e:
        raise _bad_member(e) from None


def _found_in_membership_map(
    audiences: dict[str, Any], memberships: Mapping[str, Any]
) -> set[str]:
    """An entry counts when its namespace key is the audience's namespace and its status is
    not ``exited`` (``realized``, ``existing`` or none)."""
    if "segmentMembership" in memberships:
        raise ValueError(
            "memberships: pass the segmentMembership map itself (xdm['segmentMembership']), "
            "not the object that holds it"
        )
    found = set()
    for namespace, members in memberships.items():
        if type(members) is not dict and not isinstance(members, Mapping):
            raise TypeError(
                f"segmentMembership[{namespace!r}] must map audience IDs to membership "
                f"objects, got {type(members).__name__}"
            )
        for audience_id in audiences.keys() & members.keys():
            if audiences[audience_id]["namespace"] != namespace:
                continue
            membership = members[audience_id]
            if type(membership) is not dict and not isinstance(membership, Mapping):
                raise TypeError(
                    f"segmentMembership[{namespace!r}][{audience_id!r}] must be an object like "
                    f"{{'status': 'realized'}}, got {type(membership).__name__}"
                )
            if membership.get("status") != _EXITED:
                found.add(audience_id)
    return found


def _check_memberships(memberships: Any) -> None:
    if isinstance(memberships, (str, bytes, bytearray)):
        raise TypeError(
            "memberships must be a collection of audience IDs or a segmentMembership map, "
            f"not a single {type(memberships).__name__}; wrap one ID in a list"
        )
    if isinstance(memberships, Mapping):
        return
    try:
        iter(memberships)
    except TypeError:
        raise TypeError(
            "memberships must be a collection of audience IDs or a segmentMembership map, "
            f"got {type(memberships).__name__}"
        ) from None


def _check_attributes(attributes: object) -> None:
    if attributes is not None and not isinstance(attributes, Mapping):
        raise TypeError(
            f"attributes must be a mapping (the profile's XDM attributes), "
            f"got {type(attributes).__name__}"
        )


def _bad_member(error: TypeError) -> TypeError:
    return TypeError(f"memberships must hold audience ID strings: {error}")


def _not_a_datastream_id(datastream_id: object) -> TypeError:
    return TypeError(f"datastream_id must be a str, got {type(datastream_id).__name__}")


def epoch_seconds(now: Any) -> float:
    """Unix seconds from an aware datetime (naive means UTC) or a finite int/float."""
    kind = type(now)
    if kind is int:
        return now
    if kind is float or (isinstance(now, (int, float)) and kind is not bool):
        if isfinite(now):
            return now
        raise ValueError(f"now must be a finite number of seconds, got {now!r}")
    import datetime  # already loaded by whoever made a datetime, so free on that path

    if isinstance(now, datetime.datetime):
        if now.utcoffset() is None:
            now = now.replace(tzinfo=datetime.timezone.utc)
        return now.timestamp()
    raise TypeError(
        f"now must be a datetime, Unix seconds (int or float) or None, got {kind.__name__}"
    )
