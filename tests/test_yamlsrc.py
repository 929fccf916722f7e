"""Unit tests of the YAML loader: YAML 1.2 scalars, what it refuses, and where it says so.

``YamlProblem`` positions are 0-based (as ruamel's marks); ``Positions.locate`` is 1-based.
"""

from __future__ import annotations

import math
import time

import pytest

from cpcompile import yamlsrc
from cpcompile.yamlsrc import Positions, YamlProblem, parse


def value(text: str):
    return parse(f"k: {text}\n")["k"]


def problem(text: str) -> tuple[str, int, int]:
    with pytest.raises(YamlProblem) as caught:
        parse(text)
    return caught.value.code, caught.value.line, caught.value.col


# ------------------------------------------------------------------------- YAML 1.2 scalars


@pytest.mark.parametrize("text", ["no", "No", "NO", "yes", "Yes", "y", "n", "on", "On", "ON", "off", "Off", "tRue"])
def test_yaml_1_1_booleans_are_strings(text):
    assert value(text) == text


@pytest.mark.parametrize(("text", "expected"), [("true", True), ("True", True), ("TRUE", True), ("false", False), ("False", False), ("FALSE", False)])
def test_booleans(text, expected):
    assert value(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0), ("42", 42), ("-7", -7), ("+3", 3), ("-0", 0), ("00", 0),
        ("0x1F", 31), ("0xff", 255), ("0o17", 15),
        ("0755", 755),  # YAML 1.2: a leading zero is not octal
    ],
)
def test_ints(text, expected):
    result = value(text)
    assert type(result) is int and result == expected


@pytest.mark.parametrize(
    "text",
    [
        "1_000",  # YAML 1.1 digit separators
        "0b101",  # YAML 1.1 binary
        "1:30",  # YAML 1.1 sexagesimal
        "+0x1F", "-0o7",  # the core schema's hex and octal have no sign
        "0x", "0o", "0xG", "1e", "+", ".", "-__", "._",  # number-like, but not numbers
    ],
)
def test_yaml_1_1_and_number_like_forms_are_strings(text):
    assert value(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1.5", 1.5), ("-0.5", -0.5), (".5", 0.5), ("5.", 5.0), ("1e3", 1000.0), ("1E3", 1000.0), ("1.5e-3", 0.0015),
     (".inf", math.inf), ("+.inf", math.inf), (".Inf", math.inf), ("-.inf", -math.inf), ("-.INF", -math.inf)],
)
def test_floats(text, expected):
    result = value(text)
    assert type(result) is float and result == expected


@pytest.mark.parametrize("text", [".nan", ".NaN", ".NAN"])
def test_nan(text):
    assert math.isnan(value(text))


@pytest.mark.parametrize("text", ["", "~", "null", "Null", "NULL"])
def test_nulls(text):
    assert value(text) is None


@pytest.mark.parametrize("text", ["2026-12-01", "2026-12-01T08:00:00Z", "2026-12-01 08:00:00", "2026-12-01T08:00:00+02:00"])
def test_dates_stay_strings(text):
    assert value(text) == text


@pytest.mark.parametrize(("text", "expected"), [('"42"', "42"), ("'true'", "true"), ('"null"', "null"), ("''", ""), ('"no"', "no")])
def test_quoted_scalars_are_strings(text, expected):
    assert value(text) == expected


def test_block_scalars_are_strings():
    assert parse("a: |\n  line one\n  line two\nb: >-\n  folded\n  text\n") == {"a": "line one\nline two\n", "b": "folded text"}


@pytest.mark.parametrize(("text", "expected"), [("!!str 12", "12"), ("!!str true", "true"), ("!!int 12", 12), ("!!bool true", True)])
def test_standard_tags_that_match_their_value_are_accepted(text, expected):
    assert value(text) == expected


