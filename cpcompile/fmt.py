"""`cpcompile fmt`: one canonical layout for config files, comments kept.

A file is first read by ``yamlsrc`` (so hostile or broken YAML is refused with its located
diagnostic and never reaches the round-trip loader), then loaded with ruamel's round-trip mode
and rewritten: keys in the order docs/config.md lists them (unknown keys last, as written), IDs
in lower case, activation window instants as ``YYYY-MM-DDTHH:MM:SSZ`` in UTC (days stay days),
and lists of audiences sorted by ID unless the file has a ``# cpcompile-fmt: keep-order``
line. Comments travel with the key or list item they stand above or beside. Nothing here
changes what a file means: the compiled artifact is the same before and after.
"""

from __future__ import annotations

import io
import os
import stat
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.compat import ordereddict
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, ScalarString
from ruamel.yaml.tokens import CommentToken

from . import values, yamlsrc
from .escape import BIDI
from .project import model_name
from .quick import fields_of
from .sources import MAX_FILE_BYTES, YAML_SUFFIXES, Kind

KEEP_ORDER = "# cpcompile-fmt: keep-order"
_ID_KEYS = frozenset(("id", "merge_policy", "datastream"))
# instants, written in UTC with seconds and Z: windows, and when a catalog was exported
_WHEN_KEYS = frozenset(("start", "end", "exported_at"))
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class _Plain(str):
    """A date, instant or float kept as its text and written back unquoted."""


class _Constructor(RoundTripConstructor):
    pass


class _Representer(RoundTripRepresenter):
    pass


_Constructor.add_constructor(_TIMESTAMP, lambda self, node: _Plain(self.construct_scalar(node)))
# Floats keep their text: ruamel's own round trip of 3.783202887759329e+16 loses a digit.
_Constructor.add_constructor("tag:yaml.org,2002:float", lambda self, node: _Plain(self.construct_scalar(node)))
# Written with the tag the resolver reads the plain text as, so that it is never quoted.
_Representer.add_representer(
    _Plain, lambda self, data: self.represent_scalar(self.dumper.resolver.resolve(ScalarNode, str(data), (True, False)), str(data))
)


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.Constructor = _Constructor
    y.Representer = _Representer
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap a long value
    y.indent(mapping=2, sequence=4, offset=2)
    y.brace_single_entry_mapping_in_flow_sequence = True  # [{id: a}], not [id: a]
    return y


class NotFormatted(Exception):
    """The round trip would change what the file says: it is left as it is."""


def format_text(text: str, kind: Kind) -> str:
    """The file's canonical text. Raises ``yamlsrc.YamlProblem`` for a file YAML refuses, and
    ``NotFormatted`` when the result would not read back as the same data (a safety net
    for round-trip quirks: the formatted text is read by the validator's own loader)."""
    before = yamlsrc.parse(text)  # the hostile-input checks and positions of the validator, first
    y = _yaml()
    try:
        data = y.load(text)
    except YAMLError as err:  # the round-trip parser is stricter than libyaml in corners
        mark = getattr(err, "problem_mark", None)
        raise yamlsrc.YamlProblem(
            "CP101", f"cannot be formatted: {getattr(err, 'problem', None) or err}",
            mark.line if mark else 0, mark.column if mark else 0,
            "the file is valid, but the formatter's parser reads it differently; write this line more plainly",
        ) from None
    if not isinstance(data, CommentedMap):
        return text
    sort_audiences = KEEP_ORDER not in text
    _canonical(data, model_name(kind), sort_audiences=sort_audiences, top=True)
    _double_quote_bidi(data)
    out = io.StringIO()
    try:
        y.dump(data, out)
    except YAMLError as err:
        raise NotFormatted(f"the formatter cannot write it ({err})") from None
    # YAML counts bidi controls as printable, so the emitter writes them raw even in double
    # quotes, where a reviewer then sees the text reordered: written as escapes instead (every
    # value holding one is double-quoted above; elsewhere the meaning check below refuses it)
    formatted = BIDI.sub(lambda m: f"\\u{ord(m.group()):04x}", out.getvalue())
    formatted = formatted.rstrip("\n") + "\n"  # one newline at the end, whatever moved there
    try:
        after = yamlsrc.parse(formatted)
    except yamlsrc.YamlProblem as problem:
        raise NotFormatted(f"the formatted text would not be valid YAML ({problem.message})") from None
    if _meaning(before, sort_audiences) != _meaning(after, sort_audiences):
        raise NotFormatted("formatting would change the file's data")
    return formatted


def _double_quote_bidi(node: Any) -> None:
    if isinstance(node, CommentedMap):
        for key, value in node.items():
            if isinstance(value, str) and BIDI.search(value):
                node[key] = DoubleQuotedScalarString(value)
            else:
                _double_quote_bidi(value)
    elif isinstance(node, CommentedSeq):
        for index, value in enumerate(node):
            if isinstance(value, str) and BIDI.search(value):
                node[index] = DoubleQuotedScalarString(value)
            else:
                _double_quote_bidi(value)


