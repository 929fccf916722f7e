"""Finding and reading config files: the only module that touches the config tree on disk.

The tree comes from a pull request, so it is read defensively:

* only regular files are read; a FIFO, socket or device is reported (CP116) and never opened
  in a way that could block: files are opened with ``O_NONBLOCK`` and ``O_NOFOLLOW`` and
  checked with ``fstat`` after opening, so an entry swapped for a FIFO after the check is not
  read either;
* a symbolic link is followed only if it resolves to a file or folder inside one of the config
  folders of the root, and not into a hidden folder (``.git/``); a dangling link, a link loop
  or a link anywhere else is CP111, at 1:1 of the link's own path;
* each real folder is walked once per kind, with an explicit stack, so neither link cycles
  nor very deep trees can make the walk loop or recurse without bound;
* file names are kept as they are (newlines, control characters): rendering escapes them.

The optional project settings file ``cpcompile.yaml`` at the root is read by the same rules
(a link may point anywhere inside the root, but not into a hidden folder).
"""

from __future__ import annotations

import enum
import errno
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from .diagnostics import Diagnostic, Severity

MAX_FILE_BYTES = 4 * 1024 * 1024
YAML_SUFFIXES = (".yaml", ".yml")
SETTINGS_FILE = "cpcompile.yaml"
_OPEN_FLAGS = (
    os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
)
_LINK_HINT = (
    "link only to files and folders inside datastreams/, destinations/, audiences/ or policies/, or copy the file there"
)


class Kind(str, enum.Enum):
    DATASTREAM = "datastreams"
    DESTINATION = "destinations"
    CATALOG = "audiences"
    POLICY = "policies"
    SETTINGS = SETTINGS_FILE  # the project settings file at the root, not a config folder
    SPEC = "specs"  # expected outcomes (`cpcompile test`), read like config but never compiled


CONFIG_KINDS = (Kind.DATASTREAM, Kind.DESTINATION, Kind.CATALOG, Kind.POLICY)


@dataclass(frozen=True)
class SourceFile:
    kind: Kind
    relpath: str  # POSIX, relative to the root: what diagnostics print
    text: str
    sha256: str

    @property
    def stem(self) -> str:
        return Path(self.relpath).stem


@dataclass
class Discovery:
    files: list[SourceFile]  # config files of the config folders, sorted by relpath
    diagnostics: list[Diagnostic]
    unreadable: int = 0  # files found but not read: too large, not UTF-8, bad link, not regular
    settings: SourceFile | None = None  # the root's cpcompile.yaml, when there is one and it was read

    def inputs(self) -> list[SourceFile]:
        """Every file a build or a validation reads: the config files and the settings file."""
        return [*self.files, *([self.settings] if self.settings is not None else [])]

    def findings(self) -> list[str]:
        """Discovery's own diagnostics (a stray or unreadable file), each whole as a line of JSON
        (a file name cannot make two differ as the same text): they change the report, so
        whatever keeps a report counts them among its inputs."""
        return [json.dumps(d.as_dict(), sort_keys=True) for d in self.diagnostics]


@dataclass(frozen=True)
class _Entry:
    path: Path  # where it was found (through links): what relpaths are made of
    real: Path  # what it resolves to, without links: what is opened or listed
    is_dir: bool


def discover(root: Path) -> Discovery:
    """Read every YAML file under the config folders of ``root``, in a stable order, and the
    root's ``cpcompile.yaml``."""
    root = Path(os.path.realpath(root))
    found = Discovery([], [])
    folders = [root / kind.value for kind in CONFIG_KINDS if _is_real_dir(root / kind.value)]
    for kind in CONFIG_KINDS:
        top = _entry(root, root / kind.value, folders, found, reads=False)
        if top is not None and top.is_dir:
            _walk(root, kind, top, folders, found)
    found.files.sort(key=lambda f: f.relpath)
    settings = _entry(root, root / SETTINGS_FILE, [root], found, reads=True)
    if settings is not None:
        if settings.is_dir:
            found.diagnostics.append(_not_read(root, settings.path, "it is a folder"))
        else:
            found.settings = _read(root, Kind.SETTINGS, settings, found)
    return found


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _walk(root: Path, kind: Kind, top: _Entry, folders: list[Path], found: Discovery) -> None:
    """Read the YAML files below ``top``, depth first in name order; each real folder once."""
    visited: set[Path] = set()
    stack = [top]
    while stack:
        here = stack.pop()
        if here.real in visited:
            continue  # a link to a folder already read (or to one of its parents)
        visited.add(here.real)
        try:
            names = sorted(os.listdir(here.real))
        except OSError as err:
            found.diagnostics.append(_not_read(root, here.path, _reason(err)))
            continue
        subfolders = []
        for name in names:
            if name.startswith("."):
                continue  # editor swap files, .git/ and the like
            is_yaml = name.endswith(YAML_SUFFIXES)
            if not _is_utf8(name):  # Python keeps the bytes as surrogates: unprintable, unhashable
                shown = here.path / os.fsencode(name).decode("utf-8", "backslashreplace")
                _refuse(found, _name_not_utf8(root, shown), is_yaml)
                continue
            entry = _entry(root, here.path / name, folders, found, reads=is_yaml, real=here.real / name)
            if entry is None:
                continue
            if entry.is_dir:
                subfolders.append(entry)
            elif is_yaml:
                source = _read(root, kind, entry, found)
                if source is not None:
                    found.files.append(source)
            else:
                found.diagnostics.append(_stray(root, entry.path))
        stack.extend(reversed(subfolders))


