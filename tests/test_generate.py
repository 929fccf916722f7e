"""The synthetic config generator used by the benchmarks: deterministic, sized, and valid."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections import Counter
from pathlib import Path

import pytest
from ruamel.yaml import YAML

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _load(name: str):
    qualified = f"_cpcompile_benchmarks_{name.lstrip('_')}"
    if qualified in sys.modules:
        return sys.modules[qualified]
    spec = importlib.util.spec_from_file_location(qualified, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[qualified] = module
    spec.loader.exec_module(module)
    return module


gen = _load("generate")
floor = _load("_floor")

DATASTREAM_KEYS = {"id", "name", "sandbox", "access", "edge_segmentation", "personalization_destinations"}
DESTINATION_KEYS = {"id", "name", "description", "alias", "datastream", "marketing_actions", "audiences"}
CATALOG_KEYS = {"sandbox", "merge_policies", "audiences"}
CATALOG_AUDIENCE_KEYS = {"id", "name", "namespace", "merge_policy", "evaluation"}


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("tree-s")
    gen.generate(root, size="s", seed=7)
    yaml = YAML(typ="safe", pure=False)
    docs = {
        p.relative_to(root).as_posix(): yaml.load(p.read_text(encoding="utf-8"))
        for p in floor.iter_yaml_files(root)
    }
    return root, docs


def _of(docs: dict, kind: str) -> dict[str, dict]:
    return {k: v for k, v in docs.items() if k.startswith(kind + "/")}


def test_same_seed_same_bytes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    gen.generate(a, size="s", seed=11)
    gen.generate(b, size="s", seed=11)
    assert _digests(a) == _digests(b)
    assert len(_digests(a)) == 14


def test_different_seed_different_bytes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    gen.generate(a, size="s", seed=1)
    gen.generate(b, size="s", seed=2)
    da, db = _digests(a), _digests(b)
    assert da.keys() == db.keys()
    assert all(da[k] != db[k] for k in da)


@pytest.mark.parametrize(
    "size, datastreams, destinations, catalog, sandboxes",
    [("xl", 200, 2000, 20000, 20), ("l", 50, 500, 5000, 5), ("m", 10, 100, 1000, 1), ("s", 2, 10, 200, 2)],
)
def test_counts_for_size(size, datastreams, destinations, catalog, sandboxes):
    c = gen.counts_for(size)
    assert (c.datastreams, c.destinations, c.catalog_audiences, c.sandboxes) == (
        datastreams,
        destinations,
        catalog,
        sandboxes,
    )
    assert c.mappings == destinations * 100


def test_unknown_size():
    with pytest.raises(ValueError):
        gen.counts_for("xxl")


def test_counts_match_size(tree):
    root, docs = tree
    c = gen.counts_for("s")
    datastreams, destinations, catalogs = _of(docs, "datastreams"), _of(docs, "destinations"), _of(docs, "audiences")
    assert len(datastreams) == c.datastreams == 2
    assert len(destinations) == c.destinations
    assert len(catalogs) == c.sandboxes
    assert sum(len(d["audiences"]) for d in catalogs.values()) == c.catalog_audiences
    assert sum(len(d["audiences"]) for d in destinations.values()) == c.mappings
    assert len(floor.iter_yaml_files(root)) == c.datastreams + c.destinations + c.sandboxes


def test_summary(tmp_path):
    s = gen.generate(tmp_path, size="s", seed=3)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert s.files == len(files)
    assert s.bytes == sum(p.stat().st_size for p in files)
    assert "1,000 mappings" in s.line()


def test_file_shapes(tree):
    _, docs = tree
    for name, d in _of(docs, "datastreams").items():
        assert set(d) == DATASTREAM_KEYS, name
        assert d["access"] == "mixed" and d["edge_segmentation"] is True
        assert d["personalization_destinations"] is True
    for name, d in _of(docs, "destinations").items():
        assert DESTINATION_KEYS <= set(d) <= DESTINATION_KEYS | {"attributes"}, name
        assert d["marketing_actions"] == ["onsitePersonalization"]
        assert len(d["audiences"]) == 100
        for m in d["audiences"]:
            assert set(m) <= {"id", "start", "end"} and "id" in m
            if "end" in m:
                assert "start" in m and m["end"] > m["start"]
        if "attributes" in d:
            targets = [a["target"] for a in d["attributes"]]
            assert len(targets) == len(set(targets)) == 2
            assert all(set(a) == {"source", "target"} for a in d["attributes"])
    for name, d in _of(docs, "audiences").items():
        assert set(d) == CATALOG_KEYS, name
        assert name == f"audiences/{d['sandbox']}.yaml"
        for a in d["audiences"]:
            assert set(a) == CATALOG_AUDIENCE_KEYS
            assert a["namespace"] in ("ups", "CustomerAudienceUpload")
            assert a["evaluation"] in ("edge", "streaming", "batch")
        assert sum(a["evaluation"] == "edge" for a in d["audiences"]) <= 150


def test_attributes_on_every_tenth_destination(tree):
    _, docs = tree
    for name, d in _of(docs, "destinations").items():
        index = int(name.removeprefix("destinations/dest-").removesuffix(".yaml"))
        assert ("attributes" in d) == (index % 10 == 0), name


def test_no_audience_twice_in_a_destination(tree):
    _, docs = tree
    for name, d in _of(docs, "destinations").items():
        ids = [m["id"] for m in d["audiences"]]
        assert len(ids) == len(set(ids)), name


def test_ids_unique(tree):
    _, docs = tree
    ids = [d["id"] for k, d in docs.items() if not k.startswith("audiences/")]
    for catalog in _of(docs, "audiences").values():
        ids += [a["id"] for a in catalog["audiences"]] + [p["id"] for p in catalog["merge_policies"]]
    assert len(ids) == len(set(ids))


def _datastream_of(docs: dict) -> dict[str, str]:
    """Destination file -> datastream file stem, resolving references by stem or by id."""
    by_id = {d["id"]: k.removeprefix("datastreams/").removesuffix(".yaml") for k, d in _of(docs, "datastreams").items()}
    stems = set(by_id.values())
    out = {}
    for name, d in _of(docs, "destinations").items():
        ref = d["datastream"]
        out[name] = ref if ref in stems else by_id[ref]
    return out


def test_datastream_references_resolve_both_ways(tree):
    _, docs = tree
    stems = {k.removeprefix("datastreams/").removesuffix(".yaml") for k in _of(docs, "datastreams")}
    refs = [d["datastream"] for d in _of(docs, "destinations").values()]
    by_stem = sum(r in stems for r in refs)
    assert by_stem == len(refs) // 2
    _datastream_of(docs)  # every reference resolves


def test_aliases_unique_per_datastream(tree):
    _, docs = tree
    owner = _datastream_of(docs)
    pairs = Counter((owner[name], d["alias"]) for name, d in _of(docs, "destinations").items())
    assert max(pairs.values()) == 1


def test_destination_audiences_come_from_its_sandbox(tree):
    _, docs = tree
    owner = _datastream_of(docs)
    sandbox_of_ds = {
        k.removeprefix("datastreams/").removesuffix(".yaml"): d["sandbox"] for k, d in _of(docs, "datastreams").items()
    }
    catalog_ids = {d["sandbox"]: {a["id"] for a in d["audiences"]} for d in _of(docs, "audiences").values()}
    for name, d in _of(docs, "destinations").items():
        sandbox = sandbox_of_ds[owner[name]]
        assert {m["id"] for m in d["audiences"]} <= catalog_ids[sandbox], name


def test_one_active_on_edge_policy_per_sandbox(tree):
    _, docs = tree
    mapped = {m["id"] for d in _of(docs, "destinations").values() for m in d["audiences"]}
    for name, d in _of(docs, "audiences").items():
        active = [p["id"] for p in d["merge_policies"] if p["active_on_edge"]]
        assert len(active) == 1, name
        assert len(d["merge_policies"]) == 2
        for a in d["audiences"]:
            if a["id"] in mapped:
                assert a["merge_policy"] == active[0]
            else:
                assert a["merge_policy"] in {p["id"] for p in d["merge_policies"]}


def test_refuses_non_empty_dir_without_force(tmp_path):
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError):
        gen.generate(tmp_path, size="s")
    assert gen.main([str(tmp_path), "--size", "s"]) == 1
    gen.generate(tmp_path, size="s", force=True)
    assert (tmp_path / "keep.txt").exists()
    assert len(floor.iter_yaml_files(tmp_path)) == 14


def test_force_drops_stale_generated_files(tmp_path):
    reused, fresh = tmp_path / "reused", tmp_path / "fresh"
    gen.generate(reused, size="m", seed=1)
    gen.generate(reused, size="s", seed=1, force=True)
    gen.generate(fresh, size="s", seed=1)
    assert _digests(reused) == _digests(fresh)


def test_cli_prints_summary(tmp_path, capsys):
    assert gen.main([str(tmp_path / "out"), "--size", "s", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "14 files" in out and "seed 5" in out


@pytest.mark.parametrize("size", ["m", "l", "xl"])
def test_every_sandbox_has_the_same_density_from_m_up(size):
    c = gen.counts_for(size)
    assert c.datastreams / c.sandboxes == 10
    assert c.destinations / c.sandboxes == 100
    assert c.catalog_audiences / c.sandboxes == 1000


def test_floor_helpers(tree):
    root, _ = tree
    assert floor.c_safe_yaml().Parser.__name__ == "CParser"
    assert floor.ruamel_c_safe_load_seconds(root) > 0
    assert floor.ruamel_c_safe_load_seconds(root, paused=False) > 0
    pyyaml = floor.pyyaml_c_safe_load_seconds(root)
    if isinstance(pyyaml, str):  # a benchmark-only dependency: its absence is reported, not fatal
        assert "PyYAML" in pyyaml
    else:
        assert pyyaml > 0
    yaml_floor = floor.Floor(root, 1)
    lines = yaml_floor.lines(lambda step, seconds, ratio: f"{step} {seconds} {ratio}")
    assert yaml_floor.seconds > 0 and "floor: " in lines[0] and len(lines) == 2
    calls = []
    assert floor.best_of(3, lambda: calls.append(1)) >= 0
    assert len(calls) == 3


def test_size_m_tree_warns_only_of_the_destination_guardrail(tmp_path):
    """From m up a sandbox holds 100 destinations (CP150, documented); every other guardrail,
    the catalog's included, holds, so the benchmarks do not measure warnings a real tree lacks."""
    from cpcompile.validate import validate_tree

    gen.generate(tmp_path, size="m", seed=7)
    codes = Counter(d.code for d in validate_tree(tmp_path).diagnostics)
    assert set(codes) == {"CP150"}, codes
    evaluations = Counter(
        a["evaluation"] for a in YAML(typ="safe", pure=False).load((tmp_path / "audiences" / "sb-00.yaml").read_text())["audiences"]
    )
    assert evaluations["edge"] <= 150 and evaluations["edge"] + evaluations["streaming"] <= 500
    assert evaluations["batch"] > 0 and evaluations["streaming"] > 0


@pytest.mark.parametrize("name", sorted(p.stem for p in BENCHMARKS.glob("*.py")))
def test_every_benchmark_imports_and_finds_what_it_uses_of_cpcompile(name):
    """No benchmark runs in the suite, so one whose cpcompile import broke (a name it uses was
    moved or renamed) would go unnoticed until someone measures. Each is imported here, and
    every ``from cpcompile... import name`` in it, module level or inside a function, must find
    its name."""
    import ast
    import importlib

    _load(name)
    tree = ast.parse((BENCHMARKS / f"{name}.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "cpcompile":
            module = importlib.import_module(node.module)
            for alias in node.names:
                submodule = hasattr(module, "__path__") and importlib.util.find_spec(f"{node.module}.{alias.name}")
                assert hasattr(module, alias.name) or submodule, (
                    f"benchmarks/{name}.py:{node.lineno}: {node.module} has no {alias.name}"
                )
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "cpcompile":
                    importlib.import_module(alias.name)
