"""Write a synthetic, valid cpcompile config tree for benchmarks and tests.

    python benchmarks/generate.py OUT_DIR [--size s|m|l|xl] [--seed N] [--force]

The tree is a pure function of (size, seed): the same arguments give the same bytes on any
machine. YAML is written as text with f-strings (no dumper), so generating xl takes seconds.

Sizes (xl is the reference; the others scale it down):

    size  datastreams  destinations  catalog audiences  mappings  sandboxes
    xl    200          2,000         20,000             200,000   20
    l     50           500           5,000              50,000    5
    m     10           100           1,000              10,000    1
    s     2            10            200                1,000     2

The sandbox count grows with the size, so that from m to xl every sandbox looks alike: 10
datastreams, 100 destinations and 1,000 catalog audiences, and per-sandbox checks (guardrails,
catalog lookups) see the same density at every size; a per-mapping cost that grows from one size
to the next is then the code's, not the shape's. Every destination maps 100 distinct audiences
taken from its sandbox's catalog, so every sandbox needs at least 100 catalog audiences: size s
keeps 2 sandboxes of 100 (its catalog is 200 rather than 1/200 of xl). Destinations are spread
evenly over the datastreams (10 per datastream from m upwards, 5 at size s).

Also importable: ``generate(out_dir, size="xl", seed=7)`` returns a :class:`Summary`.

``--governance`` adds data governance: labels on a quarter of the catalog audiences, a labelled
dataset inherited by a fifth of them and by a mapped field, a labelled field, and a policies/
file with a custom action and policies that every labelled audience is evaluated against (none
holds, so the tree stays valid). Without it the tree is byte for byte what it always was.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

SIZES = ("s", "m", "l", "xl")
DIVISORS = {"xl": 1, "l": 4, "m": 20, "s": 200}

XL_DATASTREAMS = 200
XL_DESTINATIONS = 2_000
XL_CATALOG = 20_000
AUDIENCES_PER_DESTINATION = 100
DATASTREAMS_PER_SANDBOX = 10  # as at xl, at every size from m up
MAX_EDGE_PER_SANDBOX = 150  # Adobe's guardrail (CP153)
MAX_STREAMING_PER_SANDBOX = 500  # edge included; Adobe's guardrail (CP154)

# share of mappings with a start date; half of those also get an end date (so ~5% overall)
START_SHARE = 0.10
END_SHARE_OF_STARTED = 0.5
UPLOAD_NAMESPACE_SHARE = 0.05
EDGE_SHARE = 0.10  # then capped at MAX_EDGE_PER_SANDBOX per sandbox
STREAMING_SHARE = 0.35  # then capped with edge at MAX_STREAMING_PER_SANDBOX; the rest is batch
ATTRIBUTES_EVERY = 10

START_DATES = [f"2026-{m:02d}-01" for m in range(1, 13)]
END_DATES = ["2027-01-31", "2027-03-31", "2027-06-30", "2027-12-31"]  # all after every start

GENERATED_SUBDIRS = {"datastreams": "ds-*.yaml", "destinations": "dest-*.yaml", "audiences": "sb-*.yaml"}
GOVERNANCE_FILE = "policies/pol-governance.yaml"
GOVERNANCE_POLICIES = """\
marketing_actions:
  - name: partnerSync
labels:
  - name: custom/partner
policies:
  - name: No aggregated-only data with data science data
    status: enabled
    marketing_actions: [onsitePersonalization]
    deny: {operator: AND, operands: [{label: C1}, {label: C9}]}
  - name: No measurement data, nor identifiable data that may not be exported
    status: enabled
    marketing_actions: [onsitePersonalization, partnerSync]
    deny:
      operator: OR
      operands:
        - label: C8
        - operator: AND
          operands: [{label: I1}, {label: custom/partner}]
  - name: Partner data stays with us
    status: draft
    marketing_actions: [partnerSync]
    deny: {label: custom/partner}