def test_nested_data_and_order():
    text = "b: 1\na:\n  - x: [1, two, {c: null}]\n  - []\n  - {}\n"
    data = parse(text)
    assert data == {"b": 1, "a": [{"x": [1, "two", {"c": None}]}, [], {}]}
    assert list(data) == ["b", "a"]


def test_crlf_line_ends():
    assert parse("a: 1\r\nb: two\r\n") == {"a": 1, "b": "two"}


def test_quoted_keys_that_look_like_other_types_are_strings():
    assert parse('"1": a\n"true": b\n"null": c\n"<<": d\n') == {"1": "a", "true": "b", "null": "c", "<<": "d"}


def test_unquoted_yaml_1_1_boolean_keys_are_strings():
    assert parse("no: 1\non: 2\n") == {"no": 1, "on": 2}


def test_anchors_without_aliases_are_fine():
    assert parse("a: &first 1\nb: &second [x]\n") == {"a": 1, "b": ["x"]}


def test_a_lone_ampersand_in_a_value_is_not_an_anchor():
    assert parse("a: R&D\nb: '&x'\n") == {"a": "R&D", "b": "&x"}


# ------------------------------------------------------------------------- what is refused


def test_duplicate_key_points_at_the_second_one():
    assert problem("a: 1\nb:\n  c: 1\n  c: 2\n") == ("CP106", 3, 2)


def test_duplicate_key_message_names_the_key():
    with pytest.raises(YamlProblem, match="duplicate key 'c'"):
        parse("c: 1\nc: 1\n")


def test_alias_under_a_key_points_at_the_alias():
    assert problem("a: &x 1\nb: *x\n") == ("CP107", 1, 3)


def test_alias_in_a_list_points_at_the_alias():
    assert problem("actions:\n  - &p onsitePersonalization\n  - onsiteAdvertising\n  - *p\n") == ("CP107", 3, 4)


def test_merge_key_is_refused():
    assert problem("base: {a: 1}\n<<: {b: 2}\n") == ("CP107", 1, 0)


def test_merge_key_with_alias_is_refused():
    assert problem("base: &b {a: 1}\nmore:\n  <<: *b\n")[0] == "CP107"


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("k: !foo bar\n", (0, 3)),
        ("k: !!binary aGVsbG8=\n", (0, 3)),
        ('k: !!python/object/apply:os.system ["echo hi"]\n', (0, 3)),
        ("k: !!python/name:os.system\n", (0, 3)),
        ("k: !!set {a, b}\n", (0, 3)),
        ("k: !!omap [a: 1]\n", (0, 3)),
        ("k: !custom {a: 1}\n", (0, 3)),
        ("k: !custom [a]\n", (0, 3)),
    ],
)
def test_tags(text, position):
    assert problem(text) == ("CP108", *position)


def test_tag_message_names_the_tag():
    with pytest.raises(YamlProblem, match="YAML tag '!env' is not allowed"):
        parse("k: !env SANDBOX\n")


@pytest.mark.parametrize("text", ["1: a\n", "true: a\n", "null: a\n", "1.5: a\n", "? [a]\n: b\n", "? {a: 1}\n: b\n", "2026: a\n"])
def test_non_string_keys(text):
    code, line, _col = problem("ok: 1\n" + text)
    assert (code, line) == ("CP114", 1)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "   \n"])
def test_empty_file(text):
    assert problem(text) == ("CP103", 0, 0)


def test_document_marker_only_is_empty():
    assert problem("---\n")[0] == "CP103"


@pytest.mark.parametrize(("text", "kind"), [("- a\n- b\n", "a list"), ("just text\n", "a single value"), ("42\n", "a single value"), ("[a, b]\n", "a list")])
def test_top_level_must_be_a_mapping(text, kind):
    with pytest.raises(YamlProblem, match=f"the document is {kind}") as caught:
        parse(text)
    assert caught.value.code == "CP104"


def test_two_documents():
    assert problem("a: 1\n---\nb: 2\n") == ("CP113", 1, 0)


def test_document_end_marker_alone_is_fine():
    assert parse("a: 1\n...\n") == {"a": 1}


