"""How long ``cpcompile build`` takes, cold and incremental, relative to just parsing the YAML.

    python benchmarks/build_bench.py [--size xl] [--seed 7] [--root DIR] [--repeat 3]

Generates a synthetic tree (benchmarks/generate.py) into a temporary directory, or uses --root
(which is only read: every output and cache goes to a temporary directory). Then, in this
process, each the best of --repeat runs:

1. the floor: PyYAML's CSafeLoader loading every config file, the collector paused as
   cpcompile pauses it (benchmarks/_floor.py; ruamel's C safe_load when PyYAML is missing);
2. cold build: ``cpcompile.build.build(root, out, cache_dir=None)``, no cache at all, each run
   right after one more floor run; the target (<= 1.3 x floor) holds for the median of those
   paired ratios, steadier on a shared machine than best over best (printed too);
3. cold build into an empty cache directory, which fills it;
4. warm rebuild, nothing changed, with the cache the previous step filled: it only has to prove
   that build/ is up to date (target: <= 0.05 x floor);
4b. the same as `cpcompile build` does it: discovery, then the git provenance of the tree
   (committed to a scratch repository first, when git is installed), then the build;
5. rebuild after changing one destination file (its alias), with that cache (target: <= 0.15);

and the sizes of the artifact: artifact.json and artifact.msgpack, raw and gzip -6; and the peak
memory of a cold build, run once more in a fresh process (scaling_bench.py's step) so that
nothing else this benchmark does counts: its peak RSS (target at xl: <= 300 MiB) and the bytes
per mapping of what building added to the process.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # benchmark the checkout, installed or not
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _floor import (  # noqa: E402
    Floor, best_of, generate_tree, iter_yaml_files, pyyaml_c_safe_load_seconds, ruamel_c_safe_load_seconds,
)
from generate import SIZES  # noqa: E402
from scaling_bench import memory_line, run_step  # noqa: E402

COLD_TARGET = 1.3
PEAK_TARGET_MIB = 300  # a cold build at xl
WARM_TARGET = 0.05
CHANGED_TARGET = 0.15


def _import_build():
    try:
        from cpcompile.build import build
    except ImportError as e:
        print(f"build_bench: cannot import cpcompile.build.build ({e}); nothing to benchmark.", file=sys.stderr)
        sys.exit(2)
    return build


def _one_destination(root: Path) -> Path:
    files = sorted((root / "destinations").rglob("*.yaml")) + sorted((root / "destinations").rglob("*.yml"))
    if not files:
        raise SystemExit(f"build_bench: no destination file under {root / 'destinations'} to change")
    return files[0]


def _change_alias(path: Path, n: int) -> None:
    """Give the destination a new alias (a real change of the artifact), different each time."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith("alias:"):
            base = line[len("alias:") :].strip().split("-bench-")[0]
            lines[i] = f"alias: {base}-bench-{n}\n"
            break
    else:
        raise SystemExit(f"build_bench: {path} has no top-level 'alias:' line to change")
    path.write_text("".join(lines), encoding="utf-8")


def _kib(n: int) -> str:
    return f"{n / 1024:,.0f} KiB" if n < 10 * 1024 * 1024 else f"{n / (1024 * 1024):,.1f} MiB"


