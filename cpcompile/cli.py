"""Command line: the only module that prints or exits. See README for exit codes."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from . import __version__
from .diagnostics import Diagnostic, EXIT_CONFIG_ERRORS, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, exit_code, sorted_diagnostics
from .escape import log_safe_json, neutralise
from .shown_paths import as_seen_from_working_directory
from .render import FORMATS, count_of, render

BUG_REPORTS = "the cpcompile issue tracker (see 'Reporting bugs' in the README)"


class _Cli(click.Group):
    """Turns an unexpected exception into a one-line apology and exit code 3."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except Exception as err:  # noqa: BLE001 - this is the last line of defence
            if os.environ.get("CPCOMPILE_DEBUG"):
                import traceback  # only here: it costs every command ~10 ms to import

                traceback.print_exc()
            click.echo(
                f"cpcompile: internal error ({type(err).__name__}: {err}). Sorry, this is a bug in "
                f"cpcompile, not in your config; please report it to {BUG_REPORTS} with the command "
                "you ran (set CPCOMPILE_DEBUG=1 for the traceback).",
                err=True,
            )
            ctx.exit(EXIT_INTERNAL)


class _Unwritable(click.ClickException):
    exit_code = EXIT_USAGE


def _config_root(ctx: click.Context, param: click.Parameter, root: Path) -> Path:
    from .sources import CONFIG_KINDS

    if not any((root / kind.value).is_dir() for kind in CONFIG_KINDS):
        folders = ", ".join(f"{kind.value}/" for kind in CONFIG_KINDS)
        raise click.BadParameter(
            f"{root} holds none of {folders}; run in the config repository or pass its path", ctx, param
        )
    return root


ROOT = click.argument(
    "root", required=False, default=".", callback=_config_root,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cpcompile")
def cli() -> None:
    """Validate and compile Custom Personalization destinations kept as YAML in git."""


@cli.command()
@ROOT
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--strict", is_flag=True, help="Warnings fail too (exit 1).")
@click.option(
    "--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Where to keep reports for reuse, outside ROOT (shared with build).  [default: "
    "$CPCOMPILE_CACHE_DIR, else $XDG_CACHE_HOME/cpcompile, else ~/.cache/cpcompile]",
)
@click.option("--no-cache", is_flag=True, help="Neither read nor write the cache.")
@click.option(
    "--daemon", is_flag=True,
    help="When no validation daemon is running, start one (in the background, after this run) for the next runs.",
)
@click.pass_context
def validate(
    ctx: click.Context, root: Path, fmt: str, strict: bool, cache_dir: Path | None, no_cache: bool, daemon: bool
) -> None:
    """Check the config under ROOT (default: .) and report every problem at once.

    An unchanged tree is answered from the report of the identical earlier run, the same
    output and exit status; the cache is kept outside ROOT and its entries are authenticated
    (docs/build.md), --no-cache turns it off. A running validation daemon (cpcompile daemon)
    takes the validation and answers the same, sooner; CPCOMPILE_DAEMON=0 ignores it.

    Exit status: 0 clean, 1 config errors (or warnings with --strict), 2 usage error,
    3 internal error.
    """
    from .cache import CacheSetupError, default_cache_dir, key_from_text
    from .cache_tidy import CacheLimitError, limits_from_environ
    from .validate_cache import validate_root

    try:
        cache = None if no_cache else (cache_dir if cache_dir is not None else default_cache_dir(os.environ))
    except CacheSetupError:  # no home directory: validate as ever, without a cache
        cache = None
    try:
        secret = os.environ.get("CPCOMPILE_CACHE_KEY", "")
        cache_key = key_from_text(secret) if secret and cache is not None else None
        limits = limits_from_environ(os.environ)
        report = validate_root(root, cache_dir=cache, cache_key=cache_key, cache_limits=limits)
    except (CacheSetupError, CacheLimitError) as err:
        raise click.UsageError(str(err)) from None
    diagnostics = as_seen_from_working_directory(root, report.diagnostics)
    click.echo(render(diagnostics, fmt, files_checked=report.files_checked, skipped=report.skipped), nl=False)
    if daemon:  # here, so no daemon took this run
        from .daemon_control import start_in_background

        start_in_background(os.environ)
    ctx.exit(report.exit_code(strict=strict))


@cli.command()
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), default=Path("docs/schemas"), show_default=True
)
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if the files there are stale.")
@click.pass_context
def schema(ctx: click.Context, out: Path, check: bool) -> None:
    """Write JSON Schemas of the config file kinds (for editors and CI) and of the artifact."""
    from .atomic import write_atomic
    from .schemas import published_schemas, stale

    expected = published_schemas()
    outdated = stale(out, expected)
    if check:
        for name in outdated:
            click.echo(f"{out / name}: stale; run `cpcompile schema --out {out}`", err=True)
        ctx.exit(EXIT_CONFIG_ERRORS if outdated else EXIT_OK)
    out.mkdir(parents=True, exist_ok=True)
    for name in outdated:
        write_atomic(out / name, expected[name])
        click.echo(f"wrote {out / name}")
    ctx.exit(EXIT_OK)