def test_tab_indentation():
    assert problem("a:\n\tb: 1\n") == ("CP102", 1, 0)


def test_tab_after_a_colon_is_fine():
    assert parse("a:\t1\n") == {"a": 1}


def test_syntax_error_has_a_hint():
    with pytest.raises(YamlProblem) as caught:
        parse("name: Web: prod\n")
    assert (caught.value.code, caught.value.line, caught.value.col) == ("CP101", 0, 9)
    assert "must be quoted" in caught.value.hint


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("a: x\x07y\n", (0, 4)), ("a: 1\nb: \x1b[1m\n", (1, 3)), ("a: \x00\n", (0, 3)),
        ("a: \u0800\u0800 x\x0b\n", (0, 7)),  # after characters of several UTF-8 bytes
        ("a: \U0001f600\nb: \x0b", (1, 3)),
    ],
)
def test_control_characters(text, position):
    assert problem(text) == ("CP105", *position)


@pytest.mark.parametrize(
    ("text", "position", "said"),
    [
        ("a: 1\r\rb: [\n", (0, 4), "carriage return"),
        ("a: b\u2028c: [\n", (0, 4), "U+2028"),
        ("a: 1\nb: 'x\u2029y'\n", (1, 5), "U+2029"),
        ("a: 1\nb: x\x85y\n", (1, 4), "NEL"),
    ],
)
def test_line_breaks_that_git_does_not_see_are_refused_where_git_sees_them(text, position, said):
    # libyaml would count these as line ends and every later position would be off
    assert problem(text) == ("CP105", *position)
    with pytest.raises(YamlProblem) as caught:
        parse(text)
    assert said in caught.value.message


def test_crlf_is_not_a_hidden_line_break():
    assert parse("a: 1\r\nb: 2\r\n") == {"a": 1, "b": 2}


# ------------------------------------------------------------------------------------ depth


def _flow(depth: int) -> str:
    return "a: " + "[" * depth + "]" * depth + "\n"


def _block(depth: int) -> str:
    text = ""
    for i in range(depth):
        text += "  " * i + f"k{i}:\n"
    return text + "  " * depth + "v: 1\n"


def test_nesting_limit_counts_the_document_itself():
    parse(_flow(yamlsrc.MAX_DEPTH - 1))  # the top-level mapping is level 1
    assert problem(_flow(yamlsrc.MAX_DEPTH)) == ("CP109", 0, 3 + yamlsrc.MAX_DEPTH - 1)


def test_block_nesting_limit():
    parse(_block(yamlsrc.MAX_DEPTH - 1))
    code, line, col = problem(_block(yamlsrc.MAX_DEPTH))
    assert (code, line, col) == ("CP109", yamlsrc.MAX_DEPTH, 2 * yamlsrc.MAX_DEPTH)


@pytest.mark.parametrize("text", [_flow(100_000), "a: " + "{b: " * 50_000 + "}" * 50_000 + "\n", "a:\n" + "- " * 5_000 + "x\n"])
def test_very_deep_nesting_is_refused_quickly(text):
    started = time.monotonic()
    assert problem(text)[0] == "CP109"
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    "text",
    [
        "k: v\t\nx: " + "[" * 40 + "]" * 40 + "\n",  # the pure parser refused the tab; libyaml does not
        "k: v\t\nx: " + "[" * 2_000 + "]" * 2_000 + "\n",  # RecursionError in the composer
        "k: v\t\nx: " + "{a: " * 2_000 + "}" * 2_000 + "\n",
        "%YAML 1.2\n---\nx: " + "[" * 40 + "]" * 40 + "\n",
    ],
    ids=["tab-40", "tab-2000", "tab-mappings", "yaml-1.2-directive"],
)
def test_nesting_is_caught_whatever_precedes_it(text):
    # 100,000 levels killed the interpreter: test_validate_cli.py runs those in a child process
    started = time.monotonic()
    code, line, _col = problem(text)
    assert (code, line) == ("CP109", text.count("\n", 0, text.index("[" if "[" in text else "{")))
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("indicators", ["? k\n: ", "? ", "a:\n", "a:\n- ? "])
def test_compact_block_nesting_on_one_line(indicators):
    text = indicators + "- " * 40 + "x\n"
    assert problem(text)[0] == "CP109"


