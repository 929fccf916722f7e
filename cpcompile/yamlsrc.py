"""The one place YAML is read: plain data fast, positions only when a diagnostic needs them.

Documents are composed into nodes by ruamel's C parser and turned into plain dicts and lists by a
small builder (several times faster than ruamel's own constructors, and it lets us refuse what a
reviewable config should not contain: aliases, merge keys, custom tags, non-string keys,
duplicate keys). Positions are not kept for the fast path: ``locate`` composes the text again
and walks to the offending key or value, which only happens for files with diagnostics.
YAML 1.2 rules apply: ``no``, ``on`` and ``off`` are strings.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any, Sequence

from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    DocumentEndEvent, MappingEndEvent, MappingStartEvent, SequenceEndEvent, SequenceStartEvent, StreamEndEvent,
)
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.tag import Tag

from .gcpause import paused_gc

MAX_DEPTH = 32
MAX_DIGITS = 64  # more is not a config number; Python refuses int() of over 4300 digits

_TAG = "tag:yaml.org,2002:"
_MAP, _SEQ, _STR = _TAG + "map", _TAG + "seq", _TAG + "str"
_INT, _FLOAT, _BOOL, _NULL = _TAG + "int", _TAG + "float", _TAG + "bool", _TAG + "null"
# Dates stay strings: the models parse them, and nothing else may become a Python object.
_TIMESTAMP = _TAG + "timestamp"
# Where a line's block collections can start: after indentation and the indicators of compact
# nesting ("- - x", "? - x", ": - x"); see _check_nesting.
_INDENT = "[ \t?:\\-]"
# What _flow_depth_bound keeps of a text: brackets, quotes, '#' and line ends (all ASCII, so no
# byte of a multi-byte UTF-8 character is one of them)
_FLOW_SHAPE_DROP = bytes(c for c in range(256) if c not in b"[]{}\"'#\n")
# YAML 1.2 core schema, https://yaml.org/spec/1.2.2/#1032-tag-resolution
_CORE_CONSTANTS: dict[str, Any] = {
    "": None, "~": None, "null": None, "Null": None, "NULL": None,
    "true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False,
}
_CORE_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_CORE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)")
_NUMBER_START = frozenset("0123456789+-.")
# A scalar's properties, where its node starts: an optional anchor, then the non-specific tag
# ``!`` (or ``!<!>``), which makes a plain scalar a string (YAML 1.2, 6.9.1). libyaml reports it
# as if the scalar were untagged, so the text is the only place it shows.
_NON_SPECIFIC = re.compile(r"(?:&[^\s,\[\]{}]+\s+)?!(?:<!>)?(?=\s|[,\]}]|\Z)")
_YAML_DIRECTIVE = re.compile(r"^%YAML[ \t]+(\S+)", re.MULTILINE)
_FLOW_SCALAR_END = ",]}"
_KEY_LIKE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_FLOW_SCALAR_START = ",[{"
_EXPLICIT_SCALAR_TYPES: dict[str, tuple[type, ...]] = {
    _INT: (int,), _FLOAT: (int, float), _BOOL: (bool,), _NULL: (type(None),),
}

# Tags our resolver hands the C composer; compared by identity while building.
_PLAIN_TAG = Tag(suffix="tag:cpcompile:plain")
_QUOTED_TAG = Tag(suffix=_STR)
_MAP_TAG = Tag(suffix=_MAP)
_SEQ_TAG = Tag(suffix=_SEQ)


class YamlProblem(Exception):
    """A document that cannot become config data; positions are 0-based, as ruamel's marks."""

    def __init__(self, code: str, message: str, line: int, col: int, hint: str | None = None):
        super().__init__(message)
        self.code, self.message, self.line, self.col, self.hint = code, message, line, col, hint


def _c_parser() -> type:
    from ruamel.yaml import main

    parser: type | None = getattr(main, "CParser", None)  # None without ruamel.yaml.clib
    if parser is None:
        raise RuntimeError(
            "ruamel.yaml's C extension is missing, so YAML would be parsed in pure Python, "
            "several times slower; install it with: pip install 'ruamel.yaml[oldlibyaml]'"
        )
    return parser


