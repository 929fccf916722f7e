"""How the command line names the files of its diagnostics: as the user's repository does."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Sequence

from .diagnostics import Diagnostic


def as_seen_from_working_directory(root: Path, diagnostics: Sequence[Diagnostic]) -> Sequence[Diagnostic]:
    """Diagnostics name files relative to ROOT; when ROOT lies inside the working directory
    (a config in a subfolder of the repository, run from its top level as CI and pre-commit
    do) they are named from there instead, so annotations land on the pull request's diff."""
    try:
        inside = root.resolve().relative_to(Path.cwd().resolve())
    except (ValueError, OSError):  # ROOT elsewhere, or no working directory left
        return diagnostics
    if inside == Path("."):
        return diagnostics
    prefix = inside.as_posix() + "/"
    return [replace(d, file=prefix + d.file) for d in diagnostics]