def run(root: Path, work: Path, repeat: int, label: str, gen_seconds: float | None) -> int:
    build = _import_build()
    files = iter_yaml_files(root)
    if not files:
        print(f"build_bench: no config files under {root}", file=sys.stderr)
        return 2
    total_bytes = sum(p.stat().st_size for p in files)
    holder: dict[str, object] = {}

    yaml_floor = Floor(root, repeat)
    floor = yaml_floor.seconds

    # 2. cold, no cache
    cold_out = work / "cold"

    def cold() -> None:
        holder["cold"] = None
        holder["cold"] = build(root, cold_out, cache_dir=None)

    # each cold build right after a floor run: on a shared machine the load moves between the
    # floor's runs and the builds', and a ratio of two runs a second apart is steadier than one
    # of two best-ofs a minute apart
    pairs = []
    for _ in range(repeat):
        again = ruamel_c_safe_load_seconds(root, 1) if yaml_floor.skipped else pyyaml_c_safe_load_seconds(root, 1)
        pairs.append((float(again), best_of(1, cold)))
    floor = min(floor, *(f for f, _ in pairs))
    yaml_floor.seconds = floor  # what every ratio below is of
    if yaml_floor.skipped:
        yaml_floor.ruamel = floor
    cold_s = min(c for _, c in pairs)
    paired = sorted(c / f for f, c in pairs)
    paired_median = statistics.median(paired)
    outcome = holder["cold"]
    if outcome.revision is None:  # type: ignore[union-attr]
        errors = [d for d in outcome.diagnostics if d.is_error]  # type: ignore[union-attr]
        print(f"build_bench: the tree has {len(errors)} errors; nothing was built:", file=sys.stderr)
        for d in errors[:10]:
            print(f"  {d.file}:{d.line}:{d.col}: {d.code} {d.message}", file=sys.stderr)
        return 1
    diagnostics = outcome.diagnostics  # type: ignore[union-attr]

    # 3. cold, filling an empty cache (a new one every run)
    out, cache = work / "cached", work / "cache"

    def fill() -> None:
        holder["fill"] = None
        holder["fill"] = build(root, out, cache_dir=cache)

    def fill_fresh() -> None:
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)

    fill_s = float("inf")
    for _ in range(repeat):
        fill_fresh()
        fill_s = min(fill_s, best_of(1, fill))
    cache_bytes = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file())

    # 4. warm, nothing changed
    def warm() -> None:
        holder["warm"] = None
        holder["warm"] = build(root, out, cache_dir=cache)

    warm_s = best_of(repeat, warm)
    warm_ok = getattr(holder["warm"], "up_to_date", False)

    # 4b. warm, with what the command line gathers first (git runs twice)
    cli_warm_s = _cli_warm_seconds(build, root, out, cache, repeat, holder) if shutil.which("git") else None
    cli_warm_ok = cli_warm_s is None or getattr(holder["cli-warm"], "up_to_date", False)

    # 5. one destination changed, a different change each run (restored afterwards)
    def changed() -> None:
        holder["changed"] = None
        holder["changed"] = build(root, out, cache_dir=cache)

    target = _one_destination(root)
    original = target.read_bytes()
    changed_s = float("inf")
    changed_revisions = set()
    try:
        for n in range(repeat):
            _change_alias(target, n)
            changed_s = min(changed_s, best_of(1, changed))
            result = holder["changed"]
            changed_revisions.add(getattr(result, "revision", None))
            if getattr(result, "up_to_date", True) or result.revision is None:  # type: ignore[union-attr]
                print("build_bench: the rebuild after a change did not build", file=sys.stderr)
                return 1
    finally:
        target.write_bytes(original)

    sizes = {}
    for name in ("artifact.json", "artifact.msgpack"):
        data = (cold_out / name).read_bytes()
        sizes[name] = (len(data), len(gzip.compress(data, compresslevel=6, mtime=0)))
    counts = outcome.manifest["counts"]  # type: ignore[union-attr]
    memory = run_step("build", root, 1)  # a fresh process: the peak is the cold build's own

    def line(step: str, seconds: float, ratio: float | None, note: str = "") -> None:
        r = f"{ratio:>9.3f}" if ratio is not None else f"{'':>9}"
        print(f"  {step:<44}{seconds:>9.3f}{r}  {note}".rstrip())

    errors = sum(d.is_error for d in diagnostics)
    print(f"build benchmark: {label}")
    print(
        f"  {len(files):,} files, {total_bytes / 1e6:.1f} MB; {counts['datastreams']:,} datastreams, "
        f"{counts['destinations']:,} destinations, {counts['audiences']:,} audiences, "
        f"{counts['mappings']:,} mappings"
    )
    print(f"  best of {repeat}, Python {sys.version.split()[0]}; {errors} errors, {len(diagnostics) - errors} warnings")
    print(f"  {'step':<44}{'seconds':>9}{'x floor':>9}")
    if gen_seconds is not None:
        line("generate tree (subprocess)", gen_seconds, None)
    for text in yaml_floor.lines(lambda step, sec, r: f"  {step:<44}{sec:>9.3f}{r:>9.3f}"):
        print(text)
    verdict = "ok" if paired_median <= COLD_TARGET else f"OVER target {COLD_TARGET}"
    spread = f"{paired[0]:.2f}-{paired[-1]:.2f}" if len(paired) > 1 else f"{paired[0]:.2f}"
    line(
        "cold build, no cache", cold_s, cold_s / floor,
        f"paired with a floor run: {paired_median:.2f} ({spread}); target <= {COLD_TARGET}: {verdict}",
    )
    line("cold build, empty cache (fills it)", fill_s, fill_s / floor, f"cache {_kib(cache_bytes)}")
    verdict = "ok" if warm_s / floor <= WARM_TARGET else f"OVER target {WARM_TARGET}"
    if not warm_ok:
        verdict = "NOT up to date"
    line("warm rebuild, nothing changed", warm_s, warm_s / floor, f"target <= {WARM_TARGET}: {verdict}")
    if cli_warm_s is not None:
        source = holder["cli-warm"].manifest["source"]  # type: ignore[attr-defined]
        note = f"git_dirty={source['git_dirty']}" if cli_warm_ok else "NOT up to date"
        line("warm rebuild, as the command line does it", cli_warm_s, cli_warm_s / floor, note)
    verdict = "ok" if changed_s / floor <= CHANGED_TARGET else f"OVER target {CHANGED_TARGET}"
    line("rebuild, one destination changed", changed_s, changed_s / floor, f"target <= {CHANGED_TARGET}: {verdict}")
    print(f"  {'artifact':<24}{'raw':>14}{'gzip -6':>14}")
    for name, (raw, packed) in sizes.items():
        print(f"  {name:<24}{_kib(raw):>14}{_kib(packed):>14}")
    print(f"  {memory_line('cold build', memory, PEAK_TARGET_MIB)}")
    return 0 if warm_ok and cli_warm_ok and len(changed_revisions) == repeat else 1