class _Composer(_c_parser()):  # type: ignore[misc]
    """ruamel's C parser and composer (libyaml), alone: no constructor, and a resolver that
    leaves plain scalars unresolved, since ``_scalar`` applies YAML 1.2 itself. ruamel's own
    resolver runs in Python for every scalar and costs more than the parse, and ``YAML.compose``
    builds a loader class for every document."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Tag:
        if kind is ScalarNode:
            return _PLAIN_TAG if implicit[0] else _QUOTED_TAG
        return _SEQ_TAG if kind is SequenceNode else _MAP_TAG

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass  # no path resolvers

    def ascend_resolver(self) -> None:
        pass


def _compose_text(text: str) -> Node | None:
    """The first document of ``text`` as a node tree (raises ruamel's errors)."""
    composer = _Composer(text)
    try:
        root: Node | None = composer.get_single_node()
        return root
    finally:
        composer.dispose()


# libyaml (YAML 1.1) ends a line at each of these; git, diff views and YAML 1.2 do not (or, for a
# lone CR, not visibly), so every position after one would point at the wrong line in review.
_HIDDEN_LINE_BREAK = re.compile("\r(?!\n)|[\x85\u2028\u2029]")
_HIDDEN_LINE_BREAK_NAMES = {
    "\r": ("a carriage return without a line feed", "save the file with LF (or CRLF) line endings"),
    "\x85": ("the control character NEL (U+0085)", "remove it"),
    "\u2028": ("the line separator U+2028", 'remove it, or write it as "\\u2028" in a double-quoted string'),
    "\u2029": ("the paragraph separator U+2029", 'remove it, or write it as "\\u2029" in a double-quoted string'),
}


def parse(text: str) -> dict[str, Any]:
    """Parse one config document into plain data, or raise ``YamlProblem``."""
    _check_line_breaks(text)
    _check_nesting(text)
    root = _compose(text)
    if root is None or (root.__class__ is ScalarNode and root.ctag is _PLAIN_TAG and root.value == ""):
        raise YamlProblem("CP103", "file is empty", 0, 0, "add the document's keys, or delete the file")
    if not isinstance(root, MappingNode):
        kind = "a list" if isinstance(root, SequenceNode) else "a single value"
        raise YamlProblem(
            "CP104",
            f"the document is {kind}; it must be a mapping of keys to values",
            root.start_mark.line,
            root.start_mark.column,
            "see docs/config.md for the shape of each file",
        )
    with paused_gc():
        # aliases need an anchor, and every tag (the non-specific one too) a '!': without either,
        # every node carries one of our resolver's tags and no node is shared
        if "&" in text or "!" in text:
            return _build_mapping(root, _Guard(text))
        return _plain_mapping(root)


def _compose(text: str) -> Node | None:
    try:
        return _compose_text(text)
    except ReaderError as err:
        # libyaml's reader counts UTF-8 bytes, not characters
        index = len(text.encode("utf-8")[: err.position].decode("utf-8", errors="ignore"))
        line, col = _line_col(text, index)
        raise YamlProblem("CP105", f"unreadable character: {err.reason}", line, col) from None
    except MarkedYAMLError as err:
        raise _syntax_problem(text, err) from None
    except YAMLError as err:  # unmarked: rare, but still the file's fault
        raise YamlProblem("CP101", f"YAML syntax error: {err}", 0, 0) from None


def _syntax_problem(text: str, err: MarkedYAMLError) -> YamlProblem:
    mark = err.problem_mark or err.context_mark
    line, col = (mark.line, mark.column) if mark else (0, 0)
    last_line = text.count("\n")
    if line > last_line:  # libyaml ends an unterminated last line with a line break of its own
        line, col = last_line, len(text) - (text.rfind("\n") + 1)
    problem = err.problem or "syntax error"
    if "expected a single document" in f"{err.context} {problem}":
        return YamlProblem(
            "CP113", "more than one YAML document in this file", line, col,
            "keep one document per file: remove the '---' separator or split the file",
        )
    here = _line_at(text, line)
    if here[col : col + 1] == "\t":
        if not here.strip(" \t\r"):
            return YamlProblem(
                "CP102", "tab character on an otherwise blank line", line, col,
                "a tab on an otherwise blank line: delete it",
            )
        return YamlProblem(
            "CP102", "tab character where YAML expects indentation or a token", line, col,
            "indent with spaces; YAML does not allow tabs for indentation",
        )
    special = (
        _flow_indicator_problem(here, line, col, problem) or _version_problem(text, problem)
        or _long_key_problem(here, line, col, problem)
    )
    if special is not None:
        return special
    context = ""
    if err.context:
        opened = err.context_mark
        where = f" that started at line {opened.line + 1}, column {opened.column + 1}" if opened and opened.line != line else ""
        context = f" ({err.context}{where})"
    return YamlProblem("CP101", f"YAML syntax error: {problem}{context}", line, col, _syntax_hint(problem))


def _syntax_hint(problem: str) -> str | None:
    if "mapping values are not allowed" in problem:
        return "a value containing ': ' must be quoted, or a key is indented wrongly"
    if "could not find expected ':'" in problem:
        return "each line of a mapping needs 'key: value'; check the indentation above"
    if "found character that cannot start any token" in problem:
        return "quote values that start with '@', '`' or '%'"
    return None


def _flow_indicator_problem(here: str, line: int, col: int, problem: str) -> YamlProblem | None:
    """A plain value inside [ ] or { } with ':' or '?' in it, such as a URL or a time of day.
    YAML 1.2 allows it (``[https://a.example]``), the libyaml that reads it does not: say
    exactly how to write it instead."""
    char = here[col : col + 1]
    glued = ":" if char == ":" and "unexpected ':'" in problem else ""
    if char == "?" and "did not find expected ','" in problem and col > 0 and here[col - 1] not in " \t,[{":
        glued = "?"
    if not glued:
        return None
    scalar = _flow_scalar_around(here, col)
    hint = f"inside [ ] or {{ }}, quote a value that contains '{glued}': write {json.dumps(scalar, ensure_ascii=False)}"
    key, _, rest = scalar.partition(":")
    if glued == ":" and _KEY_LIKE.fullmatch(key) and not rest.startswith("/"):
        hint += f" (or, if '{key}' is a key, put a space after the ':')"
    return YamlProblem("CP101", f"YAML syntax error: '{glued}' in an unquoted value inside [ ] or {{ }}", line, col, hint)


def _flow_scalar_around(here: str, col: int) -> str:
    start = col
    while start > 0 and here[start - 1] not in _FLOW_SCALAR_START and not here.startswith(": ", start - 2):
        start -= 1
    end = col + 1
    while end < len(here) and here[end] not in _FLOW_SCALAR_END and not here.startswith(" #", end):
        end += 1
    return here[start:end].strip(" \t\r")


def _long_key_problem(here: str, line: int, col: int, problem: str) -> YamlProblem | None:
    # YAML 1.2 (7.4.2) limits an implicit key ('key: value') to 1024 characters
    if "mapping values are not allowed" not in problem or col <= 1024 or ": " in here[:col]:
        return None
    return YamlProblem(
        "CP101", "YAML syntax error: a key longer than 1024 characters", line, col,
        "YAML allows at most 1024 characters in a 'key: value' key; shorten it",
    )


def _version_problem(text: str, problem: str) -> YamlProblem | None:
    if "incompatible YAML document" not in problem:
        return None
    found = _YAML_DIRECTIVE.search(text)
    version = found.group(1) if found else "?"
    line = text.count("\n", 0, found.start()) if found else 0
    return YamlProblem(
        "CP101", f"YAML syntax error: %YAML {version} is not supported", line, 0,
        "cpcompile reads YAML 1.2: write '%YAML 1.2', or delete the %YAML line",
    )


def _line_at(text: str, line: int) -> str:
    lines = text.split("\n", line + 1)
    return lines[line] if line < len(lines) else ""


def _check_line_breaks(text: str) -> None:
    found = _HIDDEN_LINE_BREAK.search(text)
    if found:
        what, hint = _HIDDEN_LINE_BREAK_NAMES[found.group()]
        line, col = _line_col(text, found.start())
        raise YamlProblem(
            "CP105", f"{what} is a line break to YAML parsers but not to git or editors", line, col, hint
        )


def _line_col(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index)
    return line, index - (text.rfind("\n", 0, index) + 1)


def _check_nesting(text: str) -> None:
    # ruamel's C composer recurses once per level: very deep input overflows the C stack (the
    # interpreter dies) or raises RecursionError, and it takes quadratic time well before that.
    # The libyaml parser underneath keeps an explicit stack, so its events are walked, by the
    # same C parser, stopping at the first level too deep. The composer consumes exactly these
    # events, so if a syntax error comes first, composing stops there too, no deeper: this
    # holds for any input, whatever another parser would make of it. A cheap upper bound
    # spares nearly every file the walk: a flow collection needs a bracket, and a block one a
    # column further right than its parent (or the same, for a list in a mapping), where only
    # indentation and the indicators '-', '?' and ':' can precede it on its line.
    # flow + 2 * indent + 2 <= MAX_DEPTH, for the deepest indent: no line indented past the limit
    limit = (MAX_DEPTH - 2 - _flow_depth_bound(text)) // 2
    if limit >= 0 and _indented_past(limit).search(text) is None:
        return
    parser = _Composer(text)  # the C parser: _c_parser refuses any other
    depth = 0
    try:
        while True:
            event = parser.get_event()
            kind = event.__class__
            if kind is MappingStartEvent or kind is SequenceStartEvent:
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    raise YamlProblem(
                        "CP109", f"nesting deeper than {MAX_DEPTH} levels", mark.line, mark.column,
                        "config files are a few levels deep; flatten this structure",
                    )
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                depth -= 1
            elif kind is DocumentEndEvent or kind is StreamEndEvent or event is None:
                return  # only the first document is composed; a second one is CP113
    except YAMLError:
        return  # composing meets the same error, at this depth at most, and reports it
    finally:
        parser.dispose()


@functools.cache
def _indented_past(limit: int) -> re.Pattern[str]:
    """A line whose indentation (``_INDENT``) is longer than ``limit``."""
    return re.compile(rf"^{_INDENT}{{{limit + 1},}}", re.MULTILINE)


def _flow_depth_bound(text: str) -> int:
    """An upper bound on how deep flow collections nest. A '[' opens up to two levels (the
    sequence, and the single-pair mapping an entry ``k: v`` makes without braces), a '{' one.
    So: two per '[' and one per '{' in the text, or, when every line with a bracket is one where
    brackets alone tell the depth, the deepest of those lines. Such a line has no quote and no
    '#', and its brackets pair up, none closing before it opens: each collection it opens also
    closes on it, since a ']' or '}' without quotes around it in a flow collection is its end
    (a plain scalar there cannot hold one) and one in a block plain scalar ('a]b') would have no
    opener before it. Brackets that are text (in a plain, quoted or block scalar) can only raise
    the bound. A thousand `labels: [C1]` lines would otherwise send a catalog through the event
    walk."""
    crude = 2 * text.count("[") + text.count("{")
    if crude <= 2:
        return crude
    deepest = 0
    # each line as its brackets, quotes and '#' alone, and each such shape once: a config's
    # thousand `labels: [..]` lines are one shape, found at C speed
    shapes = set(text.encode("utf-8", "ignore").translate(None, _FLOW_SHAPE_DROP).split(b"\n"))
    for shape in shapes:
        if not shape.strip(b"\"'#"):
            continue  # no bracket on the line
        if b'"' in shape or b"'" in shape or b"#" in shape:
            return crude
        opened: list[int] = []  # the closing byte each open bracket expects
        depth = 0
        for byte in shape:
            if byte == 91:  # [
                opened.append(93)
                depth += 2
                deepest = max(deepest, depth)
            elif byte == 123:  # {
                opened.append(125)
                depth += 1
                deepest = max(deepest, depth)
            elif not opened or opened.pop() != byte:
                return crude
            else:
                depth -= 2 if byte == 93 else 1
        if opened:
            return crude
    return deepest


class _Guard:
    """Refuses a node met twice, i.e. an alias, and finds where the ``*alias`` itself is
    written: the shared node only knows the position of its anchor. Also tells a plain scalar
    with the non-specific tag ``!`` (a string) from an untagged one."""

    def __init__(self, text: str):
        self.text = text
        self.seen: set[int] = set()

    def check(self, node: Node, after: int) -> None:
        if id(node) not in self.seen:
            self.seen.add(id(node))
            return
        star = self.text.find("*", after)
        line, col = _line_col(self.text, star if star >= 0 else after)
        raise YamlProblem(
            "CP107", "YAML aliases (*name) are not allowed", line, col,
            "write the value out in full; aliases make reviews harder and can expand without bound",
        )

    def non_specific(self, node: Node) -> bool:
        start = node.start_mark.index
        return self.text[start : start + 1] in ("!", "&") and _NON_SPECIFIC.match(self.text, start) is not None


def _plain_mapping(node: MappingNode) -> dict[str, Any]:
    """``_build_mapping`` for a text without anchors or tags, where the common keys and scalars
    need none of its checks; anything unusual still goes through ``_key`` and ``_plain``. Most
    of a large config's parse time is here, once per node."""
    out: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = key_node.value
        if key_node.__class__ is not ScalarNode or (
            key_node.ctag is _PLAIN_TAG and (key in _CORE_CONSTANTS or key[0] in _NUMBER_START or key == "<<")
        ):
            key = _key(key_node, None)  # refuses it, or finds it a plain string after all
        if key in out:
            raise _duplicate_key(key, key_node)
        out[key] = _plain_node(value_node)
    return out


def _plain_node(node: Node) -> Any:
    if node.__class__ is ScalarNode:
        value = node.value
        if node.ctag is _QUOTED_TAG:
            return value
        if value in _CORE_CONSTANTS:
            return _CORE_CONSTANTS[value]
        return _plain(value, node) if value[0] in _NUMBER_START else value
    if node.__class__ is MappingNode:
        return _plain_mapping(node)
    return [_plain_node(item) for item in node.value]


def _build_mapping(node: MappingNode, seen: _Guard | None) -> dict[str, Any]:
    if node.ctag is not _MAP_TAG and node.tag != _MAP:
        raise _tag_problem(node)
    out: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = _key(key_node, seen)
        if key in out:
            raise _duplicate_key(key, key_node)
        out[key] = _build(value_node, seen, key_node.end_mark.index)
    return out


def _duplicate_key(key: str, node: Node) -> YamlProblem:
    mark = node.start_mark
    return YamlProblem(
        "CP106", f"duplicate key '{key}'", mark.line, mark.column, "YAML keeps only one of them; remove or rename one"
    )


def _build(node: Node, seen: _Guard | None, after: int) -> Any:
    # ``after``: where the text of this node starts at the earliest (to locate an alias)
    if seen is not None:
        seen.check(node, after)
    if node.__class__ is ScalarNode:
        return _scalar(node, seen)
    if node.__class__ is MappingNode:
        return _build_mapping(node, seen)
    if node.ctag is not _SEQ_TAG and node.tag != _SEQ:
        raise _tag_problem(node)
    out = []
    after = node.start_mark.index
    for item in node.value:
        out.append(_build(item, seen, after))
        after = max(after, item.end_mark.index)  # an alias's end mark is its anchor's: earlier
    return out


def _key(node: Node, seen: _Guard | None) -> str:
    mark = node.start_mark
    if node.__class__ is ScalarNode and node.value == "<<" and node.ctag is _PLAIN_TAG:
        raise YamlProblem(
            "CP107", "YAML merge keys (<<) are not allowed", mark.line, mark.column,
            "write the keys out in full",
        )
    if node.__class__ is not ScalarNode:
        raise YamlProblem(
            "CP114", "keys must be plain strings", mark.line, mark.column,
            "quote the key if it looks like a number, boolean or date",
        )
    key: str = node.value  # a scalar node's value is its text
    if node.ctag is _QUOTED_TAG or (node.ctag is not _PLAIN_TAG and node.tag == _STR):
        return key
    if node.ctag is not _PLAIN_TAG or not isinstance(_scalar(node, seen), str):
        raise YamlProblem(
            "CP114", "keys must be plain strings", mark.line, mark.column,
            "quote the key if it looks like a number, boolean or date",
        )
    return key


def _scalar(node: ScalarNode, seen: _Guard | None = None) -> Any:
    ctag, value = node.ctag, node.value
    if ctag is _QUOTED_TAG:
        return value
    if ctag is _PLAIN_TAG:
        if seen is not None and seen.non_specific(node):
            return value  # `! 12` is the string "12"
        return _plain(value, node)
    tag = str(node.tag)  # an explicit tag, such as !!str
    if tag == _STR or tag == _TIMESTAMP:  # dates stay strings; the models parse them
        return value
    expected = _EXPLICIT_SCALAR_TYPES.get(tag)
    if expected is None:
        raise _tag_problem(node)
    resolved: Any = _plain(value, node) if value else None
    if type(resolved) not in expected:
        mark = node.start_mark
        raise YamlProblem(
            "CP108", f"'{value}' is not a valid !!{tag.rsplit(':', 1)[-1]}", mark.line, mark.column,
            "remove the tag, or correct the value",
        )
    return float(resolved) if tag == _FLOAT else resolved


def _plain(value: str, node: Node) -> Any:
    if value in _CORE_CONSTANTS:
        return _CORE_CONSTANTS[value]
    if value[0] in _NUMBER_START:
        dash = value.find("-", 1)
        if dash > 0 and value[dash - 1] not in "eE":
            return value  # a number has a '-' only first or in its exponent: a date, a UUID
        if _CORE_INT.fullmatch(value):
            _check_digits(value, node)
            return _int(value)
        if _CORE_FLOAT.fullmatch(value):
            _check_digits(value, node)
            return _float(value)
    return value


def _check_digits(value: str, node: Node) -> None:
    if len(value) <= MAX_DIGITS:
        return
    mantissa = value.lower().lstrip("+-").removeprefix("0x").removeprefix("0o")
    if "x" not in value.lower():
        mantissa = mantissa.split("e")[0]
    digits = sum(c not in "._" for c in mantissa)
    if digits > MAX_DIGITS:
        mark = node.start_mark
        raise YamlProblem(
            "CP115", f"number with {digits:,} digits; a config number has at most {MAX_DIGITS}",
            mark.line, mark.column, "if it is text (an ID, a code), quote it",
        )


def _int(value: str) -> int:
    digits = value.replace("_", "")
    sign = -1 if digits.startswith("-") else 1
    digits = digits.lstrip("+-")
    for prefix, base in (("0o", 8), ("0x", 16), ("0b", 2)):
        if digits.startswith(prefix):
            return sign * int(digits[2:], base)
    return sign * int(digits)


def _float(value: str) -> float:
    lowered = value.lower()
    if lowered.endswith(".inf"):
        return float("-inf") if lowered.startswith("-") else float("inf")
    if lowered == ".nan":
        return float("nan")
    return float(value.replace("_", ""))


def _tag_problem(node: Node) -> YamlProblem:
    mark = node.start_mark
    return YamlProblem(
        "CP108", f"YAML tag '{node.tag}' is not allowed", mark.line, mark.column,
        "remove the tag; config values are plain strings, numbers, booleans, lists and mappings",
    )


@dataclass
class Positions:
    """Lazily composed node tree of one text, to turn data paths into 1-based positions."""

    text: str
    _root: Node | None = None
    _composed: bool = False

    def locate(self, path: Sequence[str | int], *, key: bool = False) -> tuple[int, int]:
        """Position of the value at ``path`` (or of its key): the nearest existing ancestor
        when the path does not exist, e.g. the mapping that lacks a required key."""
        if not path:
            return 1, 1  # the whole file: no need to compose it
        node = self._tree()
        if node is None:
            return 1, 1
        mark = node.start_mark
        last = len(path) - 1
        for depth, step in enumerate(path):
            found = _child(node, step)
            if found is None:
                break
            key_node, node = found
            mark = node.start_mark
            if key and key_node is not None and depth == last:
                mark = key_node.start_mark
        return mark.line + 1, mark.column + 1

    def _tree(self) -> Node | None:
        if not self._composed:
            self._composed = True
            try:
                self._root = _compose_text(self.text)
            except YAMLError:
                self._root = None
        return self._root


def _child(node: Node, step: str | int) -> tuple[Node | None, Node] | None:
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.value == step:
                return key_node, value_node
    elif isinstance(node, SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
        return None, node.value[step]
    return None

