"""The two sides of ``cpcompile diff``: each a config directory, a built artifact, or a commit of
the git repository around the config root, read into an artifact body (and, for config, the
validated project).

A commit is read without touching the working tree: ``git archive`` of the config root's
folder in that commit, unpacked into a temporary directory and discovered from there exactly
as ``validate`` discovers a checkout. git runs with the same guards as the build's provenance
check (manifest.py): a clean environment, no hooks, no fsmonitor, no network, a timeout.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from . import sources
from .compiler import compile_body
from .diff import Plan, make_plan
from .diagnostics import Diagnostic, Severity
from .gcpause import paused_gc
from .load import Loaded, parse_source
from .manifest import _SAFE_CONFIG, _git_env
from .project import Project
from .sources import CONFIG_KINDS, SETTINGS_FILE, SourceFile
from .validate import validate_files

GIT_TIMEOUT_SECONDS = 60
_ARCHIVE_LIMIT = 512 * 1024 * 1024
ARTIFACT_NAMES = ("artifact.json", "artifact.msgpack")


class SideError(ValueError):
    """A side that names nothing usable (a usage error, exit 2)."""


@dataclass
class Side:
    label: str  # as given on the command line
    kind: str  # "config", "commit" or "artifact"
    body: dict[str, Any] | None = None  # None: the config has errors
    project: Project | None = None
    diagnostics: tuple[Diagnostic, ...] = ()
    files_checked: int = 0
    skipped: int = 0
    shown_prefix: str = ""  # what diagnostics' file names are prefixed with, to name them as the repository does


class SharedParse:
    """Parses each distinct file once for both sides: most files of a pull request are the same
    on both, and YAML parsing is most of what validating costs. The parsed data is shared, and
    nothing downstream changes it."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], dict[str, Any]] = {}
        # and each distinct file is checked against its model once (load.load_project)
        self.loaded: Loaded = {}

    def __call__(self, source: SourceFile) -> dict[str, Any]:
        key = (source.sha256, source.relpath)  # the same bytes parse alike; the name only adds safety
        found = self._seen.get(key)
        if found is None:
            found = self._seen[key] = parse_source(source)
        return found


def compare(base: str, head: str, root: Path) -> tuple[Side, Side, Plan | None]:
    """Both sides and, when both are usable, the plan from ``base`` to ``head`` (SideError for
    a side that names nothing usable). The garbage collector is paused throughout: two
    compiled trees are millions of objects that live to the end and form no cycles."""
    parse = SharedParse()
    with paused_gc():
        old = read_side(base, root, parse)
        new = read_side(head, root, parse)
        if old.body is None or new.body is None:
            return old, new, None
        return old, new, make_plan(old.body, new.body, old.project, new.project)


def read_side(label: str, root: Path, parse: SharedParse) -> Side:
    """The side named ``label``: an existing file (an artifact), an existing directory (a config
    root, or a build directory holding an artifact), else a commit of the repository around
    ``root``."""
    path = Path(label)
    if path.is_file():
        return _artifact_side(label, path)
    if path.is_dir():
        if not any((path / kind.value).is_dir() for kind in CONFIG_KINDS):
            for name in ARTIFACT_NAMES:
                if (path / name).is_file():
                    return _artifact_side(label, path / name)
            raise SideError(f"{label!r} holds neither config folders nor a built artifact")
        return _config_side(label, "config", path, parse, shown_prefix=_prefix_from_cwd(path))
    return _commit_side(label, root, parse)


def _prefix_from_cwd(root: Path) -> str:
    try:
        inside = root.resolve().relative_to(Path.cwd().resolve())
    except (ValueError, OSError):
        return ""
    return "" if inside == Path(".") else inside.as_posix() + "/"


def _config_side(
    label: str, kind: str, root: Path, parse: SharedParse, *, shown_prefix: str, refused: Sequence[Diagnostic] = ()
) -> Side:
    discovery = sources.discover(root)
    discovery.diagnostics.extend(refused)
    result = validate_files(discovery, parse, parse.loaded)
    if any(d.is_error for d in result.diagnostics):
        return Side(label, kind, None, None, tuple(result.diagnostics), result.files_checked, result.skipped, shown_prefix)
    return Side(label, kind, compile_body(result.project), result.project, (), result.files_checked, 0, shown_prefix)


