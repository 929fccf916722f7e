"""Command line of the service: ``cpcompile serve`` and ``cpcompile profiles import``.

A thin edge over ``cpcompile.serve``: settings and artifact are checked before any worker
starts, so a mistake is one clear line and an exit code, never a traceback in a worker log.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import click

from .diagnostics import EXIT_CONFIG_ERRORS, EXIT_USAGE
from .escape import neutralise

MAX_LINE = 1024 * 1024
BATCH = 1000
MAX_REPORTED = 20

SETTINGS = click.option(
    "--settings", "settings_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A TOML settings file (docs/serve.md); options given here override it.",
)


def _settings(settings_file: Path | None, **options: Any) -> Any:
    from .serve.settings import SettingsError, load_settings

    try:
        return load_settings(settings_file).with_options(**options)
    except SettingsError as err:
        raise click.UsageError(str(err)) from None


@click.command()
@click.argument("artifact", metavar="ARTIFACT_OR_URL", required=False)
@SETTINGS
@click.option("--host", help="Address to listen on.  [default: 127.0.0.1, loopback only]")
@click.option("--port", type=int, help="Port.  [default: 8443 with TLS, else 8080]")
@click.option("--certfile", type=click.Path(exists=True, dir_okay=False), help="TLS certificate (PEM); the Web SDK only speaks HTTPS.")
@click.option("--keyfile", type=click.Path(exists=True, dir_okay=False), help="TLS private key (PEM).")
@click.option("--org-id", help="The IMS org the Web SDK is configured with (1234ABCD@AdobeOrg): names its cookies.")
@click.option("--profiles", help="Profile store: redis://HOST:PORT/DB or a SQLite file.  [default: profiles.sqlite3]")
@click.option("--public-key", type=click.Path(exists=True, dir_okay=False), help="Serve only artifacts signed with this key.")
@click.option("--allowed-origin", "allowed_origins", multiple=True, help="A page origin allowed to call with credentials (repeatable).")
@click.option("--location-hint", help="The cluster name set in the Web SDK's cluster cookie.  [default: local]")
@click.option("--poll-interval", type=float, help="Seconds between artifact refreshes.  [default: 2]")
@click.option("--max-stale", type=float, help="Seconds of failed refreshes before answers are flagged or refused.")
@click.option("--stale-policy", type=click.Choice(["serve", "fail"]), help="When stale: keep serving and flag it, or refuse.  [default: serve]")
@click.option("--workers", type=int, help="Server processes.  [default: 1]")
@click.option("--check", is_flag=True, help="Check the settings and load the artifact, then exit without serving.")
@click.pass_context
def serve(ctx: click.Context, /, artifact: str | None, settings_file: Path | None, check: bool, **options: Any) -> None:
    """Answer the Web SDK, the Server API and plain lookups from ARTIFACT_OR_URL (docs/serve.md)."""
    from .runtime import ArtifactError
    from .serve import open_source
    from .serve.settings import SettingsError
    from .serve.source import FetchError
    from .serve.store import StoreUnavailable

    options["allowed_origins"] = tuple(options["allowed_origins"])
    settings = _settings(settings_file, artifact=artifact, **options)
    try:
        source = open_source(settings)
        import asyncio  # here, not at the top: every cpcompile command imports this module

        asyncio.run(_check_store(settings))
    except (FetchError, ArtifactError, OSError) as err:  # the artifact: not there, or not to be trusted
        click.echo(f"cpcompile serve: {settings.artifact}: rejected: {neutralise(str(err))}", err=True)
        ctx.exit(EXIT_CONFIG_ERRORS)
    except (SettingsError, StoreUnavailable, ValueError) as err:  # a setting (a key file, a URL scheme, a store)
        raise click.UsageError(str(err)) from None
    scheme = "https" if settings.certfile else "http"
    click.echo(
        f"cpcompile serve: {source.current.revision} from {settings.artifact}; "
        f"{scheme}://{settings.host}:{settings.effective_port}",
        err=True,
    )
    if settings.org_id is None:
        click.echo("cpcompile serve: warning: no --org-id, so Web SDK requests are refused (422)", err=True)
    if check:
        return
    from .serve.run import run

    del source  # each worker loads its own; the supervisor need not hold this copy while it waits
    run(settings)


async def _check_store(settings: Any) -> None:
    """Open the store once before the workers start; a Redis that is down only warns, since
    the service answers degraded and recovers by itself when it returns."""
    from .serve import open_store

    store = open_store(settings.profiles, timeout=max(settings.store_timeout, 1.0))
    try:
        if not await store.ready():
            click.echo(f"cpcompile serve: warning: the profile store {settings.profiles.split('@')[-1]} does not answer yet; "
                       "answers are degraded until it does", err=True)
    finally:
        await store.close()


@click.group()
def profiles() -> None:
    """Feed the profile store that `cpcompile serve` reads."""


@profiles.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@SETTINGS
@click.option("--profiles", "store", help="Profile store: redis://HOST:PORT/DB or a SQLite file.  [default: the settings', else profiles.sqlite3]")
@click.pass_context
def import_profiles(ctx: click.Context, file: Path, settings_file: Path | None, store: str | None) -> None:
    """Store the profiles of FILE.jsonl: one {"namespace", "id", "segmentMembership"|"memberships",
    "attributes"} object a line. Every line is checked first; with any error nothing is written."""
    from .serve import open_store
    from .serve.store import StoreUnavailable

    settings = _settings(settings_file, profiles=store)
    bad = 0  # counted, and only the first few kept: a file of bad lines may be any size
    for number, parsed in _parsed_lines(file):
        if isinstance(parsed, str):
            bad += 1
            if bad <= MAX_REPORTED:
                click.echo(f"{file}:{number}: {neutralise(parsed)}", err=True)
    if bad:
        if bad > MAX_REPORTED:
            click.echo(f"... and {bad - MAX_REPORTED} more", err=True)
        click.echo(f"{file}: {bad} bad line(s); nothing imported", err=True)
        ctx.exit(EXIT_CONFIG_ERRORS)

    async def write() -> int:
        # a bulk write is pipelined in batches: each may take longer than one lookup's budget
        target = open_store(settings.profiles, timeout=10.0, ttl=settings.profile_ttl)
        total = 0
        try:
            batch: list[Any] = []
            for number, parsed in _parsed_lines(file):
                if isinstance(parsed, str):  # the file changed since it was checked
                    raise click.ClickException(f"{file}:{number}: {neutralise(parsed)} (the file changed while it was imported)")
                batch.append(parsed)
                if len(batch) == BATCH:
                    total += await target.put_many(batch)
                    batch = []
            if batch:
                total += await target.put_many(batch)
        finally:
            await target.close()
        return total

    try:
        import asyncio

        total = asyncio.run(write())
    except StoreUnavailable as err:
        click.echo(f"cpcompile profiles import: {neutralise(str(err))}", err=True)
        ctx.exit(EXIT_USAGE)
    click.echo(f"imported {total} profile(s) into {settings.profiles}")


def _lines(file: Path) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) for each non-blank line; None for a line over MAX_LINE bytes."""
    with open(file, "rb") as f:
        number = 0
        while True:
            line = f.readline(MAX_LINE + 1)
            if not line:
                return
            number += 1
            if len(line) > MAX_LINE and not line.endswith(b"\n"):
                while line and not line.endswith(b"\n"):
                    line = f.readline(MAX_LINE + 1)
                yield number, None
                continue
            if line.strip():
                yield number, line


def _parsed_lines(file: Path) -> Iterator[tuple[int, Any]]:
    """(line number, (identity, profile)) for each profile line, or (line number, what is
    wrong with it)."""
    from .serve.identity import IdentityError, valid_identity
    from .serve.store import ProfileError, profile_from_json

    for number, line in _lines(file):
        if line is None:
            yield number, f"the line is longer than {MAX_LINE // 1024} KB"
            continue
        try:
            document = json.loads(line)
        except (ValueError, RecursionError):
            document = None
        if not isinstance(document, dict):
            yield number, "not a JSON object (one profile per line)"
            continue
        try:
            identity = valid_identity(document.pop("namespace", None), document.pop("id", None))
            yield number, (identity, profile_from_json(document))
        except (IdentityError, ProfileError) as err:
            yield number, str(err)
