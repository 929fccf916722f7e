"""How long ``cpcompile replay`` takes to replay recorded requests through two large artifacts,
relative to two bare ``Artifact.lookup`` loops over the same requests.

    python benchmarks/replay_bench.py [--size xl] [--seed 7] [--requests 1000000] [--repeat 3]

Generates a synthetic tree (benchmarks/generate.py) and a copy in which the first destination
of each of the first 20 datastreams gets a new alias, builds both into ``artifact.json``, and
writes a request file of --requests lines (a seeded mix: 80% recorded requests with a list of
50 audience IDs, 10% with a segmentMembership map, 10% Web SDK request bodies; the profile's
IDs are a few of the datastream's own audiences among IDs mapped elsewhere, about 2.5 hits per
request, as in runtime_bench.py's uniform mix). Then, in this process:

1. load the two sides as ``cpcompile replay BASE HEAD`` does (each artifact verified, then
   loaded into ``cpcompile.runtime``);
2. replay the file as the command does it (stream, parse and check each line, answer it from
   both sides, compare, count), and render the text report;
3. the floor: the same requests, parsed beforehand (untimed) 10,000 at a time, answered by
   two bare loops of ``Artifact.lookup``, one per side; only the loops are timed. Batches keep
   the floor's requests fresh in memory as the replay's are (a million requests held at once
   would be slower to look up, from cache misses alone, and flatter the replay).

Steps 2 and 3 alternate, each keeping its best of --repeat runs (target: replay <= 1.5 x the
floor). Peak RSS is read after loading the sides, after the first replay (what streaming the
file adds) and at the end. The replay must count exactly the answers that the bare loops find
different; exit status 1 if not.
"""

from __future__ import annotations

import argparse
import gc
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # benchmark the checkout, installed or not
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _floor import generate_tree, peak_rss_mib  # noqa: E402
from generate import SIZES  # noqa: E402

TARGET = 1.5
CONFIG = ("datastreams", "destinations", "audiences")
CHANGED_DATASTREAMS = 20
MEMBERSHIPS = 50
BATCH = 10_000  # requests the floor parses, then answers
NOW = 1_798_761_600  # 2027-01-01: some windows open, some closed


def _change_aliases(root: Path, per_datastream: int) -> int:
    """A new alias for the first destination of each of the first CHANGED_DATASTREAMS
    datastreams (destination files come in contiguous blocks per datastream)."""
    files = sorted((root / "destinations").rglob("*.yaml"))
    changed = 0
    for target in files[: CHANGED_DATASTREAMS * per_datastream : per_datastream]:
        lines = target.read_text(encoding="utf-8").splitlines(keepends=True)
        for i, line in enumerate(lines):
            if line.startswith("alias:"):
                lines[i] = f"alias: {line[len('alias:'):].strip()}-changed\n"
                changed += 1
                break
        target.write_text("".join(lines), encoding="utf-8")
    return changed


def _write_requests(path: Path, body: dict[str, Any], count: int, seed: int) -> None:
    """``count`` request lines, streamed to ``path``."""
    import orjson

    rng = random.Random(seed)
    datastreams = sorted(body["datastreams"])
    own = {ds: sorted(body["datastreams"][ds]["audiences"]) for ds in datastreams}
    pool = sorted({a for ids in own.values() for a in ids})
    with path.open("wb", buffering=1 << 20) as out:
        for _ in range(count):
            ds = rng.choice(datastreams)
            hits = rng.sample(own[ds], min(len(own[ds]), rng.choice((1, 2, 2, 3, 3, 4))))
            ids = hits + rng.sample(pool, MEMBERSHIPS - len(hits))
            shape = rng.random()
            if shape < 0.8:
                line: dict[str, Any] = {"datastream": ds, "memberships": ids}
            elif shape < 0.9:
                line = {"datastream": ds, "memberships": {"ups": {i: {"status": "realized"} for i in ids}}}
            else:
                line = {
                    "configId": ds, "memberships": ids,
                    "body": {"events": [{"xdm": {"eventType": "web.webpagedetails.pageViews",
                                                 "timestamp": "2027-01-01T00:00:00Z"}}]},
                }
            out.write(orjson.dumps(line) + b"\n")


def _batches(path: Path, datastreams: Any) -> Iterator[list[tuple[str, Any, Any]]]:
    """The floor's requests: the lines parsed as replay parses them, BATCH at a time (fresh
    objects, as the replay's are, and never the whole file in memory)."""
    from cpcompile.replay import lines, parse_request

    batch = []
    with path.open("rb") as stream:
        for _, raw in lines(stream):
            assert raw is not None
            datastream, memberships, when, _, _ = parse_request(raw, datastreams)
            batch.append((datastream, memberships, NOW if when is None else when))
            if len(batch) == BATCH:
                yield batch
                batch = []
    if batch:
        yield batch