def _cli_warm_seconds(build, root: Path, out: Path, cache: Path, repeat: int, holder: dict) -> float | None:
    """Best time of discovery + git provenance + warm build, the tree committed to git first."""
    import subprocess

    from cpcompile import sources
    from cpcompile.manifest import git_provenance

    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", "-c", "commit.gpgsign=false", "-C", str(root)]
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "bench"]):
        if subprocess.run([*git, *args], capture_output=True).returncode != 0:
            return None

    def cli_warm() -> None:
        holder["cli-warm"] = None
        discovery = sources.discover(root)
        provenance = git_provenance(root, discovery.inputs())
        holder["cli-warm"] = build(root, out, cache_dir=cache, provenance=provenance, discovery=discovery)

    cli_warm()  # the provenance is new to the cache: this one writes
    return best_of(repeat, cli_warm)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Time cpcompile build (cold and incremental) against the YAML floor.")
    p.add_argument("--size", choices=SIZES, default="xl", help="size of the generated tree (default xl)")
    p.add_argument("--seed", type=int, default=7, help="seed of the generated tree (default 7)")
    p.add_argument("--root", type=Path, help="benchmark (a copy of) this config tree instead of generating one")
    p.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best counts (default 3)")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    if args.root is not None and not args.root.is_dir():
        p.error(f"--root {args.root} is not a directory")

    _import_build()  # fail before spending time on generating
    with tempfile.TemporaryDirectory(prefix="cpcompile-build-bench-") as tmp:
        work = Path(tmp)
        root = work / "config"
        if args.root is not None:
            # a copy, so that changing a destination never touches the tree given
            root.mkdir()
            for sub in ("datastreams", "destinations", "audiences"):
                if (args.root / sub).is_dir():
                    shutil.copytree(args.root / sub, root / sub, symlinks=True)
            return run(root, work, args.repeat, str(args.root), None)
        gen_seconds = generate_tree(root, args.size, args.seed)
        return run(root, work, args.repeat, f"size {args.size}, seed {args.seed}", gen_seconds)


if __name__ == "__main__":
    sys.exit(main())
