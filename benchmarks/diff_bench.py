"""How long ``cpcompile diff`` takes on two large trees that differ in one destination, relative
to one cold build of one of them.

    python benchmarks/diff_bench.py [--size xl] [--seed 7] [--repeat 3] [--git]

Generates a synthetic tree (benchmarks/generate.py) into a temporary directory and copies it,
giving the copy's first destination a new alias. Then, in this process, each the best of
--repeat runs:

1. cold build of the base tree: ``cpcompile.build.build(base, out, cache_dir=None)``,
   alternating with
2. diff of the two directories as ``cpcompile diff BASE HEAD`` does it: read, validate and
   compile both sides (YAML parsed once per distinct file), compare, render the text plan
   (target: <= 1.3 x the cold build: the second side and the comparison together cost at most
   0.3 of a build);
3. the same rendered as markdown and as json;
4. with --git: both trees committed to a scratch repository and the diff of HEAD~1 and HEAD,
   each side read with git archive.

Every step must find exactly one effective change (the alias); exit status 1 if not.
"""

from __future__ import annotations

import argparse
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

from _floor import best_of, generate_tree, iter_yaml_files, peak_rss_mib  # noqa: E402
from generate import SIZES  # noqa: E402

TARGET = 1.3
CONFIG = ("datastreams", "destinations", "audiences")


def _change_one_destination(root: Path) -> Path:
    target = sorted((root / "destinations").rglob("*.yaml"))[0]
    lines = target.read_text(encoding="utf-8").splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith("alias:"):
            lines[i] = f"alias: {line[len('alias:'):].strip()}-changed\n"
            break
    else:
        raise SystemExit(f"diff_bench: {target} has no top-level 'alias:' line to change")
    target.write_text("".join(lines), encoding="utf-8")
    return target


def _diff(base: str, head: str, root: Path, fmt: str) -> tuple[int, str]:
    """What ``cpcompile diff BASE HEAD --format FMT`` does, without the process around it."""
    from cpcompile.diff_sides import compare
    from cpcompile.plan_render import render_plan

    old, new, plan = compare(base, head, root)
    if plan is None:
        raise SystemExit(f"diff_bench: a side has errors: {[*old.diagnostics, *new.diagnostics][:3]}")
    return len(plan.effective), render_plan(plan, fmt, base, head)


def _commit_both(work: Path, base: Path, head: Path) -> Path | None:
    repo = work / "repo"
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", "-c", "commit.gpgsign=false", "-C", str(repo)]
    repo.mkdir()
    for source in (base, head):
        for sub in CONFIG:
            shutil.rmtree(repo / sub, ignore_errors=True)
            shutil.copytree(source / sub, repo / sub)
        for args in (["init", "-q"], ["add", "-A", "."], ["commit", "-q", "-m", source.name]):
            if subprocess.run([*git, *args], capture_output=True).returncode != 0:
                return None
    return repo


def run(work: Path, size: str, seed: int, repeat: int, with_git: bool) -> int:
    from cpcompile.build import build

    base, head = work / "base", work / "head"
    gen_seconds = generate_tree(base, size, seed)
    head.mkdir()
    for sub in CONFIG:
        shutil.copytree(base / sub, head / sub)
    changed = _change_one_destination(head)
    files = iter_yaml_files(base)
    total_bytes = sum(p.stat().st_size for p in files)
    holder: dict[str, object] = {}

    def cold() -> None:
        holder["build"] = build(base, work / "out", cache_dir=None)

    def diff(fmt: str) -> None:
        holder[fmt] = _diff(str(base), str(head), work, fmt)

    # The build and the text diff alternate, so that whatever else the machine does in the
    # meantime weighs on both alike; each keeps its best run.
    build_s = diff_s = float("inf")
    for _ in range(repeat):
        build_s = min(build_s, best_of(1, cold))
        diff_s = min(diff_s, best_of(1, lambda: diff("text")))
    if getattr(holder["build"], "revision", None) is None:
        print("diff_bench: the generated tree has errors; nothing was built", file=sys.stderr)
        return 1
    results: dict[str, tuple[float, int]] = {"text": (diff_s, holder["text"][0])}  # type: ignore[index]
    for fmt in ("markdown", "json"):
        results[fmt] = (best_of(repeat, lambda: diff(fmt)), holder[fmt][0])  # type: ignore[index]
    if with_git:
        repo = _commit_both(work, base, head)
        if repo is None:
            print("diff_bench: git is not usable here; --git skipped", file=sys.stderr)
        else:
            def diff_git() -> None:
                holder["git"] = _diff("HEAD~1", "HEAD", repo, "text")

            results["git revisions, text"] = (best_of(repeat, diff_git), holder["git"][0])  # type: ignore[index]

    def line(step: str, seconds: float, ratio: float | None, note: str = "") -> None:
        r = f"{ratio:>9.3f}" if ratio is not None else f"{'':>9}"
        print(f"  {step:<40}{seconds:>9.3f}{r}  {note}".rstrip())

    print(f"diff benchmark: size {size}, seed {seed}; the head tree changes the alias of {changed.relative_to(head)}")
    print(f"  {len(files):,} files, {total_bytes / 1e6:.1f} MB per side; best of {repeat}, Python {sys.version.split()[0]}")
    print(f"  {'step':<40}{'seconds':>9}{'x build':>9}")
    line("generate tree (subprocess)", gen_seconds, None)
    line("cold build of one side, no cache", build_s, 1.0)
    ok = True
    for step, (seconds, found) in results.items():
        note = f"{found} effective change" + ("" if found == 1 else "s")
        if found != 1:
            ok = False
            note += ", expected 1"
        if step == "text":
            verdict = "ok" if seconds / build_s <= TARGET else f"OVER target {TARGET}"
            note += f"; target <= {TARGET}: {verdict}"
        line(f"diff, two directories, {step}" if step in ("text", "markdown", "json") else f"diff, {step}",
             seconds, seconds / build_s, note)
    print(f"  peak RSS {peak_rss_mib():,.0f} MiB")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Time cpcompile diff of two large trees against one cold build.")
    p.add_argument("--size", choices=SIZES, default="xl", help="size of the generated trees (default xl)")
    p.add_argument("--seed", type=int, default=7, help="seed of the generated tree (default 7)")
    p.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best counts (default 3)")
    p.add_argument("--git", action="store_true", help="also diff the two trees as two commits of a repository")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    with tempfile.TemporaryDirectory(prefix="cpcompile-diff-bench-") as tmp:
        return run(Path(tmp), args.size, args.seed, args.repeat, args.git)


if __name__ == "__main__":
    sys.exit(main())
