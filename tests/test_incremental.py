"""Incremental builds (cpcompile/incremental.py) give what a build from scratch gives.

A tree is edited at random, step after step, and built after each step with one cache that
lives through all of them: the report must equal ``validate_tree``'s (the whole validation,
which never looks at a cache) and the artifact files must be the bytes that compiling the whole
project writes. Most edits change destination files, which is what the cache answers for
without loading; some change the context, which starts afresh.
"""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path

import pytest

from cpcompile import incremental
from cpcompile.build import build
from cpcompile.diagnostics import sorted_diagnostics
from cpcompile.validate import validate_tree

from conftest import run
from test_generate import gen

UNKNOWN_AUDIENCE = "0badc0de-0000-4000-8000-000000000000"


def _destinations(root: Path) -> list[Path]:
    return sorted((root / "destinations").glob("*.yaml"))


def _edit_line(path: Path, key: str, value: str) -> None:
    text = path.read_text()
    path.write_text(re.sub(rf"(?m)^{key}: .*$", f"{key}: {value}", text, count=1))


def _value(path: Path, key: str) -> str:
    found = re.search(rf"(?m)^{key}: (.*)$", path.read_text())
    assert found, f"{key} in {path}"
    return found.group(1)


def _append_audience(path: Path, lines: str) -> None:
    text = path.read_text()
    path.write_text(text.replace("audiences:\n", f"audiences:\n{lines}", 1))


# each edit: (rng, root, destination files) -> what it did, for the failure message
def _alias_of_another(rng, root, files):
    a, b = rng.sample(files, 2)
    _edit_line(a, "alias", _value(b, "alias"))
    return f"{a.name}: alias of {b.name}"


def _id_of_another(rng, root, files):
    a, b = rng.sample(files, 2)
    _edit_line(a, "id", _value(b, "id"))
    return f"{a.name}: id of {b.name}"


def _other_datastream(rng, root, files):
    a = rng.choice(files)
    names = [p.stem for p in sorted((root / "datastreams").glob("*.yaml"))] + ["ds-unknown"]
    name = rng.choice(names)
    _edit_line(a, "datastream", name)
    return f"{a.name}: datastream {name}"


def _copy_file(rng, root, files):
    a = rng.choice(files)
    copy = a.with_name(f"copy-{rng.randrange(10_000)}-{a.name}")
    shutil.copy(a, copy)
    return f"{a.name}: copied to {copy.name}"


def _first_audience(path: Path) -> str:
    first = re.search(r"(?m)^  - id: (.*)$", path.read_text())
    assert first, f"an audience in {path}"
    return first.group(1)


def _more_attributes(path: Path, rng: random.Random) -> None:
    more = "".join(f"  - source: person.extra{i}\n    target: extra{i}\n" for i in range(rng.randrange(20, 40)))
    path.write_text(path.read_text().replace("attributes:\n", f"attributes:\n{more}", 1))


def _one_file(what: str, change):
    """An edit of one destination file, picked at random: ``change(path, rng)``."""
    def edit(rng, root, files):
        a = rng.choice(files)
        change(a, rng)
        return f"{a.name}: {what}"
    return edit


_new_alias = _one_file("new alias", lambda a, rng: _edit_line(a, "alias", f"alias-new-{rng.randrange(1000)}"))
_remove_file = _one_file("removed", lambda a, rng: a.unlink())
_unknown_audience = _one_file("unknown audience", lambda a, rng: _append_audience(a, f"  - id: {UNKNOWN_AUDIENCE}\n"))
_audience_twice = _one_file("an audience twice", lambda a, rng: _append_audience(a, f"  - id: {_first_audience(a)}\n"))
_backwards_window = _one_file(
    "a window that ends before it starts",
    lambda a, rng: _append_audience(a, f"  - id: {_first_audience(a)}\n    start: 2027-05-01\n    end: 2026-01-01\n"),
)
_many_attributes = _one_file("many attributes", _more_attributes)
_unknown_action = _one_file("unknown marketing action", lambda a, rng: _edit_line(a, "marketing_actions", "[onsitePersonalisation]"))
_broken_yaml = _one_file("broken YAML", lambda a, rng: a.write_text(a.read_text() + "audiences: [\n"))
_schema_error = _one_file("invalid alias", lambda a, rng: _edit_line(a, "alias", "not an alias!"))
_comment_only = _one_file("a comment", lambda a, rng: a.write_text(a.read_text() + f"# note {rng.randrange(1000)}\n"))


def _datastream_flag(rng, root, files):
    ds = rng.choice(sorted((root / "datastreams").glob("*.yaml")))
    key = rng.choice(["edge_segmentation", "personalization_destinations"])
    _edit_line(ds, key, rng.choice(["true", "false"]))
    return f"{ds.name}: {key}"


