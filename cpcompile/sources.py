"""Finding and reading config files: the only module that touches the config tree on disk."""

from __future__ import annotations

import enum
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from .diagnostics import Diagnostic, Severity

MAX_FILE_BYTES = 4 * 1024 * 1024
YAML_SUFFIXES = (".yaml", ".yml")


class Kind(str, enum.Enum):
    DATASTREAM = "datastreams"
    DESTINATION = "destinations"
    CATALOG = "audiences"


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
    files: list[SourceFile]
    diagnostics: list[Diagnostic]
    unreadable: int = 0  # config files found but not read: too large, not UTF-8, link out

    @property
    def files_checked(self) -> int:
        return len(self.files) + self.unreadable


def discover(root: Path) -> Discovery:
    """Read every YAML file under the config folders of ``root``, in a stable order."""
    root = root.resolve()
    found = Discovery([], [])
    for kind in Kind:
        folder = root / kind.value
        if folder.is_symlink() and _escapes(root, folder, found):
            continue
        if folder.is_dir():
            for path in _walk(root, folder, found, set()):
                _read(root, kind, path, found)
    found.files.sort(key=lambda f: f.relpath)
    return found


def _walk(root: Path, folder: Path, found: Discovery, visited: set[Path]) -> list[Path]:
    """YAML files below ``folder``; linked folders inside the root are followed once each."""
    out: list[Path] = []
    visited.add(folder.resolve())
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in list(dirnames):
            if (here / name).is_symlink():
                dirnames.remove(name)
                target = (here / name).resolve()
                # a link back up the tree (or to a folder already read) would read files twice
                loops = target in visited or any(target in v.parents for v in visited)
                if not _escapes(root, here / name, found) and not loops:
                    out.extend(_walk(root, here / name, found, visited))
            else:
                visited.add((here / name).resolve())
        for name in sorted(filenames):
            path = here / name
            if name.startswith("."):
                continue
            if not name.endswith(YAML_SUFFIXES):
                found.diagnostics.append(_stray(root, path))
            elif not (path.is_symlink() and _escapes(root, path, found)):
                out.append(path)
    return out


def _escapes(root: Path, link: Path, found: Discovery) -> bool:
    target = link.resolve()
    if target == root or root in target.parents:
        return False
    if link.name.endswith(YAML_SUFFIXES):
        found.unreadable += 1
    found.diagnostics.append(
        Diagnostic(
            "CP111", Severity.ERROR, f"symbolic link points outside the config root (to {target.name!r})",
            _rel(root, link), 1, 1, "copy the file into the repository instead of linking to it",
        )
    )
    return True


def _stray(root: Path, path: Path) -> Diagnostic:
    return Diagnostic(
        "CP112", Severity.WARNING, "not a YAML file, so it is ignored", _rel(root, path), 1, 1,
        "rename it to .yaml if it is config, or move it out of the config folder",
    )


def _read(root: Path, kind: Kind, path: Path, found: Discovery) -> None:
    rel = _rel(root, path)
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        found.unreadable += 1
        found.diagnostics.append(
            Diagnostic(
                "CP110", Severity.ERROR,
                f"file is {size:,} bytes; the limit is {MAX_FILE_BYTES:,}", rel, 1, 1,
                "split it into several files",
            )
        )
        return
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        found.unreadable += 1
        line = data.count(b"\n", 0, err.start) + 1
        col = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        found.diagnostics.append(
            Diagnostic(
                "CP105", Severity.ERROR, f"not valid UTF-8 (byte 0x{data[err.start]:02x})", rel, line, col,
                "save the file as UTF-8",
            )
        )
        return
    found.files.append(SourceFile(kind, rel, text.removeprefix("\ufeff"), hashlib.sha256(data).hexdigest()))


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()