"""


def _audience_governance(a: int) -> str:
    """Labels and datasets of catalog audience ``a`` (by index, so the rng sequence is untouched)."""
    out = ""
    if a % 4 == 0:
        out += "    labels: [C5, I2]\n" if a % 8 == 0 else "    labels: [C1]\n"
    if a % 5 == 2:
        out += "    datasets: [crm-profiles]\n"
    return out


@dataclass(frozen=True)
class Counts:
    datastreams: int
    destinations: int
    catalog_audiences: int
    sandboxes: int
    audiences_per_destination: int = AUDIENCES_PER_DESTINATION

    @property
    def mappings(self) -> int:
        return self.destinations * self.audiences_per_destination


@dataclass(frozen=True)
class Summary:
    size: str
    seed: int
    counts: Counts
    files: int
    bytes: int
    seconds: float

    def line(self) -> str:
        c = self.counts
        return (
            f"size {self.size} seed {self.seed}: {self.files:,} files, {self.bytes:,} bytes, "
            f"{c.sandboxes} sandboxes, {c.datastreams:,} datastreams, "
            f"{c.destinations:,} destinations, {c.catalog_audiences:,} catalog audiences, "
            f"{c.mappings:,} mappings in {self.seconds:.2f}s"
        )


def counts_for(size: str) -> Counts:
    if size not in DIVISORS:
        raise ValueError(f"unknown size {size!r}; expected one of {', '.join(SIZES)}")
    div = DIVISORS[size]
    datastreams = max(2, XL_DATASTREAMS // div)
    destinations = XL_DESTINATIONS // div
    sandboxes = 2 if size == "s" else max(1, datastreams // DATASTREAMS_PER_SANDBOX)
    catalog = max(XL_CATALOG // div, sandboxes * AUDIENCES_PER_DESTINATION)
    return Counts(datastreams, destinations, catalog, sandboxes)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _write(path: Path, text: str) -> int:
    data = text.encode("utf-8")
    path.write_bytes(data)
    return len(data)


def _prepare(out: Path, force: bool) -> None:
    if out.exists():
        if not out.is_dir():
            raise FileExistsError(f"{out} exists and is not a directory")
        if any(out.iterdir()):
            if not force:
                raise FileExistsError(f"{out} is not empty (use --force to write into it)")
            # drop stale generated files only (a smaller tree must not inherit a larger one's)
            for sub, pattern in GENERATED_SUBDIRS.items():
                d = out / sub
                if d.is_dir():
                    for f in d.glob(pattern):
                        f.unlink()
            (out / GOVERNANCE_FILE).unlink(missing_ok=True)
    for sub in GENERATED_SUBDIRS:
        (out / sub).mkdir(parents=True, exist_ok=True)


def generate(
    out_dir: str | Path, size: str = "xl", seed: int = 7, force: bool = False, governance: bool = False
) -> Summary:
    """Write the tree for ``size`` and ``seed`` into ``out_dir`` and return a summary."""
    t0 = time.perf_counter()
    counts = counts_for(size)
    out = Path(out_dir)
    _prepare(out, force)
    rng = random.Random(seed)
    n_ds, n_dest, n_cat, n_sb = (
        counts.datastreams,
        counts.destinations,
        counts.catalog_audiences,
        counts.sandboxes,
    )
    per_dest = counts.audiences_per_destination

    sandboxes = [f"sb-{i:02d}" for i in range(n_sb)]
    ds_ids = [_uuid(rng) for _ in range(n_ds)]
    ds_sandbox = [i % n_sb for i in range(n_ds)]

    # catalog: audiences dealt to sandboxes round robin, so every sandbox gets >= per_dest
    aud_ids = [_uuid(rng) for _ in range(n_cat)]
    sb_audiences: list[list[int]] = [[] for _ in range(n_sb)]
    for a in range(n_cat):
        sb_audiences[a % n_sb].append(a)
    policies = [(_uuid(rng), _uuid(rng)) for _ in range(n_sb)]  # (active on edge, inactive)

    files = 0
    total = 0

    # datastreams
    ds_dir = out / "datastreams"
    for i in range(n_ds):
        total += _write(
            ds_dir / f"ds-{i:04d}.yaml",
            f"id: {ds_ids[i]}\n"
            f"name: Datastream {i}\n"
            f"sandbox: {sandboxes[ds_sandbox[i]]}\n"
            "access: mixed\n"
            "edge_segmentation: true\n"
            "personalization_destinations: true\n",
        )
        files += 1

    # destinations: contiguous blocks per datastream (10 per datastream at xl)
    mapped = bytearray(n_cat)
    dest_dir = out / "destinations"
    rand = rng.random
    for j in range(n_dest):
        ds = j * n_ds // n_dest
        first_of_ds = -(-ds * n_dest // n_ds)  # ceil: index of the datastream's first destination
        alias = f"alias-{j - first_of_ds:02d}"
        ref = f"ds-{ds:04d}" if j % 2 == 0 else ds_ids[ds]
        parts = [
            f"id: {_uuid(rng)}\n"
            f"name: Destination {j}\n"
            f"description: Synthetic destination {j}\n"
            f"alias: {alias}\n"
            f"datastream: {ref}\n"
            "marketing_actions: [onsitePersonalization]\n"
        ]
        if j % ATTRIBUTES_EVERY == 0:
            parts.append(
                "attributes:\n"
                "  - source: person.name.firstName\n"
                "    target: firstName\n"
                "  - source: homeAddress.postalCode\n"
                "    target: zip\n"
            )
        parts.append("audiences:\n")
        for a in rng.sample(sb_audiences[ds_sandbox[ds]], per_dest):
            mapped[a] = 1
            parts.append(f"  - id: {aud_ids[a]}\n")
            if rand() < START_SHARE:
                parts.append(f"    start: {START_DATES[int(rand() * len(START_DATES))]}\n")
                if rand() < END_SHARE_OF_STARTED:
                    parts.append(f"    end: {END_DATES[int(rand() * len(END_DATES))]}\n")
        total += _write(dest_dir / f"dest-{j:05d}.yaml", "".join(parts))
        files += 1

    # catalogs, one per sandbox
    aud_dir = out / "audiences"
    for s in range(n_sb):
        active, inactive = policies[s]
        parts = [
            f"sandbox: {sandboxes[s]}\n"
            "merge_policies:\n"
            f"  - id: {active}\n"
            "    name: Default edge policy\n"
            "    active_on_edge: true\n"
            f"  - id: {inactive}\n"
            "    name: Batch policy\n"
            "    active_on_edge: false\n"
            "audiences:\n"
        ]
        edge = streaming = 0  # streaming counts edge too, as the guardrail does
        for a in sb_audiences[s]:
            r = rand()
            if r < EDGE_SHARE and edge < MAX_EDGE_PER_SANDBOX and streaming < MAX_STREAMING_PER_SANDBOX:
                evaluation = "edge"
                edge += 1
                streaming += 1
            elif r < EDGE_SHARE + STREAMING_SHARE and streaming < MAX_STREAMING_PER_SANDBOX:
                evaluation = "streaming"
                streaming += 1
            else:
                evaluation = "batch"
            namespace = "CustomerAudienceUpload" if rand() < UPLOAD_NAMESPACE_SHARE else "ups"
            policy = active if mapped[a] else inactive
            parts.append(
                f"  - id: {aud_ids[a]}\n"
                f"    name: Audience {a}\n"
                f"    namespace: {namespace}\n"
                f"    merge_policy: {policy}\n"
                f"    evaluation: {evaluation}\n"
                + (_audience_governance(a) if governance else "")
            )
        if governance:
            parts.append(
                "datasets:\n  - name: crm-profiles\n    labels: [I1]\n"
                "fields:\n  - path: person.name.firstName\n    datasets: [crm-profiles]\n"
                "  - path: homeAddress.postalCode\n    labels: [I2]\n"
            )
        total += _write(aud_dir / f"{sandboxes[s]}.yaml", "".join(parts))
        files += 1
    if governance:
        (out / "policies").mkdir(exist_ok=True)
        total += _write(out / GOVERNANCE_FILE, GOVERNANCE_POLICIES)
        files += 1

    return Summary(size, seed, counts, files, total, time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Write a synthetic, valid cpcompile config tree.")
    p.add_argument("out_dir", type=Path)
    p.add_argument("--size", choices=SIZES, default="xl")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--force", action="store_true", help="write into a non-empty directory")
    p.add_argument("--governance", action="store_true", help="add labels, datasets, fields and policies")
    args = p.parse_args(argv)
    try:
        summary = generate(args.out_dir, size=args.size, seed=args.seed, force=args.force, governance=args.governance)
    except FileExistsError as e:
        print(f"generate: {e}", file=sys.stderr)
        return 1
    print(summary.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