def _catalog_evaluation(rng, root, files):
    catalog = rng.choice(sorted((root / "audiences").glob("*.yaml")))
    text = catalog.read_text()
    spots = [m.start() for m in re.finditer(r"evaluation: \w+", text)]
    if not spots:
        return f"{catalog.name}: nothing to change"
    at = rng.choice(spots)
    end = text.index("\n", at)
    catalog.write_text(text[:at] + f"evaluation: {rng.choice(['edge', 'streaming', 'batch'])}" + text[end:])
    return f"{catalog.name}: an audience's evaluation"


def _catalog_namespace(rng, root, files):
    catalog = rng.choice(sorted((root / "audiences").glob("*.yaml")))
    text = catalog.read_text()
    spots = [m.start() for m in re.finditer(r"namespace: \w+", text)]
    at = rng.choice(spots)
    namespace = rng.choice(["ups", "CustomerAudienceUpload"])
    catalog.write_text(text[:at] + f"namespace: {namespace}" + text[text.index("\n", at):])
    return f"{catalog.name}: an audience's namespace"


# edits that leave a config that still builds come up more often: the pieces get compiled
DESTINATION_EDITS = [
    _alias_of_another, _id_of_another, _other_datastream, _unknown_audience, _audience_twice, _backwards_window,
    _unknown_action, _broken_yaml, _schema_error,
    *[_new_alias, _remove_file, _copy_file, _many_attributes, _comment_only] * 3,
]
CONTEXT_EDITS = [_datastream_flag, _catalog_evaluation, _catalog_namespace]


def _assert_like_a_whole_build(root: Path, out: Path, cache: Path, history: list[str]) -> bool:
    outcome = build(root, out, cache_dir=cache)
    reference = validate_tree(root)
    assert outcome.diagnostics == sorted_diagnostics(reference.diagnostics), history
    assert outcome.files_checked == reference.files_checked, history
    if reference.exit_code() == 0:
        whole = incremental.compile_whole(reference.project)
        assert (out / "artifact.json").read_bytes() == whole.json, history
        assert (out / "artifact.msgpack").read_bytes() == whole.msgpack, history
        assert outcome.manifest is not None and outcome.manifest["counts"] == whole.counts.as_dict(), history
        return True
    assert outcome.revision is None, history
    return False


@pytest.mark.parametrize("seed", range(6))
def test_builds_after_random_edits_equal_whole_builds(tmp_path, seed):
    rng = random.Random(seed)
    root = tmp_path / "config"
    gen.generate(root, "s", seed=seed, governance=seed % 2 == 0)
    pristine = {p: p.read_bytes() for p in root.rglob("*.yaml")}
    cache, out = tmp_path / "cache", tmp_path / "out"
    history: list[str] = []
    assert _assert_like_a_whole_build(root, out, cache, history)
    built = set()
    for step in range(20):
        if rng.random() < 0.4:  # back to the start: the cache has seen these contents before
            shutil.rmtree(root / "destinations")
            (root / "destinations").mkdir()
            for path, data in pristine.items():
                path.write_bytes(data)
            history.append("restored")
        for _ in range(rng.randint(1, 2)):
            edits = CONTEXT_EDITS if rng.random() < 0.2 else DESTINATION_EDITS
            files = _destinations(root)
            if len(files) < 3:
                continue
            history.append(rng.choice(edits)(rng, root, files))
        if _assert_like_a_whole_build(root, out, cache, history):
            built.add((out / "artifact.json").read_bytes())
    assert len(built) >= 2, "too few of the edited configs built to compare their artifacts"


def test_one_changed_destination_loads_only_itself(tmp_path, monkeypatch):
    """The point of it all: after one destination file changes, that file is the only one whose
    model is built, and the datastream it is on the only one compiled."""
    root = tmp_path / "config"
    gen.generate(root, "s", seed=3)
    cache, out = tmp_path / "cache", tmp_path / "out"
    assert build(root, out, cache_dir=cache).revision is not None
    changed = _destinations(root)[0]
    _edit_line(changed, "alias", "alias-renamed")

    loaded: list[str] = []
    compiled: list[str] = []
    real_load, real_compile = incremental.load_entry, incremental.compile_datastream
    monkeypatch.setattr(incremental, "load_entry", lambda source, *a, **k: loaded.append(source.relpath) or real_load(source, *a, **k))

    def compile_datastream(access, destinations, namespaces):
        compiled.append(sorted(d.alias for d in destinations))
        return real_compile(access, destinations, namespaces)

    monkeypatch.setattr(incremental, "compile_datastream", compile_datastream)
    outcome = build(root, out, cache_dir=cache)
    assert outcome.revision is not None
    ids = {p.stem: _value(p, "id") for p in (root / "datastreams").glob("*.yaml")}  # named by file or id

    def datastream(path: Path) -> str:
        return ids.get(_value(path, "datastream"), _value(path, "datastream"))

    on_its_datastream = [p for p in _destinations(root) if datastream(p) == datastream(changed)]
    assert 1 < len(on_its_datastream) < len(_destinations(root))
    assert loaded[0] == "destinations/" + changed.name
    assert sorted(loaded) == sorted({f"destinations/{p.name}" for p in on_its_datastream})  # to compile its datastream
    assert len(compiled) == 1 and "alias-renamed" in compiled[0]


