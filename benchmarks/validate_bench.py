"""How long ``cpcompile validate`` takes, relative to just parsing the YAML.

    python benchmarks/validate_bench.py [--size xl] [--seed 7] [--root DIR] [--repeat 3] [--cli]

Generates a synthetic tree (benchmarks/generate.py) into a temporary directory, or uses --root.
Then, in this process:

1. the floor: PyYAML's CSafeLoader loading every config file, the collector paused as
   cpcompile pauses it (benchmarks/_floor.py; ruamel's C safe_load when PyYAML is missing);
2. ``cpcompile.validate.validate_tree(root)``, which must report no errors.

Each is the best of --repeat runs. The figure that matters is validate / floor (target <= 1.0);
seconds alone depend on the machine. --cli also times ``cpcompile validate ROOT`` as a
subprocess (interpreter start-up and imports included). Peak memory is measured by running
``validate_tree`` once more in a fresh process (scaling_bench.py's step), so that neither the
floor nor generating the tree counts: its peak RSS (target at xl: <= 250 MiB) and the bytes per
mapping of what validating added to the process.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # benchmark the checkout, installed or not
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _floor import Floor, best_of, generate_tree, iter_yaml_files, rss_mib  # noqa: E402
from generate import SIZES  # noqa: E402
from scaling_bench import memory_line, run_step  # noqa: E402

TARGET_RATIO = 1.0
TARGET_PEAK_MIB = 250  # at xl


def _import_validate_tree():
    try:
        from cpcompile.validate import validate_tree
    except ImportError as e:
        print(
            f"validate_bench: cannot import cpcompile.validate.validate_tree ({e}).\n"
            "The validator is not available in this checkout; nothing to benchmark.",
            file=sys.stderr,
        )
        sys.exit(2)
    return validate_tree


def _cli_command(root: Path) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    script = Path(sys.executable).with_name("cpcompile")
    if script.exists():
        return [str(script), "validate", str(root)], env
    found = shutil.which("cpcompile")
    if found:
        return [found, "validate", str(root)], env
    # not installed: run the checkout's CLI entry point
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    code = "import sys; from cpcompile.cli import main; sys.exit(main())"
    return [sys.executable, "-c", code, "validate", str(root)], env


def run(root: Path, repeat: int, cli: bool, label: str, gen_seconds: float | None) -> int:
    validate_tree = _import_validate_tree()
    files = iter_yaml_files(root)
    if not files:
        print(f"validate_bench: no config files under {root}", file=sys.stderr)
        return 2
    total_bytes = sum(p.stat().st_size for p in files)

    yaml_floor = Floor(root, repeat)
    floor = yaml_floor.seconds

    holder: dict[str, object] = {}

    def validate() -> None:
        holder["result"] = None  # let the previous result go before the next run
        holder["result"] = validate_tree(Path(root))

    validate_s = best_of(repeat, validate)
    memory = run_step("validate", Path(root), 1)  # a fresh process: the peak is validate's own
    diagnostics = list(getattr(holder["result"], "diagnostics"))
    errors = [d for d in diagnostics if d.is_error]

    cli_s = cli_rc = None
    cmd: list[str] = []
    failures: list[tuple[int, bytes]] = []
    cli_rss: list[float] = []
    if cli:
        cmd, env = _cli_command(root)

        def run_cli() -> None:
            with tempfile.TemporaryFile() as err:
                proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
                _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage
                proc.returncode = os.waitstatus_to_exitcode(status)
                cli_rss.append(rss_mib(usage.ru_maxrss))
                if proc.returncode != 0:
                    err.seek(0)
                    failures.append((proc.returncode, err.read()))

        cli_s = best_of(repeat, run_cli)
        cli_rc = failures[-1][0] if failures else 0

    ratio = validate_s / floor
    print(f"validate benchmark: {label}")
    print(f"  {len(files):,} files, {total_bytes / 1e6:.1f} MB, best of {repeat}, Python {sys.version.split()[0]}")
    print(f"  {'step':<40}{'seconds':>9}{'x floor':>9}")
    if gen_seconds is not None:
        print(f"  {'generate tree (subprocess)':<40}{gen_seconds:>9.2f}{'':>9}")
    for line in yaml_floor.lines(lambda step, sec, r: f"  {step:<40}{sec:>9.2f}{r:>9.2f}"):
        print(line)
    verdict = "ok" if ratio <= TARGET_RATIO else f"OVER target {TARGET_RATIO:.2f}"
    print(f"  {'validate_tree':<40}{validate_s:>9.2f}{ratio:>9.2f}  {verdict}")
    if cli_s is not None:
        print(f"  {'cpcompile validate (subprocess)':<40}{cli_s:>9.2f}{cli_s / floor:>9.2f}  exit {cli_rc}")
    print(f"  {memory_line('validate_tree', memory, TARGET_PEAK_MIB)}")
    if cli_s is not None:
        print(f"  peak RSS of cpcompile validate (subprocess): {max(cli_rss):,.0f} MiB")
    print(f"  diagnostics: {len(errors)} errors, {len(diagnostics) - len(errors)} warnings")

    if failures:
        tail = failures[-1][1].decode("utf-8", "replace").strip().splitlines()[-5:]
        print(f"validate_bench: `{shlex.join(cmd)}` exited {cli_rc}:", file=sys.stderr)
        for line in tail:
            print(f"  {line}", file=sys.stderr)
    if errors:
        print("validate_bench: the tree has error diagnostics, so the timing is not meaningful:", file=sys.stderr)
        for d in errors[:10]:
            print(f"  {d}", file=sys.stderr)
    return 1 if errors or failures else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Time cpcompile validate against the YAML parsing floor.")
    p.add_argument("--size", choices=SIZES, default="xl", help="size of the generated tree (default xl)")
    p.add_argument("--seed", type=int, default=7, help="seed of the generated tree (default 7)")
    p.add_argument("--root", type=Path, help="benchmark this config tree instead of generating one")
    p.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best counts (default 3)")
    p.add_argument("--cli", action="store_true", help="also time `cpcompile validate ROOT` as a subprocess")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be at least 1")

    _import_validate_tree()  # fail before spending time on generating
    if args.root is not None:
        if not args.root.is_dir():
            p.error(f"--root {args.root} is not a directory")
        return run(args.root, args.repeat, args.cli, str(args.root), None)
    with tempfile.TemporaryDirectory(prefix="cpcompile-bench-") as tmp:
        root = Path(tmp)
        gen_seconds = generate_tree(root, args.size, args.seed)
        return run(root, args.repeat, args.cli, f"size {args.size}, seed {args.seed}", gen_seconds)


if __name__ == "__main__":
    sys.exit(main())
