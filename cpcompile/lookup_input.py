"""Reading `cpcompile lookup`'s request inputs from the command line and JSON files.

Everything here is operator input, but it is often pasted from elsewhere (a profile export, a
log line), so it is checked as strictly as an artifact: one clear usage error, never a crash.
"""

from __future__ import annotations

import difflib
import json
import re
import time as time_module
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any, Sequence

from .explain import Names

# A profile is at most 100 KB at Adobe; a request file a thousand times that is a mistake.
MAX_INPUT_BYTES = 100 * 1024 * 1024
_UNIX_SECONDS = re.compile(r"[+-]?[0-9]{1,12}(\.[0-9]{1,9})?", re.ASCII)
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_INSTANT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})?", re.ASCII
)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_MEMBERSHIP_SHAPE = (
    'expected a list of audience IDs or a segmentMembership map '
    '({"ups": {"<audience id>": {"status": "realized"}}})'
)


class LookupInputError(ValueError):
    pass


def read_memberships(segments: str | None, membership_file: Path | None) -> Any:
    if segments is not None:
        return [s.strip() for s in segments.split(",") if s.strip()]
    assert membership_file is not None
    data = _read_json(membership_file)
    if isinstance(data, dict) and "segmentMembership" in data:
        data = data["segmentMembership"]  # a profile fragment
    if isinstance(data, list) and all(isinstance(s, str) for s in data):
        return data
    if isinstance(data, dict):
        problem = _membership_map_problem(data)
        if problem is None:
            return data
        raise LookupInputError(f"{membership_file}: {problem}; {_MEMBERSHIP_SHAPE}")
    raise LookupInputError(f"{membership_file}: {_MEMBERSHIP_SHAPE}")


def _membership_map_problem(data: dict[str, Any]) -> str | None:
    for namespace, members in data.items():
        if namespace == "segmentMembership":
            return "segmentMembership holds another segmentMembership"
        if not isinstance(members, dict):
            return f"segmentMembership[{namespace!r}] is a {_json_type(members)}, not an object of audiences"
        for audience_id, membership in members.items():
            if not isinstance(membership, dict):
                return (
                    f"segmentMembership[{namespace!r}][{audience_id!r}] is a {_json_type(membership)}, "
                    'not a membership object like {"status": "realized"}'
                )
    return None


def _json_type(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def read_attributes(attributes_file: Path | None) -> dict[str, Any] | None:
    if attributes_file is None:
        return None
    data = _read_json(attributes_file)
    if not isinstance(data, dict):
        raise LookupInputError(f"{attributes_file}: expected a JSON object of profile attributes")
    return data


def parse_now(now: str | None, *, default_to_clock: bool = False) -> int | float | datetime | None:
    """Unix seconds (``1766599200``, ``-5``, ``1.5``), a UTC day or an ISO 8601 instant.
    Without ``now``: None, or with ``default_to_clock`` the current time (so that an explanation
    and the answer it explains look at the same instant)."""
    if now is None:
        return time_module.time() if default_to_clock else None
    try:
        if _UNIX_SECONDS.fullmatch(now):
            return float(now) if "." in now else int(now)
        if _DAY.fullmatch(now):
            return datetime.combine(date.fromisoformat(now), time(0), tzinfo=timezone.utc)
        if _INSTANT.fullmatch(now):
            instant = datetime.fromisoformat(now)
            return instant if instant.tzinfo else instant.replace(tzinfo=timezone.utc)
    except ValueError:  # a well-formed day or time that does not exist (2026-02-30)
        pass
    raise LookupInputError(
        f"--now {now!r}: expected a date (2026-12-24), a date and time (2026-12-24T18:00:00Z) "
        "or Unix seconds (1766599200)"
    )


def _read_json(path: Path) -> Any:
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_INPUT_BYTES + 1)
    except OSError as err:
        raise LookupInputError(f"{path}: not readable JSON ({err})") from None
    if len(raw) > MAX_INPUT_BYTES:
        raise LookupInputError(f"{path}: larger than {MAX_INPUT_BYTES // (1024 * 1024)} MiB")
    try:
        text = raw.decode("utf-8")
        data = json.loads(text, parse_constant=_refuse_constant)
        # valid UTF-8 holds no surrogate, so one can only come from a \uD800-\uDFFF escape:
        # only then is the decoded data searched
        lone_surrogate = _SURROGATE_ESCAPE.search(text) and _LONE_SURROGATE.search(
            json.dumps(data, ensure_ascii=False)
        )
    except RecursionError:
        raise LookupInputError(f"{path}: not readable JSON (nested too deep)") from None
    except ValueError as err:  # UnicodeDecodeError and JSONDecodeError too
        raise LookupInputError(f"{path}: not readable JSON ({err})") from None
    if lone_surrogate:
        raise LookupInputError(f"{path}: holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not text")
    return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


@dataclass
class ConfigNames:
    """What ``--config ROOT`` tells about the artifact: datastreams by file name, audience names."""

    ids: dict[str, str] = field(default_factory=dict)  # file name or id -> id
    readable: Names = field(default_factory=Names)
    audience_ids: dict[str, str] = field(default_factory=dict)  # catalog name -> id

    def datastream_id(self, reference: str) -> str:
        from .values import datastream_key

        return self.ids.get(datastream_key(reference), reference)

    def memberships(self, memberships: Any) -> Any:
        """The memberships with audiences named as in the catalog replaced by their IDs."""
        if isinstance(memberships, dict):
            return {ns: {self.audience_ids.get(k, k): v for k, v in members.items()} for ns, members in memberships.items()}
        return [self.audience_ids.get(m, m) for m in memberships]


def config_names(root: Path) -> ConfigNames:
    """The datastream file names and audience names of the config at ``root``. Files with
    problems are skipped: `validate` reports them, and a name that is not found is said so."""
    from . import sources
    from .load import load_project
    from .project import datastream_index

    if not any((root / kind.value).is_dir() for kind in sources.CONFIG_KINDS):
        raise LookupInputError(f"--config {root}: holds none of datastreams/, destinations/, audiences/")
    project, _ = load_project(sources.discover(root).files)
    names = ConfigNames()
    for key, entry in datastream_index(project).items():
        names.ids[key] = entry.model.id
        names.readable.datastreams.setdefault(entry.model.id, entry.doc.source.stem)
    for catalog in project.catalogs:
        for audience in catalog.model.audiences:
            names.readable.audiences.setdefault(audience.id, audience.name)
            names.audience_ids.setdefault(audience.name, audience.id)
    return names


def unknown_datastream_note(datastream_id: str, known_ids: Sequence[str], names: ConfigNames | None) -> str:
    """Why the answer is empty: the datastream is not in the artifact, and what it may have meant."""
    note = f"note: datastream {datastream_id} is not in this artifact; the answer is empty"
    known = [*known_ids, *(names.ids if names else ())]
    close = difflib.get_close_matches(datastream_id, known, n=1, cutoff=0.6)
    if close:
        note += f"; did you mean {close[0]}?"
    if names is None and not _UUID_LIKE.fullmatch(datastream_id):
        note += " (the artifact knows datastreams by ID: pass --config ROOT to use file names)"
    return note


_UUID_LIKE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", re.ASCII)