@cli.command()
@ROOT
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Output directory.  [default: ROOT/build]",
)
@click.option(
    "--sign-key", metavar="FILE|env:NAME",
    help="Ed25519 private key file (cpcompile keygen), or env:NAME for the key's text in the "
    "environment variable NAME.  [default: the key text in $CPCOMPILE_SIGN_KEY if set, else unsigned]",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--strict", is_flag=True, help="Warnings fail too: exit 1 and write nothing.")
@click.option(
    "--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Incremental build cache, outside ROOT.  [default: $CPCOMPILE_CACHE_DIR, else "
    "$XDG_CACHE_HOME/cpcompile, else ~/.cache/cpcompile]",
)
@click.option("--no-cache", is_flag=True, help="Neither read nor write the cache.")
@click.pass_context
def build(
    ctx: click.Context, root: Path, out: Path | None, sign_key: str | None, fmt: str, strict: bool,
    cache_dir: Path | None, no_cache: bool,
) -> None:
    """Validate ROOT and compile it into the lookup artifact (artifact.json, artifact.msgpack,
    manifest.json; artifact.sig with --sign-key or $CPCOMPILE_SIGN_KEY).

    On any error (or warning, with --strict) nothing is written and an earlier build is left
    as it was. Exit status as for `validate`. The cache is kept outside ROOT and its entries
    are authenticated (docs/build.md); set CPCOMPILE_CACHE_KEY to a secret in CI.
    """
    from . import sources
    from .build import build as run_build
    from .cache import CacheSetupError, default_cache_dir, key_from_text
    from .cache_tidy import CacheLimitError, limits_from_environ
    from .manifest import ManifestOptionError, git_provenance, parse_source_date_epoch
    from .artifact_format.errors import KeyFileError
    from .artifact_format.signer import signing_key

    try:
        key = signing_key(sign_key, os.environ)
    except KeyFileError as err:
        if sign_key is None:  # the message names CPCOMPILE_SIGN_KEY
            raise click.UsageError(str(err)) from None
        raise click.BadParameter(str(err), param_hint="--sign-key") from None
    out_dir = out if out is not None else root / "build"
    try:
        cache = None if no_cache else (cache_dir if cache_dir is not None else default_cache_dir(os.environ))
        built_at = parse_source_date_epoch(os.environ.get("SOURCE_DATE_EPOCH"))
        secret = os.environ.get("CPCOMPILE_CACHE_KEY", "")
        cache_key = key_from_text(secret) if secret and cache is not None else None
        limits = limits_from_environ(os.environ)
        discovery = sources.discover(root)
        provenance = git_provenance(root, discovery.inputs())
        outcome = run_build(
            root, out_dir, sign_key=key, cache_dir=cache, cache_key=cache_key, cache_limits=limits, strict=strict,
            built_at=built_at, provenance=provenance, discovery=discovery,
        )
    except (CacheSetupError, CacheLimitError, ManifestOptionError) as err:
        raise click.UsageError(str(err)) from None
    except OSError as err:  # an output directory that cannot be written: the setup, not a bug
        raise _Unwritable(f"cannot write {out_dir}: {err.strerror or err}") from None
    diagnostics = as_seen_from_working_directory(root, outcome.diagnostics)
    click.echo(render(diagnostics, fmt, files_checked=outcome.files_checked), nl=False)
    if outcome.manifest is not None and fmt == "text":
        counts = outcome.manifest["counts"]
        state = "up to date" if outcome.up_to_date else "wrote"
        numbers = ", ".join(count_of(counts[k], k[:-1]) for k in ("datastreams", "destinations", "audiences", "mappings"))
        click.echo(f"{state} {out_dir}: {outcome.revision} ({numbers})")
    ctx.exit(exit_code(outcome.diagnostics, strict=strict))


@cli.command()
@click.argument("artifact", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--public-key", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Also check the signature with this key.")
@click.option("--signature", type=click.Path(dir_okay=False, path_type=Path), help="Signature file.  [default: artifact.sig beside ARTIFACT]")
@click.pass_context
def verify(ctx: click.Context, artifact: Path, public_key: Path | None, signature: Path | None) -> None:
    """Check an artifact's format, schema version, revision hash and (with --public-key) its
    signature. Exit 0 when it can be trusted, 1 when not."""
    loaded = _load_verified(ctx, artifact, public_key, signature)
    signed = " and signature" if public_key is not None else ""
    click.echo(f"{artifact}: ok, revision{signed} verified: {loaded.revision}")
    ctx.exit(EXIT_OK)


@cli.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True)
@click.option("--force", is_flag=True, help="Replace existing key files.")
@click.pass_context
def keygen(ctx: click.Context, out: Path, force: bool) -> None:
    """Write a new Ed25519 key pair: OUT/cpcompile.key (private, mode 0600) and OUT/cpcompile.pub."""
    from .artifact_format.keys import PRIVATE_KEY_FILENAME, PUBLIC_KEY_FILENAME
    from .artifact_format.signer import generate_keypair

    out.mkdir(parents=True, exist_ok=True)
    try:
        public = generate_keypair(out / PRIVATE_KEY_FILENAME, out / PUBLIC_KEY_FILENAME, overwrite=force)
    except FileExistsError:
        existing = next(p for p in (out / PRIVATE_KEY_FILENAME, out / PUBLIC_KEY_FILENAME) if p.exists() or p.is_symlink())
        raise click.UsageError(
            f"{existing} already exists; pass --force to replace the key pair (artifacts signed "
            "with the old key will no longer verify with the new public key)"
        ) from None
    click.echo(f"wrote {out / PRIVATE_KEY_FILENAME} (keep it secret) and {out / PUBLIC_KEY_FILENAME} (key id {public.key_id})")
    ctx.exit(EXIT_OK)