_DEEP = yamlsrc.MAX_DEPTH + 5


@pytest.mark.parametrize(
    "text",
    [
        "a:\n" + "  [\n" * _DEEP + "  x" + "]" * _DEEP + "\n",  # one opener a line
        "a: " + '["]", ' * _DEEP + "x" + "]" * _DEEP + "\n",  # a quoted ']' after each '['
        "a: " + "[  # ]\n" * _DEEP + "x" + "]" * _DEEP + "\n",  # a ']' in a comment
        "k: x]y\na: " + "[" * _DEEP + "x" + "]" * _DEEP + "\n",  # a ']' in a block plain scalar
        "k: |\n  [[[ ]]]\na: [b]\nc: " + "{d: " * _DEEP + "1" + "}" * _DEEP + "\n",  # brackets in a block scalar
        "a: [b]\n" * 50 + "c: " + "[" * _DEEP + "]" * _DEEP + "\n",  # deep after many small lists
        "a: " + "[b: " * (_DEEP // 2) + "c" + "]" * (_DEEP // 2) + "\n",  # a pair in [ ] is a mapping too
    ],
    ids=["line-per-opener", "quoted-close", "commented-close", "plain-close", "block-scalar", "after-small-lists",
         "implicit-pairs"],
)
def test_deep_flow_nesting_is_caught_however_the_brackets_are_laid_out(text):
    assert problem(text)[0] == "CP109"


_FLOW_START = ("SequenceStartEvent", "MappingStartEvent")


def _deepest_flow(text: str) -> int:
    """How deep flow collections nest in what libyaml reads of ``text`` before any error."""
    parser = yamlsrc._Composer(text)
    depth = deepest = 0
    try:
        while True:
            event = parser.get_event()
            name = type(event).__name__
            if name in _FLOW_START and event.flow_style:
                depth += 1
                deepest = max(deepest, depth)
            elif name in ("SequenceEndEvent", "MappingEndEvent") and depth:
                depth -= 1
            elif name == "StreamEndEvent":
                return deepest
    except Exception:
        return deepest
    finally:
        parser.dispose()


def test_the_flow_depth_bound_is_never_below_the_depth_libyaml_reads():
    """``_check_nesting`` skips its event walk when a cheap bound on the nesting is low: the
    bound must hold for any text, brackets in quotes, comments and plain scalars included."""
    import random

    rng = random.Random(2026)
    pieces = ["[", "]", "{", "}", "[", "]", '"', "'", "#", "\n", "\n  ", " ", ", ", ": ", "a", "b: ", "- ", "|\n  ", "x]y", "é"]
    checked = 0
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 40)))
        deepest = _deepest_flow(text)
        assert yamlsrc._flow_depth_bound(text) >= deepest, repr(text)
        checked += deepest > 1
    assert checked > 50  # the texts do nest


def test_a_syntax_error_before_the_limit_is_reported_as_such():
    text = "a: [b: c: d]\nx: " + "[" * 100_000
    assert problem(text)[0] == "CP101"


def test_nesting_in_a_second_document_is_a_second_document():
    assert problem("a: 1\n---\nb: " + "[" * 100 + "]" * 100 + "\n")[0] == "CP113"


@pytest.mark.parametrize("version", ["1.3", "2.0"])
def test_unsupported_yaml_version_says_what_to_write(version):
    text = f"%YAML {version}\n---\nx: " + "[" * 40 + "]" * 40 + "\n"
    with pytest.raises(YamlProblem) as caught:
        parse(text)
    p = caught.value
    assert (p.code, p.line, p.col, p.message) == ("CP101", 0, 0, f"YAML syntax error: %YAML {version} is not supported")
    assert p.hint == "cpcompile reads YAML 1.2: write '%YAML 1.2', or delete the %YAML line"


