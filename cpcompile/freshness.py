"""When the catalog freshness warning (CP148) is due. It is the only part of a report that
depends on the time as well as the files, so whatever keeps a report (validate_cache.py, the
build record in build.py) needs to know for how long it holds. Light to import: the cached
paths answer without loading the models."""

from __future__ import annotations

import os
import time
from typing import Any, Iterable

DAY = 86_400


def source_date_epoch() -> str | None:
    """SOURCE_DATE_EPOCH when it holds whole Unix seconds (then it is "now" for CP148, and a
    build of one commit reports the same whenever it runs), else None: "now" is the clock."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    return value if value.isdigit() else None


def now_key(epoch: str | None, clock: int) -> str:
    """What "now" adds to the digest of a kept report: SOURCE_DATE_EPOCH, else the UTC day of
    ``clock`` (and then the report's span, freshness_span, says when in that day it holds)."""
    return f"source_date_epoch={epoch}" if epoch is not None else f"day={clock // DAY}"


def freshness_now() -> int:
    """"Now" for CP148."""
    epoch = source_date_epoch()
    return int(epoch) if epoch is not None else int(time.time())


def holds_at(span: object, clock: int | None) -> bool:
    """Whether a stored report with ``span`` (freshness_span's, as stored) holds at ``clock``;
    None: "now" is SOURCE_DATE_EPOCH, for which a report was stored under that value."""
    if clock is None:
        return True
    try:
        return isinstance(span, list) and int(span[0]) <= clock < int(span[1])
    except (IndexError, TypeError, ValueError):
        return False


def freshness_span(catalogs: Iterable[Any], max_age_days: int, clock: int) -> list[int]:
    """[from, until): the seconds around ``clock`` in which no catalog (entries of the project's
    catalogs) crosses its freshness limit (CP148 fires once now - exported > the limit), and
    within ``clock``'s UTC day. ``clock`` must be read before the rules run, so that a crossing
    during the run makes the span empty and the report is never reused."""
    from .values import window_bounds

    limit = max_age_days * DAY
    start, until = 0, None
    for entry in catalogs:
        exported = entry.model.exported_at
        if exported is None:
            continue
        begins, _ = window_bounds(exported, None)
        if begins is None:
            continue
        crossing = begins + limit + 1  # the first second at which the warning is due
        if crossing <= clock:
            start = max(start, crossing)
        else:
            until = crossing if until is None else min(until, crossing)
    return [start, until if until is not None else (clock // DAY + 1) * DAY]
