"""Making text from input safe to print where machines read it: CI logs and terminals.

GitHub Actions runs any output line starting with ``::`` as a workflow command, terminals obey
escape sequences, and bidi controls make a line read differently than it is. So control
characters (C0, DEL, C1), the Unicode line and paragraph separators, bidi controls and lone
surrogates (a file name or argument that was not UTF-8, which cannot even be printed) never
reach output raw.
"""

from __future__ import annotations

import json
import re
from typing import Any

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# What json leaves raw with ensure_ascii=False (it escapes C0 itself, and its own indentation
# newlines must stay).
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# What YAML's printable set lets an emitter write raw although it reads as something else:
# bidi controls (C0, C1 and the line separators it escapes itself in double quotes).
BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    return f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"


def neutralise(value: str) -> str:
    """``value`` on one line, every control character shown as an escape."""
    return _UNSAFE.sub(_escape_char, value)


def log_safe_json(document: Any) -> str:
    """``document`` as indented JSON (non-ASCII text kept readable) and a final newline, with
    what JSON would leave raw but a log must not see encoded as ``\\uXXXX``: the result is still
    the same JSON value, as it can only occur inside strings."""
    text = json.dumps(document, indent=2, ensure_ascii=False)
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"
