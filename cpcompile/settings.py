"""Project settings: ``cpcompile.yaml`` at the config root lets a project turn warnings off or
make them errors, by code::

    diagnostics:
      CP134: off        # off | warning | error

Errors cannot be turned off or downgraded (CP161): an error means the artifact would be wrong.
An unknown code is CP160. The file is read with the same hardened YAML loader as the config and
checked by a small model (model.Settings), so its other problems are the schema codes
(CP120-CP122).
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import TYPE_CHECKING, Mapping, Sequence

from . import yamlsrc
from .codes import CODES
from .diagnostics import Diagnostic, Severity
from .load import Refusal, check_data, yaml_diagnostic
from .project import Doc
from .sources import Kind, SourceFile
from .values import DEFAULT_CATALOG_MAX_AGE_DAYS, Level

if TYPE_CHECKING:
    from .model import Settings

__all__ = ["DEFAULT_CATALOG_MAX_AGE_DAYS", "Level", "apply_settings", "catalog_max_age_days", "load_settings"]


def load_settings(source: SourceFile | None) -> tuple[dict[str, Level], list[Diagnostic]]:
    """The valid adjustments of ``source`` (code -> level) and the problems with it."""
    if source is None:
        return {}, []
    try:
        data = yamlsrc.parse(source.text)
    except yamlsrc.YamlProblem as err:
        return {}, [yaml_diagnostic(source, err)]
    doc = Doc(source)
    try:
        settings: Settings = check_data(Kind.SETTINGS, data)
    except Refusal as refusal:
        return {}, refusal.diagnostics(doc)
    adjust: dict[str, Level] = {}
    problems = []
    for code, level in settings.diagnostics.items():
        problem = _problem(doc, code, level)
        if problem is None:
            adjust[code] = level
        else:
            problems.append(problem)
    return adjust, problems


def catalog_max_age_days(source: SourceFile | None) -> int:
    """The catalog age limit of CP148 that ``source`` sets; the default when it sets none or
    cannot be read (``load_settings`` reports why)."""
    if source is None:
        return DEFAULT_CATALOG_MAX_AGE_DAYS
    try:
        settings: Settings = check_data(Kind.SETTINGS, yamlsrc.parse(source.text))
    except (yamlsrc.YamlProblem, Refusal):
        return DEFAULT_CATALOG_MAX_AGE_DAYS
    return settings.catalog_max_age_days


def _problem(doc: Doc, code: str, level: Level) -> Diagnostic | None:
    path = ("diagnostics", code)
    if code not in CODES:
        # A typed extra digit (CP1340) means the code it starts with, not any equally close one.
        close = [c for c in CODES if code.upper().startswith(c)] or difflib.get_close_matches(
            code.upper(), list(CODES), n=1, cutoff=0.6
        )
        hint = f"did you mean '{close[0]}'?" if close else "see docs/rules.md for the codes"
        return doc.diagnostic("CP160", f"unknown diagnostic code '{code}'", path, key=True, hint=hint)
    if not CODES[code].adjustable and level != "error":
        return doc.diagnostic(
            "CP161", f"{code} is an error and cannot be set to '{level}'", path,
            hint="errors always fail the run; fix the problem, or remove the setting",
        )
    return None


def apply_settings(diagnostics: Sequence[Diagnostic], adjust: Mapping[str, Level]) -> list[Diagnostic]:
    """``diagnostics`` with the project's adjustments: off removes, warning/error sets severity."""
    out = []
    for d in diagnostics:
        level = adjust.get(d.code)
        if level == "off":
            continue
        if level is not None:
            d = dataclasses.replace(d, severity=Severity(level))
        out.append(d)
    return out
