"""build/manifest.json: what a build wrote, and the facts about it that are not in the artifact.

The manifest is a pure function of the artifact, the build options and two facts the caller
gathers at the edge (the command line does, `cpcompile.build.build` never does):

- ``built_at``, from SOURCE_DATE_EPOCH (``parse_source_date_epoch``);
- ``source``, the git provenance of the config files (``git_provenance``): the commit they were
  built from, recorded only when the config files are tracked in the repository whose work tree
  holds the root, and whether the files built differ from that commit.

docs/build.md is the format.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from . import __version__
from .artifact_format.document import FORMAT, SCHEMA_VERSION
from .sources import CONFIG_KINDS, SETTINGS_FILE, YAML_SUFFIXES, SourceFile

MANIFEST = "manifest.json"
GIT_TIMEOUT_SECONDS = 10
_GIT_OUTPUT_LIMIT = 64 * 1024 * 1024
_CONFIG_FOLDERS = tuple(kind.value for kind in CONFIG_KINDS)


class ManifestOptionError(ValueError):
    """A setting from the environment that cannot be used (a usage error)."""


@dataclass(frozen=True)
class Provenance:
    """Where the config came from. ``commit`` is None unless the config files are tracked in
    the git repository around the root; ``dirty`` says the files built are not all exactly the
    commit's (modified, added, untracked or deleted config files)."""

    commit: str | None = None
    dirty: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"git_commit": self.commit, "git_dirty": self.dirty}


NO_PROVENANCE = Provenance()


# --- the manifest ------------------------------------------------------------------------------


