"""`cpcompile new`: a commented config file to start from, valid as it is written.

Templates are jinja2 files in ``cpcompile/templates/new/``. A new file is checked against the
config around it before it is written (the datastream a destination names exists and takes
destinations, an alias is free on it, a file name or sandbox is not taken), and against its
own model after rendering; it is created without ever replacing an existing file.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tempfile
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from . import sources, yamlsrc
from .load import load_project
from .values import datastream_key
from .project import FILE_KINDS, Project, datastream_index

WHAT = {"datastream": sources.Kind.DATASTREAM, "destination": sources.Kind.DESTINATION, "catalog": sources.Kind.CATALOG}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", re.ASCII)
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._()/-]*[A-Za-z0-9)]|[A-Za-z0-9]", re.ASCII)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_YAML_WORDS = frozenset(("true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"))


class ScaffoldError(ValueError):
    pass


@dataclass(frozen=True)
class Request:
    what: str
    name: str
    id: str | None = None
    datastream: str | None = None
    alias: str | None = None
    sandbox: str | None = None


def scaffold(root: Path, request: Request) -> tuple[Path, str]:
    """Where the new file goes and its text; ScaffoldError when it cannot be made valid."""
    kind = WHAT[request.what]
    for suffix in sources.YAML_SUFFIXES:  # `new datastream web-test.yaml` means web-test
        if request.name.endswith(suffix) and len(request.name) > len(suffix):
            request = replace(request, name=request.name[: -len(suffix)])
    if not _NAME.fullmatch(request.name):
        raise ScaffoldError(f"{request.name!r}: a file name is letters, digits, '.', '_' and '-' (like web-prod)")
    path = root / kind.value / f"{request.name}.yaml"
    for existing in (path, path.with_suffix(".yml")):
        if os.path.lexists(existing):
            raise ScaffoldError(f"{existing} already exists; `cpcompile new` never replaces a file")
    if request.id is not None and not _UUID.fullmatch(request.id):
        raise ScaffoldError(f"--id {request.id!r} is not a UUID (8-4-4-4-12 hex digits)")
    project, _ = load_project(sources.discover(root).files)
    context = {"name": request.name, "id": (request.id or str(uuid.uuid4())).lower()}
    context.update(_CONTEXT[request.what](project, request))
    text = _render(f"{request.what}.yaml.j2", context)
    _check(text, kind)
    return path, text


def _datastream_context(project: Project, request: Request) -> dict[str, Any]:
    index = datastream_index(project)
    if request.name in index:
        raise ScaffoldError(f"a datastream named {request.name!r} already exists ({index[request.name].doc.relpath})")
    return {"sandbox": request.sandbox or _only_sandbox(project) or "prod"}


def _destination_context(project: Project, request: Request) -> dict[str, Any]:
    if request.datastream is None:
        raise ScaffoldError("a destination needs its datastream: --datastream NAME (a datastream file's name or id)")
    index = datastream_index(project)
    entry = index.get(datastream_key(request.datastream))
    if entry is None:
        close = difflib.get_close_matches(request.datastream, list(index), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else "; create it first: cpcompile new datastream NAME"
        raise ScaffoldError(f"no datastream {request.datastream!r} in {sources.Kind.DATASTREAM.value}/{hint}")
    if not entry.model.personalization_destinations:
        raise ScaffoldError(f"{entry.doc.relpath} has personalization_destinations off; turn it on first (CP133)")
    alias = request.alias or _camel(request.name)
    taken = {d.model.alias for d in project.destinations if index.get(d.model.datastream) is entry}
    if alias in taken:
        raise ScaffoldError(f"alias {alias!r} is taken on datastream {request.datastream!r}; choose another with --alias")
    return {"alias": alias, "datastream": request.datastream}


def _catalog_context(project: Project, request: Request) -> dict[str, Any]:
    sandbox = request.sandbox or request.name
    for entry in project.catalogs:
        if entry.model.sandbox == sandbox:
            raise ScaffoldError(f"{entry.doc.relpath} already is the catalog of sandbox {sandbox!r}")
    return {"sandbox": sandbox, "merge_policy_id": str(uuid.uuid4())}


_CONTEXT = {"datastream": _datastream_context, "destination": _destination_context, "catalog": _catalog_context}


def _only_sandbox(project: Project) -> str | None:
    sandboxes = {entry.model.sandbox for entry in project.datastreams}
    return sandboxes.pop() if len(sandboxes) == 1 else None


def _camel(name: str) -> str:
    words = [w for w in re.split(r"[^A-Za-z0-9]+", name) if w]
    return (words[0].lower() + "".join(w[:1].upper() + w[1:] for w in words[1:]) if words else "destination") + "Alias"


def _yaml_scalar(value: str) -> str:
    """``value`` as a YAML scalar: plain when that reads back as the same string, else quoted."""
    if _PLAIN.fullmatch(value) and value.lower() not in _YAML_WORDS and not re.fullmatch(r"[0-9._-]+", value):
        return value
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def _render(template: str, context: dict[str, Any]) -> str:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("cpcompile", "templates/new"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # YAML, not HTML: values are quoted by the yaml filter
    )
    environment.filters["yaml"] = _yaml_scalar
    return environment.get_template(template).render(context)


def _check(text: str, kind: sources.Kind) -> None:
    try:
        FILE_KINDS[kind].model.model_validate(yamlsrc.parse(text))
    except yamlsrc.YamlProblem as problem:
        raise ScaffoldError(f"the new file would not be valid YAML: {problem.message}") from None
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ScaffoldError(f"the new file would not be valid: {where}: {first['msg']}") from None


def write_new(path: Path, text: str) -> None:
    """Create ``path`` with ``text``, whole, and never over an existing file (a hard link of a
    finished temp file fails if the name is taken meanwhile)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise ScaffoldError(f"{path} already exists; `cpcompile new` never replaces a file") from None
    finally:
        Path(tmp).unlink(missing_ok=True)