def _meaning(value: Any, sort_audiences: bool, key: Any = None) -> Any:
    """``value`` with what formatting may change made canonical the same way, and every
    scalar typed (so that ``1`` and ``true`` differ)."""
    if isinstance(value, dict):
        return {k: _meaning(v, sort_audiences, k) for k, v in value.items()}
    if isinstance(value, list):
        items = [_meaning(v, sort_audiences) for v in value]
        if key == "audiences" and sort_audiences and all(isinstance(v, dict) for v in value):
            items.sort(key=lambda item: repr(item.get("id")))
        return items
    if key in _ID_KEYS and isinstance(value, str) and values.UUID.fullmatch(value):
        value = value.lower()
    elif key in _WHEN_KEYS and isinstance(value, str):
        value = str(_when(value))
    if isinstance(value, float):
        return ("float", repr(value))  # NaN is not equal to itself
    return (type(value).__name__, value)


def _canonical(mapping: CommentedMap, model: str | None, *, sort_audiences: bool, top: bool = False) -> None:
    """``mapping`` made canonical as an entry of ``model`` (a name in model.py; None: unknown)."""
    fields = fields_of(model) if model is not None else {}
    for key in list(mapping):
        value = mapping[key]
        if key in _ID_KEYS and isinstance(value, str) and values.UUID.fullmatch(value) and value != value.lower():
            mapping[key] = _same_style(value, value.lower())
        elif key in _WHEN_KEYS and isinstance(value, str):
            # not mapping[key] = ...: that would keep the old value's quotes
            ordereddict.__setitem__(mapping, key, _when(value))
        inner = fields.get(key)
        if isinstance(value, CommentedMap):
            _canonical(value, inner, sort_audiences=sort_audiences)
        elif isinstance(value, CommentedSeq):
            for item in value:
                if isinstance(item, CommentedMap):
                    _canonical(item, inner, sort_audiences=sort_audiences)
            if key == "audiences" and sort_audiences and all(isinstance(i, CommentedMap) for i in value):
                _sort_items(value, mapping, key)
    if fields:
        known = list(fields)
        order = sorted(mapping, key=lambda k: known.index(k) if k in known else len(known))
        _reorder(mapping, order, top=top)


def _same_style(old: str, new: str) -> str:
    return type(old)(new) if isinstance(old, ScalarString) else new


def _when(value: str) -> str:
    """An instant in UTC with seconds and ``Z``; a day, or anything invalid, as it is."""
    try:
        parsed = values.when(str(value))
    except values.Refused:
        return value
    if not isinstance(parsed, datetime):
        return _Plain(parsed.isoformat())
    return _Plain(parsed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))


# Comments: ruamel attaches the lines below a key or item to the last scalar before them, so a
# comment that stands above an entry belongs, in ruamel's model, to the entry before it. Before
# entries move, those lines are detached and given to the entry they stand above.


def _reorder(mapping: CommentedMap, order: list[Any], *, top: bool = False) -> None:
    keys = list(mapping)
    if keys == order:
        return
    leading, tail = _detach(keys, lambda k: _last_comment(mapping, k))
    for key in order:
        mapping.move_to_end(key)
    _attach(order, leading, tail, lambda k: _last_comment(mapping, k, create=True), front=mapping if top else None)


def _sort_items(seq: CommentedSeq, parent: CommentedMap, key: str) -> None:
    items = list(seq)
    order = sorted(range(len(items)), key=lambda i: str(items[i].get("id", "")).lower())
    if order == list(range(len(items))):
        return
    leading, tail = _detach(list(range(len(items))), lambda i: _last_in_map(items[i]))
    seq[:] = [items[i] for i in order]
    _attach(order, leading, tail, lambda i: _last_in_map(items[i], create=True), front=seq)


def _detach(entries: list[Any], token_of: Any) -> tuple[dict[Any, str], str]:
    """The comment lines above each entry but the first, and those after the last, removed
    from the entry before them (which keeps the comment on its own line)."""
    leading: dict[Any, str] = {}
    tail = ""
    for position, entry in enumerate(entries):
        token = token_of(entry)
        if token is None or "\n" not in token.value:
            continue
        own, below = token.value.split("\n", 1)
        if not below:
            continue
        token.value = own + "\n"
        if position + 1 < len(entries):
            leading[entries[position + 1]] = below
        else:
            tail = below
    return leading, tail


def _attach(order: list[Any], leading: dict[Any, str], tail: str, token_of: Any, front: Any = None) -> None:
    """Each entry's comment lines back above it; above the first entry they go to ``front``
    (the collection's own leading comments) when there is one, else after the last entry."""
    for position, entry in enumerate(order):
        text = leading.get(entry)
        if text and position > 0:
            _append(token_of(order[position - 1]), text)
        elif text and front is not None:
            _prepend_lines(front, text)
        elif text:
            tail = text + tail
    if tail:
        _append(token_of(order[-1]), tail)


