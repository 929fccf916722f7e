"""`cpcompile init`: a config repository of one's own, ready to validate, build, test and review.

Everything is rendered from the jinja2 templates in ``cpcompile/templates/init/`` (the path of a
template is the path of the file it makes, ``gitignore`` and ``github/`` becoming ``.gitignore``
and ``.github/``), except the JSON Schemas, which are generated from the models into
``docs/schemas/``: the place ``cpcompile schema`` writes to by default and the one the editor line
of every example and ``cpcompile new`` scaffold names (``../docs/schemas/...``). Everything is
rendered before anything is written; a folder that already holds a config, or any file that
would be written, is refused, and nothing existing is ever replaced.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from . import __version__
from .schemas import published_schemas
from .sources import CONFIG_KINDS, SETTINGS_FILE, Kind

SCHEMA_DIR = "docs/schemas"
# what makes a folder a config root already: `init` never mixes its example into one
CONFIG_ENTRIES = (*(kind.value for kind in CONFIG_KINDS), Kind.SPEC.value, SETTINGS_FILE)
_RENAMED = {"gitignore": ".gitignore", "pre-commit-config.yaml": ".pre-commit-config.yaml", "github": ".github"}
# the example catalog's audiences, as the destination maps them (one with an activation window)
_AUDIENCES = (
    {"name": "First-time buyers", "evaluation": "edge", "start": None, "end": None},
    {"name": "Winter rentals browsers", "evaluation": "streaming", "start": "2026-12-01", "end": "2027-01-31"},
)


class InitError(ValueError):
    pass


def render(version: str = __version__) -> dict[str, bytes]:
    """The new repository's files, by POSIX path relative to it."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("cpcompile", "templates/init"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # YAML, not HTML
    )
    # Audience lists are sorted by id, as `cpcompile fmt` writes them: the new files are fmt-clean.
    audiences = sorted(({**a, "id": _new_id()} for a in _AUDIENCES), key=lambda a: str(a["id"]))
    context: dict[str, Any] = {
        "version": version,
        "datastream_id": _new_id(),
        "destination_id": _new_id(),
        "merge_policy_id": _new_id(),
        "audiences": audiences,
    }
    files: dict[str, bytes] = {}
    for name in environment.list_templates(filter_func=lambda n: n.endswith(".j2")):
        target = "/".join(_RENAMED.get(part, part) for part in name.removesuffix(".j2").split("/"))
        files[target] = environment.get_template(name).render(context).encode("utf-8")
    for name, content in published_schemas().items():
        files[f"{SCHEMA_DIR}/{name}"] = content
    return dict(sorted(files.items()))


def _new_id() -> str:
    return str(uuid.uuid4())


def refusal(directory: Path, files: dict[str, bytes]) -> str | None:
    """Why ``directory`` cannot take ``files``, or None."""
    if os.path.lexists(directory) and not directory.is_dir():
        return f"{directory} exists and is not a folder"
    if not directory.exists():
        return None
    config = [name for name in CONFIG_ENTRIES if os.path.lexists(directory / name)]
    if config:
        return (f"{directory} already holds a cpcompile config ({', '.join(config)}); "
                "`cpcompile init` makes a new one and never changes an existing one")
    taken = [name for name in files if _taken(directory, name)]
    if taken:
        return f"{directory} already has {', '.join(taken)}; `cpcompile init` never replaces a file"
    return None


def _taken(directory: Path, relpath: str) -> bool:
    """Whether the file or one of the folders it goes in exists, as anything but a folder."""
    path = directory
    parts = relpath.split("/")
    for part in parts[:-1]:
        path = path / part
        if os.path.lexists(path) and (path.is_symlink() or not path.is_dir()):
            return True
    return os.path.lexists(path / parts[-1])


def init_repository(directory: Path) -> list[str]:
    """Write a new config repository into ``directory`` (created if need be; it may already hold
    other files, never config); the paths written, relative to it. InitError, with nothing
    written, when it cannot."""
    files = render()
    why = refusal(directory, files)
    if why is not None:
        raise InitError(why)
    created: list[Path] = []
    try:
        for relpath, content in files.items():
            path = directory / relpath
            _make_folders(path.parent, created)
            _write_new(path, content)
            created.append(path)
    except OSError as err:
        for path in reversed(created):  # what this run made, and nothing else
            path.rmdir() if path.is_dir() else path.unlink()
        raise InitError(f"cannot write {directory}: {err.strerror or err}") from None
    return list(files)


def _make_folders(folder: Path, created: list[Path]) -> None:
    missing = []
    while not os.path.lexists(folder):
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir()
        created.append(path)


def _write_new(path: Path, content: bytes) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o644)  # never over an existing file, nor through a link
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