def make_manifest(
    document: Mapping[str, Any],
    outputs: Mapping[str, bytes],
    counts: Mapping[str, int],
    *,
    signed_by: str | None,
    provenance: Provenance,
    built_at: int | None,
) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "artifact": {
            "format": FORMAT,
            "revision": document["revision"],
            "schema_version": SCHEMA_VERSION,
        },
        "counts": dict(counts),
        "files": {name: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()} for name, data in outputs.items()},
        "generator": f"cpcompile {__version__}",
        "signed_by": signed_by,
        "source": provenance.as_dict(),
    }
    if built_at is not None:
        manifest["built_at"] = datetime.fromtimestamp(built_at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return manifest


def pretty_json(document: Mapping[str, Any]) -> bytes:
    """Pretty, sorted, newline-terminated JSON: how the files meant to be read and diffed by
    people are written (the manifest and the published JSON Schemas)."""
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


# --- built_at ------------------------------------------------------------------------------------


def parse_source_date_epoch(value: str | None) -> int | None:
    """SOURCE_DATE_EPOCH (https://reproducible-builds.org/specs/source-date-epoch/): unset or
    empty means none; anything but a whole number of seconds in range is a ManifestOptionError."""
    if not value:
        return None
    try:
        epoch = int(value) if value.isdigit() and value.isascii() else None
        if epoch is not None:
            datetime.fromtimestamp(epoch, timezone.utc)
    except (OverflowError, ValueError, OSError):
        epoch = None
    if epoch is None:
        raise ManifestOptionError(
            f"SOURCE_DATE_EPOCH={value!r} is not a Unix time in whole seconds (such as 1798761600); "
            "fix or unset it"
        )
    return epoch


# --- git provenance ------------------------------------------------------------------------------


def git_provenance(root: Path, inputs: Sequence[SourceFile]) -> Provenance:
    """The commit ``inputs`` (the files a build of ``root`` read) were built from, if it is true.

    The root must be inside the work tree of a repository whose HEAD tracks config files under
    it; otherwise there is no provenance. ``dirty`` is False only when the files read are exactly
    the config files of HEAD, byte for byte (compared with git's blob ids, without git's
    filters: a checkout converted by core.autocrlf or a clean filter counts as modified).
    The project settings file (cpcompile.yaml) is one of the config files.

    git runs read-only, with a timeout, a bounded output, a clean environment and nothing that
    could run a program from a repository's own config (hooks, fsmonitor, fetches); a repository
    owned by another user is refused by git itself (safe.directory), which means no provenance.
    """
    head = _git(root, "rev-parse", "--is-inside-work-tree", "--verify", "--end-of-options", "HEAD")
    if head is None:
        return NO_PROVENANCE
    lines = head.decode("ascii", "replace").split()
    if len(lines) != 2 or lines[0] != "true" or not _is_object_id(lines[1]):
        return NO_PROVENANCE
    commit = lines[1]
    listing = _git(root, "ls-tree", "-r", "-z", "--end-of-options", commit, "--", *_CONFIG_FOLDERS, SETTINGS_FILE)
    if listing is None:
        return NO_PROVENANCE
    tracked = {path: entry for path, entry in _tree_entries(listing) if _is_input(path)}
    if not tracked:
        return NO_PROVENANCE  # the repository does not hold this config: its HEAD says nothing about it
    read = {source.relpath: source for source in inputs}
    clean = tracked.keys() == read.keys() and all(
        _same_as_blob(root, read[path], mode, oid) for path, (mode, oid) in tracked.items()
    )
    return Provenance(commit, not clean)


def _is_input(path: str) -> bool:
    """Whether a build reads the file at ``path`` (relative to the root), as sources.discover does."""
    if path == SETTINGS_FILE:
        return True
    parts = path.split("/")
    return (
        len(parts) > 1 and parts[0] in _CONFIG_FOLDERS and path.endswith(YAML_SUFFIXES)
        and not any(part.startswith(".") for part in parts)
    )


def _tree_entries(listing: bytes) -> Iterable[tuple[str, tuple[str, str]]]:
    """(path, (mode, object id)) of each blob in ``git ls-tree -z`` output."""
    for record in listing.split(b"\0"):
        meta, tab, name = record.partition(b"\t")
        fields = meta.split(b" ")
        if not tab or len(fields) != 3 or fields[1] != b"blob":
            continue  # an empty tail, a submodule (its files are not this commit's)
        try:
            yield name.decode("utf-8"), (fields[0].decode("ascii"), fields[2].decode("ascii"))
        except UnicodeDecodeError:
            continue  # not a name discovery could have read


def _same_as_blob(root: Path, source: SourceFile, mode: str, oid: str) -> bool:
    path = root / source.relpath
    try:
        if mode == "120000":  # git tracks the link itself
            data = os.fsencode(os.readlink(path)) if path.is_symlink() else None
        else:
            data = _read_regular(path)
            if data is not None and hashlib.sha256(data).hexdigest() != source.sha256:
                data = None  # changed since it was read: what was built is not on disk any more
    except OSError:
        data = None
    if data is None:
        return False
    algorithm = "sha1" if len(oid) == 40 else "sha256"
    return hashlib.new(algorithm, b"blob %d\0" % len(data) + data).hexdigest() == oid


def _read_regular(path: Path) -> bytes | None:
    """The bytes of a regular file (not a link, never a FIFO that could block), else None."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    with os.fdopen(os.open(path, flags), "rb") as handle:
        return handle.read() if stat.S_ISREG(os.fstat(handle.fileno()).st_mode) else None


def _is_object_id(text: str) -> bool:
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)


# Config that would let a repository run a program or reach the network during a read-only
# command; the repository's own .git/config may come with the checkout, so it is overridden.
_SAFE_CONFIG = (
    "core.fsmonitor=false",
    f"core.hooksPath={os.devnull}",
    "core.untrackedCache=false",
    "protocol.allow=never",
    "core.pager=cat",
)
_PASSED_ENV = ("PATH", "HOME", "XDG_CONFIG_HOME", "SYSTEMROOT")


def _git_env(environ: Mapping[str, str]) -> dict[str, str]:
    """Only what git needs to find itself and the user's own config: no inherited GIT_DIR,
    GIT_WORK_TREE, GIT_INDEX_FILE, GIT_CONFIG_* or other variables that redirect it."""
    env = {name: environ[name] for name in _PASSED_ENV if name in environ}
    env.update(
        LC_ALL="C", GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0", GIT_NO_LAZY_FETCH="1",
        GIT_NO_REPLACE_OBJECTS="1", GIT_LITERAL_PATHSPECS="1",
    )
    return env


def _git(root: Path, *args: str) -> bytes | None:
    """stdout of a successful ``git -C root ARGS``, or None (no git, not a repository, refused,
    timed out, or output beyond the limit)."""
    command = ["git", "--no-pager", "--no-replace-objects"]
    for setting in _SAFE_CONFIG:
        command += ["-c", setting]
    command += ["-C", str(root), *args]
    try:
        with tempfile.TemporaryFile() as out:
            done = subprocess.run(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.DEVNULL,
                env=_git_env(os.environ), timeout=GIT_TIMEOUT_SECONDS, check=False,
            )
            if done.returncode != 0 or out.tell() > _GIT_OUTPUT_LIMIT:
                return None
            out.seek(0)
            return out.read()
    except (OSError, subprocess.SubprocessError):
        return None