def _prepend_lines(collection: CommentedMap | CommentedSeq, text: str) -> None:
    if collection.ca.comment is None:
        collection.ca.comment = [None, []]
    while len(collection.ca.comment) < 2:
        collection.ca.comment.append(None)
    if collection.ca.comment[1] is None:
        collection.ca.comment[1] = []
    for line in text.splitlines():
        content = line.lstrip()
        column = len(line) - len(content) if content else 0
        collection.ca.comment[1].append(CommentToken(content + "\n", CommentMark(column), None))


def _append(token: CommentToken, text: str) -> None:
    token.value = (token.value if token.value.endswith("\n") else token.value + "\n") + text


def _last_comment(mapping: CommentedMap, key: Any, *, create: bool = False) -> Any:
    value = mapping[key]
    if isinstance(value, (CommentedMap, CommentedSeq)) and value and not value.fa.flow_style():
        if isinstance(value, CommentedMap):
            return _last_in_map(value, create=create)
        if isinstance(value[-1], CommentedMap) and value[-1] and not value[-1].fa.flow_style():
            return _last_in_map(value[-1], create=create)
        slot = value.ca.items.setdefault(len(value) - 1, [None, None]) if create else value.ca.items.get(len(value) - 1)
        return _slot_token(slot, 0, create)
    # a scalar, or a flow collection (`[C5]  # why`, `{label: C6}`): the comment after it, and the
    # lines below, belong to its key (a comment put inside the brackets would break the file)
    slot = mapping.ca.items.setdefault(key, [None, None, None, None]) if create else mapping.ca.items.get(key)
    return _slot_token(slot, 2, create)


def _last_in_map(mapping: CommentedMap, *, create: bool = False) -> Any:
    return _last_comment(mapping, list(mapping)[-1], create=create)


def _slot_token(slot: list[Any] | None, index: int, create: bool) -> Any:
    if slot is None:
        return None
    if slot[index] is None and create:
        slot[index] = CommentToken("\n", CommentMark(0), None)
    return slot[index]


# Files: which ones, and their kind from the folder they are in.

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_KINDS = {kind.value: kind for kind in (Kind.DATASTREAM, Kind.DESTINATION, Kind.CATALOG, Kind.POLICY)}


def kind_of(path: Path) -> Kind | None:
    """The kind of config file at ``path``, from the nearest config folder above it."""
    for part in reversed(path.parent.parts):
        if part in _KINDS:
            return _KINDS[part]
    return None


def config_files(paths: Sequence[Path]) -> tuple[list[tuple[Path, Kind]], list[str]]:
    """The YAML config files named or found below ``paths``, and the paths that are none."""
    found: list[tuple[Path, Kind]] = []
    refused: list[str] = []
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            folders = _config_folders(path)
            if not folders:
                refused.append(f"{path}: neither a config root (with datastreams/, destinations/, audiences/ or policies/) "
                               "nor a config folder")
            for folder in folders:
                found.extend(_below(folder))
        elif path.suffix in YAML_SUFFIXES and path.is_file() and not path.is_symlink() and kind_of(path):
            found.append((path, kind_of(path)))  # type: ignore[arg-type]
        else:
            refused.append(f"{path}: not a config file (a .yaml file in datastreams/, destinations/, audiences/ or policies/)")
    return sorted(set(found)), refused


def _config_folders(directory: Path) -> list[Path]:
    """The config folders of a config root, or the directory itself when it is (inside) a config
    folder: a root's other folders (tests/, node_modules/) are never walked."""
    if kind_of(directory / "x.yaml") is not None:
        return [directory]
    return [directory / name for name in _KINDS if (directory / name).is_dir() and not (directory / name).is_symlink()]


def _below(folder: Path) -> list[tuple[Path, Kind]]:
    out = []
    for here, subfolders, names in os.walk(folder):  # does not follow links to folders
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        for name in names:
            path = Path(here) / name
            kind = kind_of(path)
            if kind and name.endswith(YAML_SUFFIXES) and not name.startswith(".") and path.is_file() and not path.is_symlink():
                out.append((path, kind))
    return out


def read_text(path: Path) -> str:
    """A config file's text, as the validator reads it (at most MAX_FILE_BYTES of UTF-8)."""
    fd = os.open(path, _OPEN_FLAGS)  # no link, and no waiting on a FIFO put in its place
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise yamlsrc.YamlProblem("CP116", "not read: not a regular file", 0, 0)
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise yamlsrc.YamlProblem("CP110", f"file is over {MAX_FILE_BYTES:,} bytes, the limit", 0, 0)
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start)
        col = err.start - (data.rfind(b"\n", 0, err.start) + 1)
        raise yamlsrc.YamlProblem("CP105", f"not valid UTF-8 (byte 0x{data[err.start]:02x})", line, col,
                                  "save the file as UTF-8") from None
