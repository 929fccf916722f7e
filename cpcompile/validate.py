"""The validation pipeline: discover → parse → schema → cross-file rules, every problem at once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import rules, settings, sources
from .diagnostics import Diagnostic, exit_code, sorted_diagnostics
from .gcpause import paused_gc
from .load import Loaded, Parse, load_project, parse_source
from .project import Project

# A reference into a file that failed to load is not a problem of its own: it would only repeat
# that file's error as "unknown datastream" elsewhere. The catalog rules hold back per sandbox
# themselves (Project.broken_catalogs), the governance rules when a policies/ file is broken
# (Project.broken_policies): it may hold the declarations and default_policies they depend on.
_DANGLING_IF_BROKEN = {"CP132": sources.Kind.DATASTREAM.value}


@dataclass
class ValidationResult:
    project: Project
    diagnostics: list[Diagnostic]
    files_checked: int
    skipped: int = 0  # files with errors before the cross-file rules, so not part of them

    def exit_code(self, *, strict: bool = False) -> int:
        return exit_code(self.diagnostics, strict=strict)


def validate_files(
    discovery: sources.Discovery, parse: Parse = parse_source, loaded: Loaded | None = None, *, quick: bool = False
) -> ValidationResult:
    """Validate the files ``discovery`` found, with its own findings (stray or unreadable files);
    ``loaded`` shares the loading of files with another validation, ``quick`` lets the project
    hold quick.py's records (``load.load_project``)."""
    found = discovery.diagnostics
    project, diagnostics = load_project(discovery.files, parse, loaded, quick=quick)
    diagnostics = [*found, *diagnostics]
    skipped = len({d.file for d in diagnostics if d.is_error})
    broken_folders = {d.file.split("/", 1)[0] for d in diagnostics if d.is_error}
    if any(d.is_error and d.file.startswith(f"{sources.Kind.CATALOG.value}/") for d in found):
        project.broken_catalogs.add(None)  # a catalog file that was not even read: any sandbox
    unread_policies = {d.file for d in found if d.is_error and d.file.startswith(f"{sources.Kind.POLICY.value}/")}
    project.broken_policies += len(unread_policies)  # policies/ files that were not even read
    max_age = settings.catalog_max_age_days(discovery.settings)
    diagnostics.extend(
        d for d in rules.check_all(project, max_catalog_age_days=max_age)
        if _DANGLING_IF_BROKEN.get(d.code) not in broken_folders
    )
    # Settings apply last, to everything gathered; their own problems are errors nobody may adjust.
    adjust, settings_problems = settings.load_settings(discovery.settings)
    diagnostics = [*settings.apply_settings(diagnostics, adjust), *settings_problems]
    checked = len(discovery.files) + discovery.unreadable + (discovery.settings is not None)
    return ValidationResult(project, sorted_diagnostics(diagnostics), checked, skipped)


def validate_tree(root: Path, *, quick: bool = False) -> ValidationResult:
    """The validation of the config under ``root``; with ``quick``, its project may hold
    quick.py's records in place of models (read-only, without the models' methods)."""
    discovery = sources.discover(root)
    with paused_gc():
        return validate_files(discovery, quick=quick)