# ------------------------------------------------------------------------------ long numbers


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("k: " + "9" * 5_000 + "\n", (0, 3)),
        ("k: -" + "9" * 65 + "\n", (0, 3)),
        ("k: 0x" + "f" * 65 + "\n", (0, 3)),
        ("k: 0o" + "7" * 65 + "\n", (0, 3)),
        ("k: " + "9" * 65 + ".5\n", (0, 3)),
        ("k: 1." + "0" * 65 + "\n", (0, 3)),
        ("k: [1, " + "9" * 5_000 + "]\n", (0, 7)),
        ("k: !!int " + "9" * 5_000 + "\n", (0, 3)),
        ("k: !!float " + "9" * 5_000 + "\n", (0, 3)),
        ("? " + "9" * 5_000 + "\n: v\n", (0, 2)),
    ],
    ids=["int", "negative", "hex", "octal", "float", "fraction", "in-a-list", "int-tag", "float-tag", "key"],
)
def test_numbers_with_too_many_digits(text, position):
    with pytest.raises(YamlProblem) as caught:
        parse(text)
    assert (caught.value.code, caught.value.line, caught.value.col) == ("CP115", *position)
    assert "a config number has at most 64" in caught.value.message


def test_64_digits_is_a_number_and_65_quoted_is_text():
    assert value("9" * 64) == int("9" * 64)
    assert value('"' + "9" * 65 + '"') == "9" * 65
    assert value("9" * 65 + "x") == "9" * 65 + "x"


@pytest.mark.parametrize(("text", "expected"), [("1e99999", math.inf), ("-1e99999", -math.inf), ("1e-99999", 0.0)])
def test_floats_with_huge_exponents_are_floats(text, expected):
    assert value(text) == expected


# ----------------------------------------------------------- valid YAML libyaml cannot read


@pytest.mark.parametrize(
    ("text", "char", "scalar", "col"),
    [
        ("origins: [https://a.example]\n", ":", "https://a.example", 15),
        ("origins: [ a, https://a.example , b ]\n", ":", "https://a.example", 19),
        ("x: {url: http://x.org}\n", ":", "http://x.org", 13),
        ("x:\n- { url: http://example.org }\n", ":", "http://example.org", 13),  # yaml-test-suite UDM2
        ("x: {path: /p?x=1}\n", "?", "/p?x=1", 12),
        ("x: [/p?x=1]\n", "?", "/p?x=1", 6),
        ("x: {id: 1, start: 2026-12-01T08:00:00Z}\n", ":", "2026-12-01T08:00:00Z", 31),
        ("x: [\n  https://a.example,\n  b\n]\n", ":", "https://a.example", 7),
        ('x: [say "hi":there]\n', ":", 'say "hi":there', 12),
    ],
)
def test_colon_or_question_mark_inside_flow_says_exactly_what_to_write(text, char, scalar, col):
    with pytest.raises(YamlProblem) as caught:
        parse(text)
    p = caught.value
    assert (p.code, p.col) == ("CP101", col)
    assert p.message == f"YAML syntax error: '{char}' in an unquoted value inside [ ] or {{ }}"
    quoted = '"' + scalar.replace('"', '\\"') + '"'
    assert p.hint == f"inside [ ] or {{ }}, quote a value that contains '{char}': write {quoted}"
    fixed = text.replace(scalar, quoted, 1)
    assert scalar in str(parse(fixed))  # what the hint says to write is read as the value


def test_a_key_glued_to_its_value_in_flow_gets_both_readings():
    with pytest.raises(YamlProblem) as caught:
        parse("x: {a:1}\n")
    assert caught.value.hint == (
        "inside [ ] or { }, quote a value that contains ':': write \"a:1\" (or, if 'a' is a key, put a space after the ':')"
    )


