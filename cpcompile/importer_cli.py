"""Command line of `cpcompile import catalog`, `cpcompile import destinations` and `cpcompile drift`.

Thin wrappers: the work is in ``importer`` and ``drift``. A file of the export that cannot be
read is one located line on stderr and exit 1, never a traceback; a config file that cannot be
updated is reported as ``validate`` reports it and left as it is.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import click

from .diagnostics import EXIT_CONFIG_ERRORS, EXIT_OK
from .escape import neutralise

EXIT_DRIFT = 4  # `drift --exit-code`: the platform differs from the config in some effective way
_SANDBOX = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
JSON_FILES = click.Path(exists=True, dir_okay=False, path_type=Path)
ROOT_OPTION = click.option(
    "--root", type=click.Path(exists=True, file_okay=False, path_type=Path), default=Path("."), show_default=True,
    help="The config root (the folder holding audiences/ and destinations/).",
)


def _fail(ctx: click.Context, command: str, message: str) -> None:
    click.echo(neutralise(f"cpcompile {command}: {message}"), err=True)
    ctx.exit(EXIT_CONFIG_ERRORS)


def _read_existing(ctx: click.Context, command: str, root: Path, path: Path) -> str | None:
    """The config file's text, or None when there is none; a file that cannot be updated is
    reported at its position (as validate would) and the command stops."""
    from . import yamlsrc
    from .fmt import read_text

    if not path.exists():
        return None
    try:
        text = read_text(path)
        yamlsrc.parse(text)
    except yamlsrc.YamlProblem as problem:
        _fail(ctx, command, f"{_shown(root, path)}:{problem.line + 1}:{problem.col + 1}: error {problem.code} "
              f"{problem.message}; fix it first, the file was left as it is")
        return None
    except OSError as err:
        _fail(ctx, command, f"{_shown(root, path)}: cannot be read ({err.strerror or err})")
        return None
    return text


def _shown(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


@click.group("import")
def import_group() -> None:
    """Write config files from Adobe Experience Platform API listings (docs/import.md)."""


@import_group.command("catalog")
@click.option("--sandbox", required=True, help="The sandbox the listings were read from; writes audiences/SANDBOX.yaml.")
@click.option("--segments", "segment_files", multiple=True, required=True, type=JSON_FILES,
              help="A segment definition listing (GET /segment/definitions), as returned; repeat for more pages.")
@click.option("--merge-policies", "policy_files", multiple=True, required=True, type=JSON_FILES,
              help="A merge policy listing (GET /config/mergePolicies), as returned; repeat for more pages.")
@click.option("--exported-at", metavar="WHEN",
              help="When the listings were read: 2026-12-01T08:00:00Z, or 'now' for the clock.  [default: "
              "SOURCE_DATE_EPOCH, else the newest updateEpoch in the listings]")
@ROOT_OPTION
@click.pass_context
def import_catalog(
    ctx: click.Context, sandbox: str, segment_files: tuple[Path, ...], policy_files: tuple[Path, ...],
    exported_at: str | None, root: Path,
) -> None:
    """Write the audience catalog of SANDBOX (audiences/SANDBOX.yaml) from the platform's
    segment definition and merge policy listings. An existing file is updated: its comments,
    datasets, fields, and labels the listing does not carry are kept.

    Exit status: 0 written, 1 a listing or the existing file cannot be read, 2 usage error.
    """
    from .atomic import write_atomic
    from .importer import catalog_text, read_catalog
    from .importer_json import ExportError

    if not _SANDBOX.fullmatch(sandbox):
        raise click.BadParameter("a sandbox name is letters, digits, '-' and '_' (it names the file)", ctx, param_hint="--sandbox")
    try:
        export = read_catalog(sandbox, segment_files, policy_files)
    except ExportError as err:
        _fail(ctx, "import catalog", str(err))
        return
    stamp, source = _exported_at(ctx, exported_at, export.newest_update)
    path = root / "audiences" / f"{sandbox}.yaml"
    existing = _read_existing(ctx, "import catalog", root, path)
    written = catalog_text(export, stamp, existing)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, written.text.encode("utf-8"))
    if source:
        click.echo(f"exported_at {stamp}: {source}", err=True)
    click.echo(neutralise(f"wrote {_shown(root, path)}: {written.summary}"))
    ctx.exit(EXIT_OK)


def _exported_at(ctx: click.Context, given: str | None, newest: int | None) -> tuple[str, str]:
    """The stamp and, when it was not given, where it came from (said on stderr)."""
    from .importer import instant as as_instant, parse_instant

    if given is not None:
        if given == "now":
            return as_instant(int(time.time())), ""
        try:
            return parse_instant(given), ""
        except ValueError as err:
            raise click.BadParameter(str(err), ctx, param_hint="--exported-at") from None
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch:
        if not epoch.isdigit():
            raise click.UsageError(f"SOURCE_DATE_EPOCH={epoch!r} is not a Unix time in whole seconds")
        return as_instant(int(epoch)), "from SOURCE_DATE_EPOCH"
    if newest is None:
        raise click.UsageError("the listings carry no updateEpoch or updateTime: pass --exported-at (the time of the export, or 'now')")
    return as_instant(newest), (
        "the newest update in the listings; pass --exported-at with the time of the export, or the catalog may look "
        "older than it is"
    )


@import_group.command("destinations")
@click.argument("flow_files", metavar="FLOWS.json...", nargs=-1, required=True, type=JSON_FILES)
@ROOT_OPTION
@click.pass_context
def import_destinations(ctx: click.Context, flow_files: tuple[Path, ...], root: Path) -> None:
    """Write one destinations/*.yaml per dataflow of the Flow Service listings FLOWS.json
    (GET /flows, as returned; several files are several pages). A destination already in a
    file (same id) updates that file; what the listing does not carry (the integration alias,
    the datastream) is a placeholder that validate reports until it is filled in.

    Exit status: 0 written, 1 a listing or an existing file cannot be read, 2 usage error.
    """
    from .atomic import write_atomic
    from .importer import destination_text, read_destinations, slug
    from .importer_json import ExportError

    try:
        exports = read_destinations(flow_files)
    except ExportError as err:
        _fail(ctx, "import destinations", str(err))
        return
    folder = root / "destinations"
    known = _files_by_id(folder)
    datastreams = {ident: path.stem for ident, path in _files_by_id(root / "datastreams").items()}
    taken = {p.resolve() for p in known.values()}
    planned = []
    for export in exports:
        ident = export.destination["id"]
        path = known.get(ident)
        if path is None:
            stem = slug(export.destination["name"]) or ident
            path = folder / f"{stem}.yaml"
            if path.exists() or path.resolve() in taken:
                path = folder / f"{stem}-{ident[:8]}.yaml"
            taken.add(path.resolve())
        planned.append((export, path, _read_existing(ctx, "import destinations", root, path)))
    folder.mkdir(parents=True, exist_ok=True)
    for export, path, existing in planned:
        written = destination_text(export, existing, datastreams)
        write_atomic(path, written.text.encode("utf-8"))
        click.echo(neutralise(f"wrote {_shown(root, path)}: {written.summary}"))
    ctx.exit(EXIT_OK)


def _files_by_id(folder: Path) -> dict[str, Path]:
    """The config files under ``folder`` by the id they declare, in lower case (files that
    cannot be read are skipped here; writing over one is refused later)."""
    from . import yamlsrc
    from .fmt import read_text

    out: dict[str, Path] = {}
    if not folder.is_dir():
        return out
    for path in sorted(folder.rglob("*.y*ml")):
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        try:
            data = yamlsrc.parse(read_text(path))
        except (yamlsrc.YamlProblem, OSError):
            continue
        ident = data.get("id") if isinstance(data, dict) else None
        if isinstance(ident, str):
            out.setdefault(ident.lower(), path)
    return out


def _config_root(ctx: click.Context, param: click.Parameter, root: Path) -> Path:
    from .sources import CONFIG_KINDS

    if not any((root / kind.value).is_dir() for kind in CONFIG_KINDS):
        folders = ", ".join(f"{kind.value}/" for kind in CONFIG_KINDS)
        raise click.BadParameter(f"{root} holds none of {folders}; pass the config root", ctx, param)
    return root


@click.command("drift")
@click.argument("export_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("root", required=False, default=".", callback=_config_root,
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(("text", "markdown", "json")), default="text", show_default=True)
@click.option("--exit-code", is_flag=True, help="Exit 4 when the platform differs in an effective way, 0 when it does not.")
@click.pass_context
def drift(ctx: click.Context, export_dir: Path, root: Path, fmt: str, exit_code: bool) -> None:
    """Compare the config under ROOT (default: .) with a fresh export of the platform in
    EXPORT_DIR: one folder per sandbox holding its segments*.json, merge-policies*.json and
    flows*.json listings (docs/drift.md).

    Exit status: 0 compared (with --exit-code: no effective drift), 4 (only with --exit-code)
    effective drift, 1 config errors or an unreadable export file, 2 usage error, 3 internal error.
    """
    from .shown_paths import as_seen_from_working_directory
    from .drift import compare, read_export, render
    from .importer_json import ExportError
    from .render import render as render_diagnostics
    from .validate import validate_tree

    try:
        platform = read_export(export_dir)
    except ExportError as err:
        _fail(ctx, "drift", str(err))
        return
    if not platform:
        raise click.BadParameter("no sandbox folder with listings in it (docs/drift.md)", ctx, param_hint="EXPORT_DIR")
    result = validate_tree(root)
    if result.exit_code() != EXIT_OK:
        click.echo("cpcompile drift: the config has errors; nothing compared", err=True)
        shown = as_seen_from_working_directory(root, result.diagnostics)
        click.echo(render_diagnostics(shown, "json" if fmt == "json" else "text", files_checked=result.files_checked,
                                      skipped=result.skipped), nl=False)
        ctx.exit(EXIT_CONFIG_ERRORS)
    report = compare(result.project, platform)
    click.echo(render(report, fmt), nl=False)
    ctx.exit(EXIT_DRIFT if exit_code and report.effective else EXIT_OK)