def _artifact_side(label: str, path: Path) -> Side:
    from .artifact_format.document import read_document
    from .runtime import ArtifactError, load
    from .runtime._load import encoding_for

    try:
        load(path)  # every check the runtime makes, the body's shape included
        document = read_document(path.read_bytes(), encoding=encoding_for(path))
    except (ArtifactError, OSError) as err:
        raise SideError(f"{label!r} is not an artifact that can be trusted: {err}") from None
    return Side(label, "artifact", document["body"])


# --- a commit ------------------------------------------------------------------------------------


def _commit_side(label: str, root: Path, parse: SharedParse) -> Side:
    if label.startswith("-") or not label or "\0" in label:
        raise SideError(f"{label!r} is not a path, nor a git revision")
    commit = _git_text(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{label}^{{commit}}")
    prefix = _git_text(root, "rev-parse", "--show-prefix")
    top = _git_text(root, "rev-parse", "--show-toplevel")
    if commit is None or prefix is None or top is None:
        raise SideError(
            f"{label!r} is neither a file, a directory nor a commit of the git repository at {root}"
        )
    commit = commit.strip()
    prefix = prefix.strip()
    tree = f"{commit}:{prefix}" if prefix else f"{commit}^{{tree}}"
    listing = _git(root, "ls-tree", "-z", "--name-only", "--full-tree", "--end-of-options", tree)
    if listing is None:
        raise SideError(f"the commit {label!r} has no folder {prefix or '.'}")
    wanted = {kind.value for kind in CONFIG_KINDS} | {SETTINGS_FILE}
    present = sorted(name for name in listing.decode("utf-8", "replace").split("\0") if name in wanted)
    refused: list[Diagnostic] = []
    with tempfile.TemporaryDirectory(prefix="cpcompile-diff-") as scratch:
        checkout = Path(scratch) / "config"
        checkout.mkdir()
        if present:
            with tempfile.TemporaryFile() as archive:
                # from the top level: in a subfolder, git archive would take paths relative to it
                if not _git_to(archive, Path(top.strip()), "archive", "--format=tar", "--end-of-options", tree, *present):
                    raise SideError(f"cannot read the config of {label!r} from git")
                archive.seek(0)
                refused = _extract(archive, checkout)
        if not any((checkout / kind.value).is_dir() for kind in CONFIG_KINDS):
            raise SideError(f"the commit {label!r} holds none of the config folders in {prefix or '.'}")
        return _config_side(label, "commit", checkout, parse, shown_prefix=prefix, refused=refused)


def _extract(archive: Any, into: Path) -> list[Diagnostic]:
    """Unpack the archive with tarfile's ``data`` filter (nothing outside ``into``, no devices,
    no special permissions); a member it refuses, such as a link out of the tree, is left out
    and reported as a checkout of it would be (CP111)."""
    refused: list[Diagnostic] = []

    def keep(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
        try:
            return tarfile.data_filter(member, dest)
        except tarfile.FilterError as err:
            refused.append(Diagnostic(
                "CP111", Severity.ERROR, f"not read from the commit: {err}", member.name, 1, 1,
                "link only to files and folders inside the config folders, or copy the file there",
            ))
            return None

    try:
        with tarfile.open(fileobj=archive, mode="r:") as tar:
            tar.extractall(into, filter=keep)
    except (tarfile.TarError, OSError) as err:
        raise SideError(f"cannot unpack the config of the commit: {err}") from None
    return refused


def _command(root: Path, args: tuple[str, ...]) -> list[str]:
    command = ["git", "--no-pager", "--no-replace-objects"]
    for setting in _SAFE_CONFIG:
        command += ["-c", setting]
    return [*command, "-C", str(root), *args]


def _git_to(out: Any, root: Path, *args: str) -> bool:
    try:
        done = subprocess.run(
            _command(root, args), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.DEVNULL,
            env=_git_env(os.environ), timeout=GIT_TIMEOUT_SECONDS, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and out.tell() <= _ARCHIVE_LIMIT


def _git(root: Path, *args: str) -> bytes | None:
    with tempfile.TemporaryFile() as out:
        if not _git_to(out, root, *args):
            return None
        out.seek(0)
        data: bytes = out.read()
        return data


def _git_text(root: Path, *args: str) -> str | None:
    data = _git(root, *args)
    return None if data is None else data.decode("utf-8", "replace")