@cli.command()
@click.argument("dirs", nargs=-1, metavar="[BUILD_DIR] DEST_DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option("--rollback", "revision", metavar="REVISION", help="Point DEST_DIR's current.json back at a kept revision (sha256:…, or a unique prefix of its hex digits).")
@click.option("--list", "list_", is_flag=True, help="List the revisions kept in DEST_DIR, newest first.")
@click.option("--public-key", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Publish only an artifact signed with this key.")
@click.option("--keep", type=click.IntRange(min=1), help="Then keep only N revisions: the one published and the N-1 newest others.")
@click.pass_context
def publish(ctx: click.Context, dirs: tuple[Path, ...], revision: str | None, list_: bool, public_key: Path | None, keep: int | None) -> None:
    """Publish BUILD_DIR (a `cpcompile build` output) to DEST_DIR for any static host:
    artifacts/sha256-<hex>.{json,msgpack,sig}, then current.json pointing at them, written
    last (docs/deploy.md). The build is verified first; exit 1 when it does not verify.

    `publish --rollback REVISION DEST_DIR` points current.json at a kept revision;
    `publish --list DEST_DIR` lists them.
    """
    from . import publish as publishing
    from .artifact_format.errors import KeyFileError
    from .artifact_format.keys import parse_public_key
    from .publish_layout import POINTER

    if revision is not None and list_:
        raise click.UsageError("give --rollback or --list, not both")
    expected = 1 if revision is not None or list_ else 2
    if len(dirs) != expected:
        shape = "DEST_DIR" if expected == 1 else "BUILD_DIR DEST_DIR"
        raise click.UsageError(f"expected {shape}, got {len(dirs)} path(s)")
    if keep is not None and expected == 1:
        raise click.UsageError("--keep applies when publishing a build")
    dest = dirs[-1]
    if list_:
        current = publishing.current_revision(dest)
        for kept in publishing.kept_revisions(dest):
            click.echo(f"{kept}{' (current)' if kept == current else ''}")
        ctx.exit(EXIT_OK)
    try:
        key = None if public_key is None else parse_public_key(public_key)
    except KeyFileError as err:
        raise click.BadParameter(str(err), param_hint="--public-key") from None
    try:
        if revision is not None:
            outcome = publishing.rollback(dest, revision, public_key=key)
        else:
            if not dirs[0].is_dir():
                raise click.BadParameter(f"{dirs[0]} is not a directory", param_hint="BUILD_DIR")
            outcome = publishing.publish(dirs[0], dest, public_key=key, keep=keep)
    except publishing.UnknownRevision as err:
        raise click.BadParameter(str(err), param_hint="--rollback") from None
    except publishing.PublishError as err:
        click.echo(f"cpcompile publish: {err}; nothing changed in {dest}", err=True)
        ctx.exit(EXIT_CONFIG_ERRORS)
    except OSError as err:
        raise _Unwritable(f"cannot publish to {dest}: {err.strerror or err}") from None
    for path in outcome.written:
        click.echo(f"wrote {dest / path}")
    if not outcome.pointer_changed:
        click.echo(f"{dest / POINTER} already points to {outcome.revision}")
    else:
        was = f" (was {outcome.previous})" if outcome.previous else ""
        click.echo(f"{dest / POINTER} now points to {outcome.revision}{was}")
    for pruned in outcome.pruned:
        click.echo(f"removed {pruned}")
    ctx.exit(EXIT_OK)


@cli.command()
@click.argument("artifact", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--datastream", "datastream_id", required=True, help="Datastream ID of the request.")
@click.option("--segments", help="Comma-separated audience IDs the profile belongs to.")
@click.option(
    "--membership-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON: a list of audience IDs, an XDM segmentMembership map, or a profile with one.",
)
@click.option("--attributes-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON: the profile's attributes (XDM), returned only with --authenticated.")
@click.option("--authenticated", is_flag=True, help="Answer as to an authenticated Server API call.")
@click.option("--now", help="Time of the request: 2026-12-24, 2026-12-24T18:00:00Z or Unix seconds.  [default: now]")
@click.option("--envelope", is_flag=True, help="Print the whole Edge Network response, not just the payload.")
@click.option("--public-key", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Verify the signature first.")
@click.option(
    "--config", "config_root", type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The config the artifact was built from: --datastream may then be a datastream file's name, "
    "audiences may be given by their catalog names, and --explain names them.",
)
@click.option("--explain", is_flag=True, help="Also say, on stderr, why each destination got what it got.")
@click.pass_context
def lookup(
    ctx: click.Context, artifact: Path, datastream_id: str, segments: str | None, membership_file: Path | None,
    attributes_file: Path | None, authenticated: bool, now: str | None, envelope: bool, public_key: Path | None,
    config_root: Path | None, explain: bool,
) -> None:
    """Answer one profile request from ARTIFACT and print the JSON, as a page would get it in
    `results.destinations` (or, with --envelope, as the Edge Network sends it)."""

    from .lookup_input import LookupInputError, config_names, read_attributes, read_memberships, parse_now, unknown_datastream_note
    from .runtime import edge_response

    if (segments is None) == (membership_file is None):
        raise click.UsageError("give exactly one of --segments and --membership-file")
    try:
        memberships = read_memberships(segments, membership_file)
        attributes = read_attributes(attributes_file)
        when = parse_now(now, default_to_clock=explain)
        names = None if config_root is None else config_names(config_root)
    except LookupInputError as err:
        raise click.UsageError(str(err)) from None
    if names is not None:
        datastream_id = names.datastream_id(datastream_id)
        memberships = names.memberships(memberships)
    loaded = _load_verified(ctx, artifact, public_key)
    try:
        payload = loaded.lookup(
            datastream_id, memberships, now=when, attributes=attributes, authenticated=authenticated
        )
    except (TypeError, ValueError) as err:  # the runtime's word on a request it cannot answer
        raise click.UsageError(str(err)) from None
    if loaded.stats.unknown_datastreams:
        click.echo(neutralise(unknown_datastream_note(datastream_id, loaded.datastream_ids, names)), err=True)
    elif not explain and not payload and memberships:
        click.echo("note: no destination answers this request; --explain says why", err=True)
    elif explain:
        from .explain import explain_artifact

        lines = explain_artifact(
            artifact, loaded.revision, datastream_id, memberships, now=when, authenticated=authenticated,
            attributes=attributes, names=None if names is None else names.readable,
        )
        click.echo("\n".join(neutralise(line) for line in lines), err=True)
    result = edge_response(payload) if envelope else payload
    # attribute values come from the request file: U+2028 or a bidi control must not reach the
    # terminal raw (log_safe_json escapes them and keeps the JSON value)
    click.echo(log_safe_json(result), nl=False)
    ctx.exit(EXIT_OK)


@cli.command("test")
@ROOT
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.pass_context
def test_specs(ctx: click.Context, root: Path, fmt: str) -> None:
    """Run the spec files in ROOT/specs/ (docs/specs.md) against the artifact the config
    compiles to, answered by cpcompile.runtime as in production.

    Exit status: 0 every spec passed, 1 a spec failed or the config has errors, 2 usage error.
    """
    from . import sources
    from .spec import SPECS_DIR, load_specs
    from .spec_run import run_specs
    from .validate import validate_files

    config = validate_files(sources.discover(root))
    errors = [d for d in config.diagnostics if d.is_error]
    if errors:
        click.echo(render(as_seen_from_working_directory(root, errors), fmt, files_checked=config.files_checked), nl=False)
        if fmt == "text":
            click.echo("specs not run: the config has errors (cpcompile validate)")
        ctx.exit(EXIT_CONFIG_ERRORS)
    loaded = load_specs(root)
    results = run_specs(config.project, loaded.files)
    diagnostics = sorted_diagnostics([*loaded.diagnostics, *results.diagnostics])
    shown = as_seen_from_working_directory(root, diagnostics)
    click.echo(render(shown, fmt, files_checked=loaded.files_checked), nl=False)
    if fmt == "text":
        if loaded.files_checked == 0:
            click.echo(f"no spec files in {root / SPECS_DIR} (docs/specs.md)")
        else:
            click.echo(
                f"{count_of(results.passed + results.failed, 'spec')}: {results.passed} passed, {results.failed} failed"
                f" (artifact {results.revision})"
            )
    ctx.exit(exit_code(diagnostics))


@cli.command("fmt")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--check", is_flag=True, help="Write nothing; list the files that would change and exit 1 if any.")
@click.pass_context
def fmt_files(ctx: click.Context, paths: tuple[Path, ...], check: bool) -> None:
    """Rewrite config files in one canonical layout, comments kept (docs/config.md, "Formatting").

    PATHS are config files or folders (default: .). A file YAML cannot read is reported and left
    as it is. Exit status: 0 nothing to change (or all written), 1 --check found files to change
    or a file has YAML errors, 2 usage error.
    """
    from .atomic import write_atomic
    from .diagnostics import Severity
    from .fmt import NotFormatted, config_files, format_text, read_text
    from .render import render_text
    from .yamlsrc import YamlProblem

    files, refused = config_files(paths or (Path("."),))
    if refused:
        raise click.UsageError("; ".join(neutralise(r) for r in refused))
    problems: list[Diagnostic] = []
    changed = []
    not_formatted = 0
    for path, kind in files:
        try:
            text = read_text(path)
            formatted = format_text(text, kind)
        except YamlProblem as p:
            problems.append(Diagnostic(p.code, Severity.ERROR, p.message, path.as_posix(), p.line + 1, p.col + 1, p.hint))
            continue
        except NotFormatted as err:  # a round-trip quirk, a bug of ours: say so, leave the file alone
            click.echo(f"{neutralise(path.as_posix())}: not formatted: {err}; please report this to {BUG_REPORTS}", err=True)
            not_formatted += 1
            continue
        if formatted != text:
            changed.append(path)
            if not check:
                write_atomic(path, formatted.encode("utf-8"), mode=path.stat().st_mode & 0o777)
    for path in changed:
        click.echo(f"{'would reformat' if check else 'reformatted'} {neutralise(path.as_posix())}")
    if problems:
        click.echo(render_text(sorted_diagnostics(problems), len(files)), nl=False)
    unchanged = len(files) - len(changed) - len(problems) - not_formatted
    verb = "would be reformatted" if check else "reformatted"
    click.echo(f"{count_of(len(changed), 'file')} {verb}, {unchanged} unchanged"
               + (f", {len(problems)} not formatted (YAML errors)" if problems else ""), err=True)
    if not_formatted:
        ctx.exit(EXIT_INTERNAL)
    ctx.exit(EXIT_CONFIG_ERRORS if problems or (check and changed) else EXIT_OK)


@cli.command("new")
@click.argument("what", type=click.Choice(["datastream", "destination", "catalog"]))
@click.argument("name")
@click.option("--root", type=click.Path(exists=True, file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="The config root the file goes under.")
@click.option("--datastream", help="destination: its datastream, a file name or id (required).")
@click.option("--alias", help="destination: its integration alias.  [default: from NAME, home-banner: homeBannerAlias]")
@click.option("--sandbox", help="datastream, catalog: the sandbox.  [default: the config's only one, else prod; catalog: NAME]")
@click.option("--id", "id_", metavar="UUID", help="The new object's id.  [default: a random UUID]")
@click.pass_context
def new(
    ctx: click.Context, what: str, name: str, root: Path, datastream: str | None, alias: str | None,
    sandbox: str | None, id_: str | None,
) -> None:
    """Write a commented datastreams/NAME.yaml, destinations/NAME.yaml or audiences/NAME.yaml
    to start from, valid as written. An existing file is never replaced (exit 2)."""
    from .scaffold import Request, ScaffoldError, scaffold, write_new

    request = Request(what, name, id=id_, datastream=datastream, alias=alias, sandbox=sandbox)
    try:
        path, text = scaffold(root, request)
        write_new(path, text)
    except ScaffoldError as err:
        raise click.UsageError(neutralise(str(err))) from None
    click.echo(f"wrote {neutralise(path.as_posix())}")
    ctx.exit(EXIT_OK)


@cli.command("init")
@click.argument("directory", required=False, default=".", type=click.Path(path_type=Path))
@click.pass_context
def init(ctx: click.Context, directory: Path) -> None:
    """Create a config repository in DIRECTORY (default: here): the config folders with a small
    valid example, specs, the editor schemas, .gitignore, the pre-commit config and the CI
    workflows. A folder that already holds config, or any file it would write, is refused and
    nothing is written (exit 2)."""
    import shlex

    from .init import InitError, init_repository

    try:
        written = init_repository(directory)
    except InitError as err:
        raise click.UsageError(neutralise(str(err))) from None
    for relpath in written:
        click.echo(f"wrote {neutralise((directory / relpath).as_posix())}")
    where = "" if directory == Path(".") else f"cd {neutralise(shlex.quote(str(directory)))} && "
    click.echo(f"next: {where}git init && cpcompile validate --strict && cpcompile build && cpcompile test", err=True)
    ctx.exit(EXIT_OK)


EXIT_CHANGES = 4  # `diff --exit-code`: something effective changed


@cli.command("diff")
@click.argument("base")
@click.argument("head")
@click.option(
    "--root", type=click.Path(exists=True, file_okay=False, path_type=Path), default=Path("."), show_default=True,
    help="The config root in the working tree; a git revision side reads the same folder in that commit.",
)
@click.option("--format", "fmt", type=click.Choice(("text", "markdown", "json")), default="text", show_default=True)
@click.option("--exit-code", is_flag=True, help="Exit 4 when something effective changed, 0 when nothing did.")
@click.option("--replay", "replay_file", metavar="REQUESTS.jsonl",
              help="Also replay these recorded requests through both sides (docs/replay.md); with --exit-code, a changed answer exits 4 too.")
@click.pass_context
def diff(ctx: click.Context, base: str, head: str, root: Path, fmt: str, exit_code: bool, replay_file: str | None = None) -> None:
    """What changes for visitors from BASE to HEAD: each a git revision of the repository at
    --root (read without touching the working tree), a config directory, or a built artifact
    (artifact.json, artifact.msgpack, or the build directory holding them). docs/diff.md.

    Exit status: 0 compared (with --exit-code: nothing effective changed), 4 (only with
    --exit-code) something effective changed, 1 a side has config errors, 2 usage error,
    3 internal error.
    """
    from .diff_sides import SideError, compare
    from .plan_render import render_plan

    try:
        old, new, plan = compare(base, head, root)
    except SideError as err:
        raise click.BadParameter(str(err), ctx, param_hint="BASE or HEAD") from None
    sides = (old, new)
    broken = [side for side in sides if side.body is None]
    if broken:
        for side in broken:
            shown = [replace(d, file=side.shown_prefix + d.file) for d in side.diagnostics]
            text = render(shown, "json" if fmt == "json" else "text", files_checked=side.files_checked, skipped=side.skipped)
            if fmt == "markdown":
                fence = "`" * max(3, 1 + max((len(run) for run in _backtick_runs(text)), default=0))
                text = f"{fence}text\n{text}{fence}\n"
            click.echo(neutralise(f"cpcompile diff: {side.label} ({side.kind}) has errors; nothing compared"), err=True)
            click.echo(text, nl=False)
        ctx.exit(EXIT_CONFIG_ERRORS)
    assert plan is not None
    if replay_file is not None:
        _diff_with_replay(ctx, old, new, plan, replay_file, fmt, exit_code)
    click.echo(render_plan(plan, fmt, base, head), nl=False)
    ctx.exit(EXIT_CHANGES if exit_code and plan.changed else EXIT_OK)


def _diff_with_replay(ctx: click.Context, old: Any, new: Any, plan: Any, requests: str, fmt: str, exit_code: bool) -> None:
    """`diff --replay`: the plan with the replay of REQUESTS.jsonl after it (docs/replay.md)."""
    from .replay import ReplayInputError, open_requests, replay as replay_requests, sides_of
    from .replay_render import plan_with_replay

    try:
        stream = open_requests(requests)
        try:
            report = replay_requests(sides_of(old, new), stream, requests)
        finally:
            if requests != "-":
                stream.close()
    except ReplayInputError as err:
        raise click.BadParameter(neutralise(str(err)), param_hint="--replay") from None
    for line, message in report.errors:
        click.echo(neutralise(f"{requests}:{line}: {message}"), err=True)
    if report.bad_lines > len(report.errors):
        click.echo(f"... and {report.bad_lines - len(report.errors)} more bad lines", err=True)
    click.echo(plan_with_replay(plan, report, fmt, old.label, new.label), nl=False)
    if report.bad_lines:
        ctx.exit(EXIT_CONFIG_ERRORS)
    ctx.exit(EXIT_CHANGES if exit_code and (plan.changed or report.changed) else EXIT_OK)


def _backtick_runs(text: str) -> list[str]:
    import re

    return re.findall(r"`+", text)


@cli.command("replay")
@click.argument("base")
@click.argument("head")
@click.argument("requests", metavar="REQUESTS.jsonl")
@click.option(
    "--root", type=click.Path(exists=True, file_okay=False, path_type=Path), default=Path("."), show_default=True,
    help="The config root in the working tree; a git revision side reads the same folder in that commit.",
)
@click.option("--format", "fmt", type=click.Choice(("text", "markdown", "json")), default="text", show_default=True)
@click.option("--now", help="Time of the requests that carry none: 2026-12-24, 2026-12-24T18:00:00Z or Unix seconds.  [default: when the replay starts]")
@click.option("--exit-code", is_flag=True, help="Exit 4 when some answer changes, 0 when none does.")
@click.pass_context
def replay(ctx: click.Context, base: str, head: str, requests: str, root: Path, fmt: str, now: str | None, exit_code: bool) -> None:
    """Answer each recorded request of REQUESTS.jsonl (one JSON object a line, or - for standard
    input; .gz is read through gzip) from BASE and from HEAD, sides as in `cpcompile diff`, and
    report how many answers change, by datastream and alias, with examples. docs/replay.md.

    A bad line is reported on stderr as REQUESTS.jsonl:LINE and skipped. Exit status: 0
    replayed (with --exit-code: no answer changed), 4 (only with --exit-code) some answer
    changed, 1 a side has config errors or the file has bad lines, 2 usage error, 3 internal error.
    """
    from .diff_sides import SideError
    from .lookup_input import LookupInputError, parse_now
    from .replay import ReplayInputError, load_sides, open_requests, replay as replay_requests
    from .replay_render import render_report

    try:
        when = parse_now(now)
    except LookupInputError as err:
        raise click.BadParameter(str(err), param_hint="--now") from None
    try:
        stream = open_requests(requests)
    except ReplayInputError as err:
        raise click.BadParameter(neutralise(str(err)), param_hint="REQUESTS.jsonl") from None
    try:
        try:
            sides = load_sides(base, head, root)
        except SideError as err:
            raise click.BadParameter(str(err), ctx, param_hint="BASE or HEAD") from None
        broken = [side for side in (sides.base, sides.head) if side.body is None]
        for side in broken:
            shown = [replace(d, file=side.shown_prefix + d.file) for d in side.diagnostics]
            click.echo(neutralise(f"cpcompile replay: {side.label} ({side.kind}) has errors; nothing replayed"), err=True)
            click.echo(render(shown, "json" if fmt == "json" else "text", files_checked=side.files_checked, skipped=side.skipped), nl=False)
        if broken:
            ctx.exit(EXIT_CONFIG_ERRORS)
        try:
            report = replay_requests(sides, stream, requests, now=when)
        except ReplayInputError as err:
            raise click.BadParameter(neutralise(f"{requests}: {err}"), param_hint="REQUESTS.jsonl") from None
    finally:
        if requests != "-":
            stream.close()
    for line, message in report.errors:
        click.echo(neutralise(f"{requests}:{line}: {message}"), err=True)
    if report.bad_lines > len(report.errors):
        click.echo(f"... and {report.bad_lines - len(report.errors)} more bad lines", err=True)
    click.echo(render_report(report, fmt), nl=False)
    if report.bad_lines:
        ctx.exit(EXIT_CONFIG_ERRORS)
    ctx.exit(EXIT_CHANGES if exit_code and report.changed else EXIT_OK)


@cli.command()
@click.argument("kind", type=click.Choice(("destination", "audience", "policy")))
@click.argument("name")
@click.argument(
    "root", required=False, default=".", callback=_config_root,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
@click.pass_context
def explain(ctx: click.Context, kind: str, name: str, root: Path, fmt: str) -> None:
    """Say what may flow where under the data usage policies, and why: each label in play and
    where it comes from, the policies on the destination's marketing actions, and each verdict.

    NAME is a destination's file name, name, alias or id; an audience's id or catalog name; a
    policy's name.
    """
    import json

    from .governance_explain import NotFound, explain as explain_governance, explain_data
    from .validate import validate_tree

    result = validate_tree(root)
    try:
        if fmt == "json":
            click.echo(json.dumps(explain_data(result.project, kind, name), indent=2, ensure_ascii=True))
        else:
            text = explain_governance(result.project, kind, name)
            click.echo("".join(neutralise(line) + "\n" for line in text.splitlines()), nl=False)
    except NotFound as err:
        raise click.BadParameter(str(err), ctx, ctx.command.params[1]) from None
    if result.skipped:
        click.echo(f"note: {count_of(result.skipped, 'file')} with errors left out (see cpcompile validate)", err=True)


@cli.command("site")
@ROOT
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write the site to, outside the config folders; an earlier site there is replaced.")
@click.pass_context
def site_command(ctx: click.Context, root: Path, out: Path) -> None:
    """Write a static HTML catalog of the config under ROOT (default: .) to OUT: datastreams,
    aliases and audiences, a page per destination and per audience, search, and a picture of
    each datastream (docs/site.md). On config errors they are reported, as by `validate`, and
    nothing is written (exit 1)."""
    from .manifest import ManifestOptionError, parse_source_date_epoch
    from .site import SiteOutError, make_site

    try:
        epoch = parse_source_date_epoch(os.environ.get("SOURCE_DATE_EPOCH"))
        outcome = make_site(root, out, source_date_epoch=epoch)
    except (SiteOutError, ManifestOptionError) as err:
        raise click.UsageError(neutralise(str(err))) from None
    except OSError as err:
        raise _Unwritable(f"cannot write {out}: {err.strerror or err}") from None
    diagnostics = as_seen_from_working_directory(root, outcome.diagnostics)
    click.echo(render(diagnostics, "text", files_checked=outcome.files_checked, skipped=outcome.skipped), nl=False)
    if outcome.model is None:
        ctx.exit(EXIT_CONFIG_ERRORS)
    pages = f"{count_of(len(outcome.model.destinations), 'destination page')}, {count_of(len(outcome.model.audiences), 'audience page')}"
    click.echo(f"wrote {out}: index.html, audiences.html, {pages}")
    ctx.exit(EXIT_OK)


def _load_verified(ctx: click.Context, artifact: Path, public_key: Path | None, signature: Path | None = None) -> Any:
    """The loaded artifact; one that fails verification is reported and exits 1, and a
    --public-key file that is not a public key is a usage error (exit 2)."""
    from .runtime import ArtifactError, load
    from .artifact_format.errors import KeyFileError
    from .artifact_format.keys import parse_public_key

    try:
        key = None if public_key is None else parse_public_key(public_key)
    except KeyFileError as err:
        raise click.BadParameter(str(err), param_hint="--public-key") from None
    try:
        return load(artifact, public_key=key, signature_path=signature)
    except ArtifactError as err:
        click.echo(f"{artifact}: rejected: {err}", err=True)
        ctx.exit(EXIT_CONFIG_ERRORS)


def _register_service_commands() -> None:
    from .serve_cli import profiles, serve

    cli.add_command(serve)
    cli.add_command(profiles)


_register_service_commands()


def _register_adoption_commands() -> None:
    from .daemon_cli import daemon_group
    from .importer_cli import drift, import_group

    cli.add_command(import_group)
    cli.add_command(drift)
    cli.add_command(daemon_group)


_register_adoption_commands()


def main() -> None:
    cli(prog_name="cpcompile")


if __name__ == "__main__":  # pragma: no cover
    main()
