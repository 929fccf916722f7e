"""`cpcompile publish`: lay a verified build out for any static host, and roll it back.

Write order is the protocol (docs/deploy.md, "Publishing"): a revision's files go to
``artifacts/`` under names made from their revision, each written to a temp file, fsynced and
renamed, and never replaced by other bytes; only then is ``current.json`` replaced, the same
way. So a reader that finds the pointer finds every file it names, whole, and a crash at any
moment leaves the previous pointer, still right. The pointer's format is in publish_layout.
"""

from __future__ import annotations

import difflib
import fcntl
import hashlib
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from .artifact_format.document import read_document
from .artifact_format.errors import ArtifactError
from .atomic import fsync_dir, write_atomic
from .build import ARTIFACT_JSON, ARTIFACT_MSGPACK, SIGNATURE
from .manifest import MANIFEST
from .publish_layout import (
    ARTIFACTS_DIR,
    POINTER,
    SUFFIXES,
    PointerError,
    encode_pointer,
    file_path,
    parse_pointer,
    revision_of_stem,
    stem_of,
)

# the build's file of each kind the pointer lists
BUILD_FILES = {"json": ARTIFACT_JSON, "msgpack": ARTIFACT_MSGPACK, "signature": SIGNATURE}
MIN_PREFIX = 4


class PublishError(Exception):
    """Nothing was published or changed; the message says why."""


class Rejected(PublishError):
    """The build, or a kept revision, does not verify: it is not to be served."""


class Conflict(PublishError):
    """The destination already holds other bytes under a name of this revision."""


class UnknownRevision(PublishError):
    """No kept revision matches what was asked for (a usage error)."""


@dataclass
class Outcome:
    revision: str
    previous: str | None  # what current.json pointed to before, if it could be read
    written: list[str] = field(default_factory=list)  # paths relative to the destination
    pointer_changed: bool = False
    pruned: list[str] = field(default_factory=list)  # revisions removed by --keep


# --- publishing ---------------------------------------------------------------------------------


def publish(build_dir: Path, dest: Path, *, public_key: bytes | None = None, keep: int | None = None) -> Outcome:
    """Verify the build in ``build_dir``, add its files to ``dest`` and point ``current.json``
    at it. With ``keep``, then remove all but the ``keep`` newest revisions, never the current.
    Raises Rejected, Conflict (nothing written), or OSError."""
    if keep is not None and keep < 1:
        raise ValueError("keep must be at least 1: the current revision is always kept")
    revision, files = read_build(build_dir, public_key)
    if not (dest / ARTIFACTS_DIR).is_dir():
        (dest / ARTIFACTS_DIR).mkdir(parents=True, exist_ok=True)
        fsync_dir(dest)  # the folder's own entry is durable before any pointer names a file in it
    with _exclusive(dest):
        _remove_stale_temp_files(dest)
        missing = _check_no_conflict(dest, revision, files)
        outcome = Outcome(revision, _current_revision(dest))
        for kind in missing:
            write_atomic(dest / file_path(revision, kind), files[kind])
            outcome.written.append(file_path(revision, kind))
        # every file kept for the revision, such as a signature published with an earlier run
        outcome.pointer_changed = _point_to(dest, revision, _revision_files(dest, revision))
        if keep is not None:
            outcome.pruned = _prune(dest, revision, keep)
    return outcome


def read_build(build_dir: Path, public_key: bytes | None) -> tuple[str, dict[str, bytes]]:
    """The revision and files (by kind) of a finished build that verifies; Rejected otherwise.

    The manifest is written last by `cpcompile build`, so it must be there and every file must
    match it (none changed since, none left from another build); then the artifact must verify
    as a replica would verify it: revision against content, the signature when a key is given."""
    manifest = _read_manifest(build_dir)
    revision = _field(manifest, "artifact", "revision")
    listed = _field(manifest, "files")
    if not isinstance(revision, str) or not isinstance(listed, dict):
        raise Rejected(f"{build_dir / MANIFEST} is not a cpcompile build manifest")
    files: dict[str, bytes] = {}
    for kind, name in BUILD_FILES.items():
        if name not in listed:
            if kind == "signature":
                continue
            raise Rejected(f"{build_dir / MANIFEST} lists no {name}: not a complete build")
        data = _read(build_dir / name, "the build")
        if hashlib.sha256(data).hexdigest() != _field(listed, name, "sha256"):
            raise Rejected(
                f"{build_dir / name} does not match {MANIFEST} (changed since it was built?); "
                "rebuild with `cpcompile build`"
            )
        files[kind] = data
    verify_files(revision, files, public_key, where=str(build_dir))
    return revision, files