def run(work: Path, size: str, seed: int, count: int, repeat: int) -> int:
    from cpcompile.replay import load_sides, replay
    from cpcompile.replay_render import render_report

    base, head = work / "base", work / "head"
    gen_seconds = generate_tree(base, size, seed)
    head.mkdir()
    for sub in CONFIG:
        shutil.copytree(base / sub, head / sub)
    per_datastream = 5 if size == "s" else 10
    changed_files = _change_aliases(head, per_datastream)
    t0 = time.perf_counter()
    for tree in (base, head):  # in a subprocess, so that building does not count in the peak RSS
        built = subprocess.run([sys.executable, __file__, "--build", str(tree), str(work / f"build-{tree.name}")])
        if built.returncode != 0:
            print(f"replay_bench: the {tree.name} tree has errors; nothing was built", file=sys.stderr)
            return 1
    build_s = time.perf_counter() - t0
    requests = work / "requests.jsonl"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--write-requests", str(work / "build-base" / "artifact.json"),
                    str(requests), str(count), str(seed)], check=True)
    write_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    sides = load_sides(str(work / "build-base" / "artifact.json"), str(work / "build-head" / "artifact.json"), work)
    load_s = time.perf_counter() - t0
    rss_loaded = peak_rss_mib()

    holder: dict[str, Any] = {}

    def replay_once() -> float:
        gc.collect()
        t = time.perf_counter()
        with requests.open("rb") as stream:
            report = replay(sides, stream, str(requests), now=NOW)
            holder["text"] = render_report(report, "text")
        holder["report"] = report
        return time.perf_counter() - t

    replay_s = replay_once()
    rss_replayed = peak_rss_mib()

    old_lookup, new_lookup = sides.old.lookup, sides.new.lookup

    def floor_once() -> float:
        """Only the lookups are timed; parsing each batch is not."""
        gc.collect()
        seconds = 0.0
        differ = 0
        for batch in _batches(requests, sides.datastreams):
            t = time.perf_counter()
            for ds, m, now in batch:
                old_lookup(ds, m, now=now)
            for ds, m, now in batch:
                new_lookup(ds, m, now=now)
            seconds += time.perf_counter() - t
            if "differ" not in holder:
                differ += sum(old_lookup(ds, m, now=now) != new_lookup(ds, m, now=now) for ds, m, now in batch)
        holder.setdefault("differ", differ)
        return seconds

    floor_s = float("inf")
    for i in range(repeat):
        floor_s = min(floor_s, floor_once())
        if i:
            replay_s = min(replay_s, replay_once())
    report = holder["report"]
    ratio = replay_s / floor_s
    print(f"replay benchmark: size {size}, seed {seed}; the head tree renames {changed_files} aliases "
          f"on {changed_files} datastreams")
    print(f"  {count:,} requests, {requests.stat().st_size / 1e6:,.0f} MB; best of {repeat}, Python {sys.version.split()[0]}")
    print(f"  {'step':<44}{'seconds':>9}{'x floor':>9}")

    def line(step: str, seconds: float, r: float | None = None, note: str = "") -> None:
        shown = f"{r:>9.3f}" if r is not None else f"{'':>9}"
        print(f"  {step:<44}{seconds:>9.3f}{shown}  {note}".rstrip())

    line("generate tree (subprocess)", gen_seconds)
    line("build both trees (subprocess)", build_s)
    line("write the request file (subprocess)", write_s)
    line("load both artifacts (replay's sides)", load_s)
    line("floor: two bare Artifact.lookup loops", floor_s, 1.0, f"{floor_s / count / 2 * 1e6:.2f} µs per lookup")
    verdict = "ok" if ratio <= TARGET else f"OVER target {TARGET}"
    line("replay, streamed, text report", replay_s, ratio, f"{replay_s / count * 1e6:.2f} µs per request; target <= {TARGET}: {verdict}")
    print(f"  {report.changed:,} answers change ({holder['differ']:,} by the bare loops), {report.bad_lines} bad lines")
    print(f"  peak RSS {rss_loaded:,.0f} MiB with both artifacts loaded, {rss_replayed:,.0f} MiB after the "
          f"streamed replay, {peak_rss_mib():,.0f} MiB at the end")
    ok = report.changed == holder["differ"] and report.replayed == count and report.bad_lines == 0
    if not ok:
        print("replay_bench: the replay does not count what the bare loops found", file=sys.stderr)
    return 0 if ok else 1


def _child(argv: list[str]) -> int:
    """The steps run in a subprocess: --build ROOT OUT, --write-requests ARTIFACT PATH COUNT SEED."""
    if argv[0] == "--build":
        from cpcompile.build import build

        return 0 if build(Path(argv[1]), Path(argv[2]), cache_dir=None).revision is not None else 1
    import json

    body = json.loads(Path(argv[1]).read_bytes())["body"]
    _write_requests(Path(argv[2]), body, int(argv[3]), int(argv[4]))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("--build", "--write-requests"):
        return _child(argv)
    p = argparse.ArgumentParser(description="Time cpcompile replay against two bare lookup loops.")
    p.add_argument("--size", choices=SIZES, default="xl", help="size of the generated trees (default xl)")
    p.add_argument("--seed", type=int, default=7, help="seed of the tree and the requests (default 7)")
    p.add_argument("--requests", type=int, default=1_000_000, help="request lines (default 1,000,000)")
    p.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best counts (default 3)")
    args = p.parse_args(argv)
    if args.repeat < 1 or args.requests < 1:
        p.error("--repeat and --requests must be at least 1")
    with tempfile.TemporaryDirectory(prefix="cpcompile-replay-bench-") as tmp:
        return run(Path(tmp), args.size, args.seed, args.requests, args.repeat)


if __name__ == "__main__":
    sys.exit(main())
