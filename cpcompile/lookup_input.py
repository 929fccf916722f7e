"""Reading `cpcompile lookup`'s request inputs from the command line and JSON files."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any


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
    if isinstance(data, dict) and all(isinstance(v, dict) for v in data.values()):
        return data
    raise LookupInputError(
        f"{membership_file}: expected a list of audience IDs or a segmentMembership map "
        '({"ups": {"<audience id>": {"status": "realized"}}})'
    )


def read_attributes(attributes_file: Path | None) -> dict[str, Any] | None:
    if attributes_file is None:
        return None
    data = _read_json(attributes_file)
    if not isinstance(data, dict):
        raise LookupInputError(f"{attributes_file}: expected a JSON object of profile attributes")
    return data


def parse_now(now: str | None) -> int | datetime | None:
    if now is None:
        return None
    if now.isdigit():
        return int(now)
    try:
        if len(now) == 10:
            return datetime.combine(date.fromisoformat(now), time(0), tzinfo=timezone.utc)
        return datetime.fromisoformat(now)
    except ValueError:
        raise LookupInputError(
            f"--now {now!r}: expected a date (2026-12-24), a date and time (2026-12-24T18:00:00Z) or Unix seconds"
        ) from None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise LookupInputError(f"{path}: not readable JSON ({err})") from None