@pytest.mark.parametrize(
    ("text", "position"),
    [("a: 1\n\t\nb: 2\n", (1, 0)), ("a:\n  b: 1\n  \t\n  c: 2\n", (2, 2))],  # yaml-test-suite DK95
)
def test_a_tab_on_a_blank_line_says_delete_it(text, position):
    with pytest.raises(YamlProblem) as caught:
        parse(text)
    p = caught.value
    assert (p.code, p.line, p.col) == ("CP102", *position)
    assert (p.message, p.hint) == ("tab character on an otherwise blank line", "a tab on an otherwise blank line: delete it")


def test_a_space_then_a_tab_on_a_blank_line_is_read():
    assert parse("a: 1\n \t\nb: 2\n") == {"a": 1, "b": 2}  # yaml-test-suite DK95


def test_a_key_over_1024_characters_says_so():
    with pytest.raises(YamlProblem) as caught:
        parse("k" * 2000 + ": 1\n")
    assert (caught.value.code, caught.value.message) == ("CP101", "YAML syntax error: a key longer than 1024 characters")


@pytest.mark.parametrize(("text", "expected"), [("!!str 12: x\n", "12"), ("!!str a: x\n", "a"), ("{!!str 1: x}\n", "1")])
def test_str_tagged_keys_are_accepted(text, expected):
    assert parse(text) == {expected: "x"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("! 12", "12"), ("! true", "true"), ("! null", "null"), ("! 1.5", "1.5"), ("&a ! 12", "12"),
        ("! &a 12", "12"), ("[! 12]", ["12"]), ("!<!> 12", "12"), ("! [1]", [1]),
    ],
)
def test_the_non_specific_tag_makes_a_plain_scalar_a_string(text, expected):
    assert value(text) == expected


def test_a_non_specific_tag_on_a_key_makes_it_a_string():
    assert parse("! 12: x\n") == {"12": "x"}


def test_an_exclamation_mark_inside_a_value_is_not_a_tag():
    assert parse("a: 12\nb: hi! 12\nc: 13\n") == {"a": 12, "b": "hi! 12", "c": 13}


# -------------------------------------------------------------------------------- positions

TEXT = """\
# comment
id: x
audiences:
  - id: a
    start: 2026-12-01
  -   id: b
nested:
  list:
    - [1, 2]
    - - deep
  flow: {k: v}
"""


@pytest.mark.parametrize(
    ("path", "key", "expected"),
    [
        (("id",), False, (2, 5)),
        (("id",), True, (2, 1)),
        (("audiences",), False, (4, 3)),
        (("audiences",), True, (3, 1)),
        (("audiences", 0), False, (4, 5)),
        (("audiences", 0, "start"), False, (5, 12)),
        (("audiences", 0, "start"), True, (5, 5)),
        (("audiences", 1), False, (6, 7)),
        (("audiences", 1, "id"), False, (6, 11)),
        (("nested", "list", 0), False, (9, 7)),
        (("nested", "list", 0, 1), False, (9, 11)),
        (("nested", "list", 1, 0), False, (10, 9)),
        (("nested", "flow", "k"), False, (11, 13)),
        (("nested", "flow", "k"), True, (11, 10)),
    ],
)
def test_locate(path, key, expected):
    assert Positions(TEXT).locate(path, key=key) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("audiences", 0, "end"), (4, 5)),  # the mapping that lacks the key
        (("audiences", 5), (4, 3)),  # past the end of the list: the list
        (("audiences", -1), (4, 3)),
        (("audiences", "x"), (4, 3)),  # a key into a list: the list
        (("id", "x"), (2, 5)),  # into a scalar: the scalar
        (("nope",), (2, 1)),  # a missing top-level key: the document's mapping
        (("nested", "nope", 3), (8, 3)),
    ],
)
def test_locate_missing_path_falls_back_to_the_nearest_ancestor(path, expected):
    positions = Positions(TEXT)
    assert positions.locate(path) == expected
    assert positions.locate(path, key=True) == expected