def test_catalog_freshness_follows_the_clock_not_the_cache(tmp_path, monkeypatch):
    """CP148 depends on the time: an incremental build on a later day says what a whole build
    says then, although the context's other diagnostics come from the cache."""
    root = tmp_path / "config"
    gen.generate(root, "s", seed=1)
    catalog = sorted((root / "audiences").glob("*.yaml"))[0]
    catalog.write_text("exported_at: 2026-01-01\n" + catalog.read_text())
    cache, out = tmp_path / "cache", tmp_path / "out"
    day = 86_400
    exported = 1_767_225_600  # 2026-01-01T00:00:00Z
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(exported + day))
    assert not [d for d in build(root, out, cache_dir=cache).diagnostics if d.code == "CP148"]
    _edit_line(_destinations(root)[0], "alias", "alias-later")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(exported + 40 * day))
    outcome = build(root, out, cache_dir=cache)
    assert [d.code for d in outcome.diagnostics if d.code == "CP148"] == ["CP148"]
    assert outcome.diagnostics == sorted_diagnostics(validate_tree(root).diagnostics)


def test_entries_of_other_code_are_not_used(tmp_path, monkeypatch):
    """The cache's entries are tagged with a fingerprint of cpcompile's own files: a checkout of
    cpcompile being edited never reuses what the code before the edit checked or compiled."""
    import cpcompile.cache as cache_module
    from cpcompile import fingerprint

    code = tmp_path / "code"
    code.mkdir()
    (code / "rules.py").write_text("RULES = ()\n")
    monkeypatch.setattr(fingerprint, "_CODE", str(code))
    root = tmp_path / "config"
    gen.generate(root, "s", seed=2)
    cache, out = tmp_path / "cache", tmp_path / "out"
    checked: list[str] = []
    real = incremental._check_destination
    monkeypatch.setattr(
        incremental, "_check_destination", lambda ctx, source, *rest: checked.append(source.relpath) or real(ctx, source, *rest)
    )
    try:
        cache_module.code_fingerprint.cache_clear()
        build(root, out, cache_dir=cache)
        _edit_line(_destinations(root)[0], "alias", "alias-edited")
        checked.clear()
        assert build(root, out, cache_dir=cache).revision is not None
        assert checked == ["destinations/" + _destinations(root)[0].name]  # the others from the cache
        (code / "rules.py").write_text("RULES = (check_everything,)\n")
        cache_module.code_fingerprint.cache_clear()
        checked.clear()
        outcome = build(root, out, cache_dir=cache)
        assert not outcome.up_to_date and len(checked) == len(_destinations(root))
    finally:
        cache_module.code_fingerprint.cache_clear()


def test_a_cached_destination_that_no_longer_loads_means_a_whole_compile(tmp_path, monkeypatch):
    """Only a cpcompile that loads differently from the one that filled the cache could get
    here (its entries are authenticated and tagged with the code): the build then compiles the
    whole config rather than trust the cache."""
    root = tmp_path / "config"
    gen.generate(root, "s", seed=4)
    cache, out = tmp_path / "cache", tmp_path / "out"
    build(root, out, cache_dir=cache)
    _edit_line(_destinations(root)[0], "alias", "alias-edited")
    calls: list[str] = []
    real = incremental.load_entry

    def load_entry(source, diagnostics, parse, **options):
        calls.append(source.relpath)
        return real(source, diagnostics, parse, **options) if len(calls) == 1 else None  # the changed file loads

    monkeypatch.setattr(incremental, "load_entry", load_entry)
    outcome = build(root, out, cache_dir=cache)
    assert len(calls) > 1  # a cached destination of the changed datastream was asked for
    whole = incremental.compile_whole(validate_tree(root).project)
    assert outcome.revision == whole.header["revision"]
    assert (out / "artifact.json").read_bytes() == whole.json


def test_validate_checks_only_the_changed_destination_too(tmp_path, monkeypatch):
    """`cpcompile validate` keeps and reuses the same per-destination records as build: after
    one file changes, only it is checked, and the report is the whole validation's."""
    root = tmp_path / "config"
    gen.generate(root, "s", seed=5)
    cache = tmp_path / "cache"
    assert run("build", root, "--cache-dir", cache).exit_code == 0
    target = _destinations(root)[0]
    _edit_line(target, "alias", _value(_destinations(root)[1], "alias"))  # CP131 if on one datastream
    checked: list[str] = []
    real = incremental._check_destination
    monkeypatch.setattr(
        incremental, "_check_destination", lambda ctx, source, *rest: checked.append(source.relpath) or real(ctx, source, *rest)
    )
    warm = run("validate", root, "--format", "json", "--cache-dir", cache)
    assert checked == ["destinations/" + target.name]
    cold = run("validate", root, "--format", "json", "--no-cache")
    assert (warm.exit_code, warm.output) == (cold.exit_code, cold.output)