def _entry(
    root: Path, path: Path, allowed: list[Path], found: Discovery, *, reads: bool, real: Path | None = None
) -> _Entry | None:
    """What ``path`` is, following a link only to a file or folder inside ``allowed``; None
    (with a diagnostic, except for a missing path) for anything that is not to be read.
    ``reads``: whether the entry would be read as a file, so that not reading it counts."""
    real = path if real is None else real
    try:
        st = os.lstat(real)
    except FileNotFoundError:
        return None  # absent, or deleted while we looked
    except OSError as err:
        _refuse(found, _not_read(root, path, _reason(err)), reads)
        return None
    if stat.S_ISLNK(st.st_mode):
        problem, real, followed = _follow(root, real, allowed)
        if problem is not None or followed is None:
            _refuse(found, _bad_link(root, path, problem or "symbolic link cannot be followed"), reads)
            return None
        st = followed
    if stat.S_ISDIR(st.st_mode):
        return _Entry(path, real, True)
    if stat.S_ISREG(st.st_mode):
        return _Entry(path, real, False)
    _refuse(found, _not_read(root, path, f"it is {_kind_of(st.st_mode)}, not a regular file"), reads)
    return None


def _follow(root: Path, link: Path, allowed: list[Path]) -> tuple[str | None, Path, os.stat_result | None]:
    """Where ``link`` leads: (problem or None, resolved path, its stat)."""
    try:
        st = os.stat(link)
    except OSError as err:
        if err.errno == errno.ELOOP:
            return "symbolic link loops (it resolves back to itself)", link, None
        if err.errno in (errno.ENOENT, errno.ENOTDIR):
            return "dangling symbolic link (its target does not exist)", link, None
        return f"symbolic link cannot be followed ({_reason(err)})", link, None
    target = Path(os.path.realpath(link))
    if target != root and root not in target.parents:
        return f"symbolic link points outside the config root (to {target.name!r})", target, st
    inside = target.relative_to(root)
    if any(part.startswith(".") for part in inside.parts):
        return f"symbolic link points into a hidden folder (to {inside.as_posix()!r})", target, st
    if not any(target == a or a in target.parents for a in allowed):
        return f"symbolic link points outside the config folders (to {inside.as_posix()!r})", target, st
    return None, target, st


def _refuse(found: Discovery, diagnostic: Diagnostic, reads: bool) -> None:
    found.diagnostics.append(diagnostic)
    if reads:
        found.unreadable += 1


def _read(root: Path, kind: Kind, entry: _Entry, found: Discovery) -> SourceFile | None:
    """The file's text, or None with a diagnostic. Opened without following a link and without
    blocking, and checked again once open: the entry may have changed since it was looked at."""
    rel = _rel(root, entry.path)
    try:
        fd = os.open(entry.real, _OPEN_FLAGS)
    except OSError as err:
        if err.errno == errno.ELOOP:  # became a link since it was checked
            _refuse(found, _bad_link(root, entry.path, "symbolic link appeared while reading"), True)
            return None
        _refuse(found, _not_read(root, entry.path, _reason(err)), True)
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            reason = f"it is {_kind_of(st.st_mode)}, not a regular file"
            _refuse(found, _not_read(root, entry.path, reason), True)
            return None
        data = b"" if st.st_size > MAX_FILE_BYTES else _read_at_most(fd, MAX_FILE_BYTES + 1)
    except OSError as err:
        _refuse(found, _not_read(root, entry.path, _reason(err)), True)
        return None
    finally:
        os.close(fd)
    size = max(st.st_size, len(data))
    if size > MAX_FILE_BYTES:
        _refuse(found, _too_large(rel, size), True)
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        _refuse(found, _not_utf8(rel, data, err), True)
        return None
    return SourceFile(kind, rel, text.removeprefix("\ufeff"), hashlib.sha256(data).hexdigest())


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks, total = [], 0
    while total < limit:
        chunk = os.read(fd, min(1 << 20, limit - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _kind_of(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _reason(err: OSError) -> str:
    return err.strerror or type(err).__name__


def _bad_link(root: Path, link: Path, problem: str) -> Diagnostic:
    return Diagnostic("CP111", Severity.ERROR, problem, _rel(root, link), 1, 1, _LINK_HINT)


def _not_read(root: Path, path: Path, why: str) -> Diagnostic:
    return Diagnostic(
        "CP116", Severity.WARNING, f"not read: {why}", _rel(root, path), 1, 1,
        "only regular files are read: replace it with a regular file, or remove it",
    )


def _stray(root: Path, path: Path) -> Diagnostic:
    return Diagnostic(
        "CP112", Severity.WARNING, "not a YAML file, so it is ignored", _rel(root, path), 1, 1,
        "rename it to .yaml if it is config, or move it out of the config folder",
    )


def _too_large(rel: str, size: int) -> Diagnostic:
    return Diagnostic(
        "CP110", Severity.ERROR, f"file is {size:,} bytes; the limit is {MAX_FILE_BYTES:,}", rel, 1, 1,
        "split it into several files",
    )


def _not_utf8(rel: str, data: bytes, err: UnicodeDecodeError) -> Diagnostic:
    line = data.count(b"\n", 0, err.start) + 1
    col = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
    return Diagnostic(
        "CP105", Severity.ERROR, f"not valid UTF-8 (byte 0x{data[err.start]:02x})", rel, line, col,
        "save the file as UTF-8",
    )


def _name_not_utf8(root: Path, shown: Path) -> Diagnostic:
    return Diagnostic(
        "CP105", Severity.ERROR, "file name is not valid UTF-8, so it is not read", _rel(root, shown), 1, 1,
        "rename it using UTF-8 characters",
    )


def _rel(root: Path, path: Path) -> str:
    text, top = str(path), str(root)
    if text.startswith(top) and text[len(top) : len(top) + 1] == os.sep:  # nearly always: 4 x quicker
        return text[len(top) + 1 :].replace(os.sep, "/")
    return path.relative_to(root).as_posix()