def test_locate_the_whole_file():
    assert Positions(TEXT).locate(()) == (1, 1)


@pytest.mark.parametrize("text", ["", "a: [\n", "# nothing\n"])
def test_locate_in_text_without_a_tree(text):
    assert Positions(text).locate(("a", 0)) == (1, 1)


def test_locate_repeated_name_falls_back_to_the_value():
    assert Positions("a:\n  b: 1\n").locate(("a", "a"), key=True) == (2, 3)



# ------------------------------------------------------------------------- the C parser


def test_the_c_parser_is_used():
    assert yamlsrc._Composer.__mro__[1].__name__ == "CParser"


def test_loader_fails_loudly_without_the_c_parser(monkeypatch):
    monkeypatch.setattr("ruamel.yaml.main.CParser", None)
    with pytest.raises(RuntimeError, match=r"ruamel\.yaml\[oldlibyaml\]"):
        yamlsrc._c_parser()


@pytest.mark.parametrize(("text", "position"), [("[", (0, 1)), ("a: 1\nb: [x", (1, 5)), ("a: [\n", (1, 0))])
def test_an_error_at_the_end_points_into_the_file(text, position):
    # libyaml puts the end of an unterminated last line on a line of its own that git does not show
    assert problem(text) == ("CP101", *position)


# ------------------------------------------------------------------------- the two builders

_REPO = __import__("pathlib").Path(__file__).resolve().parent.parent
_BUILDER_TEXTS = [
    "a: 1\nb: [1, -2, 3.5, 1e3, 2026-12-01, 0a1b2c3d-0000-4000-8000-000000000000, 1e-3, -.inf, .nan]\n",
    "a: {x: null, y: ~, z: '', w: \"q\"}\nb:\n  - c: true\n    d: FALSE\n  - [no, on, 0x1F, 0o17, +12, 1_000]\n",
    "1: a\n", "true: a\n", "null: a\n", ": a\n", "<<: {a: 1}\n", "'<<': 1\n", "? [a]\n: b\n", "a: 1\na: 2\n",
    "a:\n  b: 1\n  b: 2\n", "a: [{x: 1}, {x: 1, x: 2}]\n", "'1': a\n\"true\": b\n", "a: " + "9" * 65 + "\n",
    "a: -" + "1" * 70 + "e-5\n", "a: 12-3\n", "a: 1e-5-3\n", "a: 2026-13-45T99:00\n",
]


def _builder_texts() -> list[str]:
    files = [*(_REPO / "tests" / "cases").rglob("*.yaml"), *(_REPO / "datastreams").glob("*.yaml"),
             *(_REPO / "destinations").glob("*.yaml"), *(_REPO / "audiences").glob("*.yaml")]
    return _BUILDER_TEXTS + [f.read_text(encoding="utf-8", errors="replace") for f in sorted(files)]


def _outcome(build):
    try:
        return ("ok", build())
    except YamlProblem as p:
        return ("problem", p.code, p.line, p.col, p.message, p.hint)


def test_the_builder_for_texts_without_anchors_or_tags_gives_what_the_guarded_one_does():
    """A text without '&' and '!' takes a faster builder; on the same tree, the builder that
    guards against aliases and tags gives the same data, or the same problem at the same place."""
    compared = 0
    for text in _builder_texts():
        if "&" in text or "!" in text:
            continue
        try:
            root = yamlsrc._compose(text)
        except YamlProblem:
            continue
        if root.__class__ is not yamlsrc.MappingNode:
            continue
        guarded = _outcome(lambda: yamlsrc._build_mapping(root, yamlsrc._Guard(text)))
        plain = _outcome(lambda: yamlsrc._plain_mapping(root))
        assert repr(plain) == repr(guarded), text  # repr: nan is not equal to itself
        compared += 1
    assert compared > 150
