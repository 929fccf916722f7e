"""Spec files (``specs/*.yaml`` at the config root): the expected outcome of profile requests.

Read like config files: the same YAML loader (hostile input refused, positions kept), pydantic
models for the shape, so their problems are located diagnostics with the same codes (CP101-
CP125). docs/specs.md is the format; ``spec_run`` runs them.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path
from typing import Any, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError

from . import yamlsrc
from .diagnostics import Diagnostic, Severity
from .load import yaml_diagnostic
from .schema_problems import schema_diagnostics
from .model import Text, When
from .project import Doc
from .sources import MAX_FILE_BYTES, YAML_SUFFIXES, Kind, SourceFile

SPECS_DIR = "specs"
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)


class Membership(_Model):
    id: Text = Field(description="Audience ID, or its name in the audience catalog.")
    status: Text = Field("realized", description="XDM membership status: realized, existing, exited, ...")
    namespace: Text | None = Field(None, description="Namespace of the membership. [default: the audience's own]")


Scalar = Union[StrictBool, StrictInt, StrictFloat, StrictStr]


class Outcome(_Model):
    segments: list[Text] = Field(default_factory=list, description="Audience IDs or names, in any order.")
    attributes: dict[str, Scalar] = Field(default_factory=dict, description="Attribute values by target name.")


class Spec(_Model):
    name: Text
    datastream: Text = Field(description="A datastream file's name (without .yaml) or its ID.")
    at: When | None = Field(None, description="Time of the request: a UTC day or an instant. [default: now]")
    authenticated: StrictBool = False
    memberships: list[Union[Text, Membership]] = Field(default_factory=list)
    attributes: dict[str, Any] | None = Field(None, description="The profile's attributes (XDM), nested.")
    expect: dict[Text, Outcome] = Field(description="What the request gets, by integration alias; {} for nothing.")


class SpecFile(_Model):
    """A spec file (``specs/*.yaml``)."""

    specs: list[Spec] = Field(min_length=1)


class LoadedSpecs:
    def __init__(self) -> None:
        self.files: list[tuple[Doc, SpecFile]] = []
        self.diagnostics: list[Diagnostic] = []
        self.files_checked = 0


def load_specs(root: Path) -> LoadedSpecs:
    """Every spec file under ROOT/specs/, in name order, with the problems of those that did not load."""
    loaded = LoadedSpecs()
    for path in _spec_paths(root, loaded.diagnostics):
        loaded.files_checked += 1
        source = _read(root, path, loaded.diagnostics)
        if source is None:
            continue
        try:
            data = yamlsrc.parse(source.text)
        except yamlsrc.YamlProblem as problem:
            loaded.diagnostics.append(yaml_diagnostic(source, problem))
            continue
        doc = Doc(source)
        try:
            loaded.files.append((doc, SpecFile.model_validate(data)))
        except ValidationError as err:
            loaded.diagnostics.extend(schema_diagnostics(doc, SpecFile, err))
    return loaded


def _spec_paths(root: Path, diagnostics: list[Diagnostic]) -> list[Path]:
    top = root / SPECS_DIR
    if not top.is_dir() or top.is_symlink():
        return []
    found = []
    for folder, subfolders, names in os.walk(top):  # does not follow links to folders
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in subfolders:
            if (Path(folder) / name).is_symlink():
                diagnostics.append(_not_read(root, Path(folder) / name, "CP174", "spec folder not read: it is a "
                                             "symbolic link", "make it a folder in specs/"))
        for name in sorted(names):
            path = Path(folder) / name
            if name.startswith("."):
                continue
            if name.endswith(YAML_SUFFIXES):
                found.append(path)
            else:
                diagnostics.append(_not_read(root, path, "CP112", "not a YAML file, so it is ignored",
                                             "rename it to .yaml if it is a spec, or move it out of specs/"))
    return sorted(found)


def _read(root: Path, path: Path, diagnostics: list[Diagnostic]) -> SourceFile | None:
    """The file's text: a regular file only (no link, FIFO or device), at most MAX_FILE_BYTES, UTF-8."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as err:
        why = "it is a symbolic link" if err.errno == errno.ELOOP else (err.strerror or type(err).__name__)
        diagnostics.append(_not_read(root, path, "CP174", f"spec file not read: {why}", "make it a regular file in specs/"))
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            diagnostics.append(_not_read(root, path, "CP174", "spec file not read: not a regular file",
                                         "make it a regular file in specs/"))
            return None
        data = os.read(fd, MAX_FILE_BYTES + 1) if st.st_size <= MAX_FILE_BYTES else b""
    finally:
        os.close(fd)
    if st.st_size > MAX_FILE_BYTES or len(data) > MAX_FILE_BYTES:
        diagnostics.append(_not_read(root, path, "CP110", f"file is larger than {MAX_FILE_BYTES:,} bytes",
                                     "split it into several files"))
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        diagnostics.append(_not_read(root, path, "CP105", f"not valid UTF-8 (byte 0x{data[err.start]:02x})",
                                     "save the file as UTF-8"))
        return None
    return SourceFile(Kind.SPEC, _rel(root, path), text.removeprefix("\ufeff"), hashlib.sha256(data).hexdigest())


def _not_read(root: Path, path: Path, code: str, message: str, hint: str) -> Diagnostic:
    severity = Severity.WARNING if code == "CP112" else Severity.ERROR
    return Diagnostic(code, severity, message, _rel(root, path), 1, 1, hint)


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()
