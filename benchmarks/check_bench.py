"""What a pre-commit run costs: ``cpcompile validate`` against ``check-jsonschema``, as processes.

    python benchmarks/check_bench.py [--root .] [--repeat 7]

Both run as the separate processes a pre-commit hook starts, interpreter start-up and imports
included, on the same config (by default the example in the repository root). The floor is one
``check-jsonschema`` run over every config file of the three catalogs (datastreams/,
destinations/, audiences/), with the destination schema: one process is what a schema-only hook
costs, and which schema a file is checked against barely changes the time (a hook that checks
each kind against its own schema starts three processes; that sum is printed too). ``cpcompile
validate ROOT`` checks the same files against their models and every cross-file rule, and
policies/ too when present. Each figure is the best of --repeat runs (wall clock), the floor
and both cpcompile runs taken in turn, round after round; "x floor" is the ratio of the bests,
"paired" the median of each round's ratio. The target is cpcompile <= 0.5 x the floor. ``check-jsonschema`` is a benchmark-only dependency
(``pip install check-jsonschema``); without it the benchmark says so and exits 2.

``cpcompile validate`` is timed twice: cold (``--no-cache``: every file parsed and checked, the
figure the target is about) and repeated on the same files with a warm cache (a temporary
cache directory, filled by one untimed run first): the report of the identical earlier run is
reused, which is what a pre-commit hook costs when the config did not change. Whether each
imports pydantic is printed.

A third figure is the cold validation handed to a running validation daemon (``cpcompile daemon
start``, in a temporary socket folder, stopped at the end): the same ``--no-cache`` command, every
file parsed and checked, in a fork of a process that has already imported and built everything;
the command's own process starts, passes its streams on and waits. The other two runs are made
with ``CPCOMPILE_DAEMON=0``, so a daemon of the user's never answers them.

``cpcompile --help`` and ``cpcompile --version`` are timed the same way, and whether they
import pydantic is printed (they should not need it).

Every process runs with byte code written and read as usual (PYTHONDONTWRITEBYTECODE is
dropped from the environment): an installed package has its byte code compiled.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _floor import iter_yaml_files  # noqa: E402

TARGET = 0.5
SCHEMAS = {
    "datastreams": "datastream.schema.json",
    "destinations": "destination.schema.json",
    "audiences": "catalog.schema.json",
}


def _tool(name: str) -> str | None:
    script = Path(sys.executable).with_name(name)
    if script.exists():
        return str(script)
    return shutil.which(name)


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    start = time.perf_counter()
    status = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    return time.perf_counter() - start, status


def best_of(repeat: int, cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    runs = [timed(cmd, env) for _ in range(repeat)]
    return min(t for t, _ in runs), runs[-1][1]


def interleaved(repeat: int, steps: dict[str, tuple[list[str], dict[str, str]]]) -> dict[str, list[tuple[float, int]]]:
    """Each step once per round, round after round: a machine that gets busier or quieter
    during the benchmark then weighs on every step alike, and each round's ratios pair runs
    taken moments apart."""
    runs: dict[str, list[tuple[float, int]]] = {name: [] for name in steps}
    for _ in range(repeat):
        for name, (cmd, env) in steps.items():
            runs[name].append(timed(cmd, env))
    return runs


def imports_pydantic(args: list[str], env: dict[str, str]) -> bool:
    code = (
        "import sys\nfrom cpcompile.cli import main\nsys.argv = ['cpcompile', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('pydantic' in sys.modules, file=sys.stderr)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    return result.stderr.strip().splitlines()[-1:] == ["True"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="cpcompile validate against check-jsonschema, as processes.")
    p.add_argument("--root", type=Path, default=REPO, help="the config to check (default: the repository's example)")
    p.add_argument("--repeat", type=int, default=7, help="runs per figure; the best counts (default 7)")
    args = p.parse_args(argv)
    checker, cpcompile = _tool("check-jsonschema"), _tool("cpcompile")
    if checker is None:
        print("check_bench: check-jsonschema is not installed (pip install check-jsonschema; a benchmark-only dependency)", file=sys.stderr)
        return 2
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(x for x in (str(REPO), env.get("PYTHONPATH")) if x)
    cli = [cpcompile] if cpcompile else [sys.executable, "-m", "cpcompile"]
    files = [str(f) for f in iter_yaml_files(args.root)]
    if not files:
        print(f"check_bench: no config files under {args.root}", file=sys.stderr)
        return 2
    schemas = REPO / "docs" / "schemas"

    daemon_env = {**env, "CPCOMPILE_DAEMON_DIR": tempfile.mkdtemp(prefix="cpd-", dir="/tmp") + "/run"}
    env["CPCOMPILE_DAEMON"] = "0"
    with tempfile.TemporaryDirectory(prefix="check-bench-cache-") as cache:
        warm_env = {**env, "CPCOMPILE_CACHE_DIR": cache}
        validate = [*cli, "validate", str(args.root)]
        subprocess.run(validate, env=warm_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fills the cache
        started = subprocess.run([*cli, "daemon", "start"], env=daemon_env, capture_output=True, text=True)
        if started.returncode != 0:
            print(f"check_bench: the validation daemon did not start: {started.stderr.strip()}", file=sys.stderr)
            return 2
        try:
            runs = interleaved(args.repeat, {
                "floor": ([checker, "--schemafile", str(schemas / SCHEMAS["destinations"]), *files], env),
                "cold": ([*cli, "validate", "--no-cache", str(args.root)], env),
                "repeat": (validate, warm_env),
                "daemon": ([*cli, "validate", "--no-cache", str(args.root)], daemon_env),
            })
        finally:
            subprocess.run([*cli, "daemon", "stop"], env=daemon_env, stdout=subprocess.DEVNULL)
            shutil.rmtree(Path(daemon_env["CPCOMPILE_DAEMON_DIR"]).parent, ignore_errors=True)
        repeat_pydantic = imports_pydantic(["validate", str(args.root)], warm_env)
    cold_pydantic = imports_pydantic(["validate", "--no-cache", str(args.root)], env)
    floor, floor_status = min(t for t, _ in runs["floor"]), runs["floor"][-1][1]
    per_kind = 0.0
    for kind, schema in SCHEMAS.items():
        of_kind = [f for f in files if Path(f).relative_to(args.root).parts[0] == kind]
        if of_kind:
            per_kind += best_of(args.repeat, [checker, "--schemafile", str(schemas / schema), *of_kind], env)[0]
    help_s = best_of(args.repeat, [*cli, "--help"], env)[0]
    version_s = best_of(args.repeat, [*cli, "--version"], env)[0]

    print(f"check benchmark: {args.root} ({len(files)} files), best of {args.repeat}, Python {sys.version.split()[0]}")
    print(f"  {'step':<46}{'seconds':>9}{'x floor':>9}{'paired':>9}")
    print(f"  {'floor: check-jsonschema, one process':<46}{floor:>9.3f}{1.0:>9.2f}{'':>9}  exit {floor_status}")
    print(f"  {'check-jsonschema, one process per kind':<46}{per_kind:>9.3f}{per_kind / floor:>9.2f}")
    status = 0
    for name, label, pydantic in (
        ("cold", "cpcompile validate --no-cache (cold)", cold_pydantic),
        ("repeat", "cpcompile validate, repeated (warm cache)", repeat_pydantic),
        ("daemon", "cpcompile validate --no-cache, daemon running", None),
    ):
        best, code = min(t for t, _ in runs[name]), runs[name][-1][1]
        paired = statistics.median(t / f for (t, _), (f, _) in zip(runs[name], runs["floor"]))
        imported = {True: "imports pydantic", False: "no pydantic", None: "checked in the daemon's fork"}[pydantic]
        note = f"exit {code}; {imported}"
        if name in ("cold", "daemon"):
            note += f"; target <= {TARGET}: {'ok' if best / floor <= TARGET else 'over'}"
        print(f"  {label:<46}{best:>9.3f}{best / floor:>9.2f}{paired:>9.2f}  {note}")
        status = status or code
    for name, seconds, cli_args in (("cpcompile --help", help_s, ["--help"]), ("cpcompile --version", version_s, ["--version"])):
        note = "imports pydantic" if imports_pydantic(cli_args, env) else "no pydantic"
        print(f"  {name:<46}{seconds:>9.3f}{seconds / floor:>9.2f}  {note}")
    return 0 if status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