def verify_files(revision: str, files: Mapping[str, bytes], public_key: bytes | None, *, where: str) -> None:
    """Rejected unless the artifact files hold ``revision`` and verify (signature with a key)."""
    from . import runtime

    try:
        artifact = runtime.loads(files["json"], public_key=public_key, signature=files.get("signature"))
        found = [artifact.revision]
        if "msgpack" in files:
            found.append(read_document(files["msgpack"], encoding="msgpack")["revision"])
    except ArtifactError as err:
        raise Rejected(f"{where}: rejected: {err}") from None
    if any(other != revision for other in found):
        raise Rejected(f"{where}: rejected: the artifact files hold {', '.join(sorted(set(found)))}, not {revision}")


def _read_manifest(build_dir: Path) -> Any:
    path = build_dir / MANIFEST
    if not path.exists():
        raise Rejected(
            f"{build_dir} has no {MANIFEST}: not a finished build (`cpcompile build` writes it last)"
        )
    try:
        return json.loads(_read(path, "the build"))
    except (ValueError, RecursionError):
        raise Rejected(f"{path} is not JSON: not a finished build") from None


def _field(document: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise Rejected(f"{path} is missing from {what}") from None


def _check_no_conflict(dest: Path, revision: str, files: Mapping[str, bytes]) -> list[str]:
    """The kinds not published yet; Conflict if a name of the revision holds other bytes."""
    missing = []
    for kind, data in files.items():
        path = dest / file_path(revision, kind)
        try:
            existing = path.read_bytes()
        except FileNotFoundError:
            missing.append(kind)
            continue
        if existing != data:
            why = (
                "signed with another key?" if kind == "signature"
                else "damaged or altered there: the name is the revision of the content"
            )
            raise Conflict(
                f"{path} already exists with other content ({why}); it is never replaced: "
                "remove it by hand if you are sure, then publish again"
            )
    return missing


# --- the pointer --------------------------------------------------------------------------------


def _point_to(dest: Path, revision: str, files: Mapping[str, bytes]) -> bool:
    """Replace current.json to point at ``revision`` unless it already does; True if replaced.

    The new pointer's modification time is made at least one second later than the old one's:
    web servers (nginx) derive ETag and Last-Modified from whole seconds and the size, which is
    the same for every pointer, so two publications within a second would look unchanged."""
    pointer = dest / POINTER
    data = encode_pointer(revision, files)
    try:
        old = pointer.read_bytes()
        old_seconds: int | None = pointer.stat().st_mtime_ns // 1_000_000_000
    except FileNotFoundError:
        old, old_seconds = b"", None
    if old == data:
        return False
    write_atomic(pointer, data)
    if old_seconds is not None:
        st = pointer.stat()
        if st.st_mtime_ns // 1_000_000_000 <= old_seconds:
            os.utime(pointer, ns=(st.st_atime_ns, (old_seconds + 1) * 1_000_000_000))
    return True


def _current_revision(dest: Path) -> str | None:
    try:
        return parse_pointer((dest / POINTER).read_bytes()).revision
    except (FileNotFoundError, PointerError):
        return None


def _revision_files(dest: Path, revision: str) -> dict[str, bytes]:
    files = {}
    for kind in SUFFIXES:
        try:
            files[kind] = (dest / file_path(revision, kind)).read_bytes()
        except FileNotFoundError:
            continue
    return files


# --- rollback -----------------------------------------------------------------------------------


def rollback(dest: Path, wanted: str, *, public_key: bytes | None = None) -> Outcome:
    """Point current.json at a kept revision (``sha256:…``, ``sha256-…`` or a unique prefix of
    its hex digits), after verifying its files. UnknownRevision, Rejected, or OSError."""
    if not (dest / ARTIFACTS_DIR).is_dir():
        raise UnknownRevision(f"{dest} holds no {ARTIFACTS_DIR}/ folder: nothing was published there")
    with _exclusive(dest):
        revision = resolve_revision(dest, wanted)
        files = _revision_files(dest, revision)
        verify_files(revision, files, public_key, where=f"{dest / ARTIFACTS_DIR / stem_of(revision)}.*")
        outcome = Outcome(revision, _current_revision(dest))
        outcome.pointer_changed = _point_to(dest, revision, files)
    return outcome


def kept_revisions(dest: Path) -> list[str]:
    """The revisions in ``dest``, most recently published first."""
    found = []
    for path in (dest / ARTIFACTS_DIR).glob(f"*{SUFFIXES['json']}"):
        revision = revision_of_stem(path.name[: -len(SUFFIXES["json"])])
        try:
            if revision is not None:
                found.append((-path.stat().st_mtime_ns, revision))
        except FileNotFoundError:  # removed since the listing (--keep in another run)
            continue
    return [revision for _, revision in sorted(found)]


def current_revision(dest: Path) -> str | None:
    """What current.json points to, or None when there is none or it cannot be read."""
    return _current_revision(dest)


def resolve_revision(dest: Path, wanted: str) -> str:
    digits = wanted.strip().lower()
    for prefix in ("sha256:", "sha256-"):
        digits = digits.removeprefix(prefix)
    if digits.endswith(SUFFIXES["json"]):  # a file name pasted from a listing
        digits = digits[: -len(SUFFIXES["json"])]
    kept = kept_revisions(dest)
    if len(digits) < MIN_PREFIX or not set(digits) <= set("0123456789abcdef"):
        raise UnknownRevision(
            f"{_shown(wanted)} is not a revision: give sha256:<hex digits>, or at least {MIN_PREFIX} "
            f"of its first hex digits{_listing(kept, dest)}"
        )
    matches = [revision for revision in kept if revision.split(":", 1)[1].startswith(digits)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UnknownRevision(
            f"{_shown(wanted)} is ambiguous in {dest}: it starts {', '.join(matches)}; give more digits"
        )
    by_prefix = {revision.split(":", 1)[1][: len(digits)]: revision for revision in reversed(kept)}
    close = difflib.get_close_matches(digits, list(by_prefix), n=1, cutoff=0.6)
    hint = f"; did you mean {by_prefix[close[0]]}?" if close else ""
    raise UnknownRevision(f"no revision {_shown(wanted)} is kept in {dest}{hint}{_listing(kept, dest)}")


def _listing(kept: list[str], dest: Path, limit: int = 5) -> str:
    if not kept:
        return f" ({dest} holds no revisions)"
    current = _current_revision(dest)
    shown = [f"{r} (current)" if r == current else r for r in kept[:limit]]
    more = f" and {len(kept) - limit} more" if len(kept) > limit else ""
    return f"\n  kept, newest first: {', '.join(shown)}{more}"


def _shown(text: str) -> str:
    return text if text.isascii() and text.isprintable() and len(text) <= 80 else ascii(text[:80])


# --- pruning ------------------------------------------------------------------------------------


def _prune(dest: Path, current: str, keep: int) -> list[str]:
    """Remove all but the current revision and the ``keep - 1`` newest others. Only after the
    pointer moved on, and the .json last, so a revision is listed until it is wholly gone."""
    others = [revision for revision in kept_revisions(dest) if revision != current]
    doomed = others[keep - 1 :]
    for revision in doomed:
        for kind in ("signature", "msgpack", "json"):
            (dest / file_path(revision, kind)).unlink(missing_ok=True)
    return doomed


# --- the directory ------------------------------------------------------------------------------


@contextmanager
def _exclusive(dest: Path) -> Iterator[None]:
    """One publication at a time in ``dest``: a second one waits for the first to finish."""
    fd = os.open(dest, os.O_RDONLY)  # flock works on a directory: no lock file to serve by mistake
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _remove_stale_temp_files(dest: Path) -> None:
    # left behind only if an earlier run was killed between creating and renaming them
    for tmp in (dest / ARTIFACTS_DIR).glob(".sha256-*.tmp"):
        tmp.unlink(missing_ok=True)
    for tmp in dest.glob(f".{POINTER}.*.tmp"):
        tmp.unlink(missing_ok=True)
