"""Profiles behind one small interface, so a store shared by many replicas drops in.

A profile is what the lookup needs of a visitor: audience memberships (an XDM
``segmentMembership`` map, statuses included) and attributes, keyed by identity namespace + id.
The interface is asynchronous because a networked store must never block the event loop; the
embedded SQLite store answers from local disk in microseconds and is called inline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Protocol

from .identity import Identity

DEFAULT_NAMESPACE = "ups"
MAX_MEMBERSHIPS = 10_000
MAX_PROFILE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Profile:
    """``memberships``: ``{namespace: {audience_id: {"status": ...}}}``; ``attributes``: nested JSON."""

    memberships: Mapping[str, Mapping[str, Mapping[str, Any]]]
    attributes: Mapping[str, Any] | None = None

    def to_json(self) -> str:
        document: dict[str, Any] = {"segmentMembership": self.memberships}
        if self.attributes is not None:
            document["attributes"] = self.attributes
        return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class ProfileError(ValueError):
    """A profile document that cannot be stored; the message says what to fix."""


class StoreUnavailable(RuntimeError):
    """The store did not answer in time or at all; the request is answered degraded."""


class ProfileStore(Protocol):
    """What the service needs of a profile store. Implementations: ``SqliteProfileStore``."""

    async def get(self, identity: Identity) -> Profile | None:
        """The profile, None when unknown; raises ``StoreUnavailable`` when it cannot tell."""

    async def put(self, identity: Identity, profile: Profile) -> None: ...

    async def put_many(self, profiles: Iterable[tuple[Identity, Profile]]) -> int:
        """Stores every profile; returns how many."""

    async def ready(self) -> bool:
        """True when the store answers now (the readiness probe)."""

    async def close(self) -> None: ...


def profile_from_json(document: object) -> Profile:
    """A profile from ``{"segmentMembership" | "memberships": ..., "attributes": {...}}``.

    ``memberships`` may be a list of audience IDs (realized, in the ``ups`` namespace) or an XDM
    ``segmentMembership`` map. Unknown keys are refused so that a typo cannot drop data silently.
    """
    if not isinstance(document, Mapping):
        raise ProfileError("a profile must be a JSON object with 'segmentMembership' or 'memberships'")
    unknown = sorted(set(document) - {"segmentMembership", "memberships", "attributes"})
    if unknown:
        raise ProfileError(
            f"unknown field {unknown[0]!r} in a profile; expected 'segmentMembership' "
            "(or 'memberships') and optionally 'attributes'"
        )
    if "segmentMembership" in document and "memberships" in document:
        raise ProfileError("give either 'segmentMembership' or 'memberships', not both")
    raw = document.get("segmentMembership", document.get("memberships", {}))
    memberships = _memberships(raw)
    attributes = document.get("attributes")
    if attributes is not None and not isinstance(attributes, Mapping):
        raise ProfileError("'attributes' must be a JSON object of the profile's attributes")
    profile = Profile(memberships, attributes)
    if len(profile.to_json().encode("utf-8")) > MAX_PROFILE_BYTES:
        raise ProfileError(f"a profile may hold at most {MAX_PROFILE_BYTES // 1024} KB")
    return profile


def _memberships(raw: object) -> dict[str, dict[str, dict[str, Any]]]:
    if isinstance(raw, list):
        if len(raw) > MAX_MEMBERSHIPS:
            raise ProfileError(f"a profile may hold at most {MAX_MEMBERSHIPS} memberships")
        if not all(isinstance(item, str) and item for item in raw):
            raise ProfileError("'memberships' as a list holds audience IDs (non-empty strings)")
        return {DEFAULT_NAMESPACE: {item: {"status": "realized"} for item in raw}}
    if not isinstance(raw, Mapping):
        raise ProfileError(
            "'segmentMembership' must map namespaces to {audience_id: {\"status\": ...}}, "
            "or 'memberships' be a list of audience IDs"
        )
    out: dict[str, dict[str, dict[str, Any]]] = {}
    count = 0
    for namespace, members in raw.items():
        if not isinstance(members, Mapping):
            raise ProfileError(f"segmentMembership[{namespace!r}] must map audience IDs to {{\"status\": ...}}")
        count += len(members)
        if count > MAX_MEMBERSHIPS:
            raise ProfileError(f"a profile may hold at most {MAX_MEMBERSHIPS} memberships")
        entries: dict[str, dict[str, Any]] = {}
        for audience_id, entry in members.items():
            if not isinstance(entry, Mapping) or not isinstance(entry.get("status"), str):
                raise ProfileError(
                    f"segmentMembership[{namespace!r}][{audience_id!r}] needs a \"status\" "
                    "(realized, existing or exited)"
                )
            entries[audience_id] = dict(entry)
        out[namespace] = entries
    return out
