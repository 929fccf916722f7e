"""SARIF 2.1.0 output, for GitHub code scanning and other tools that read static-analysis logs.

https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html. One run; its rules are the
whole catalog of codes (cpcompile/codes.py), so a viewer can show the title, reason and fix of
any result, and a result's level is its severity after project settings.
"""

from __future__ import annotations

import re
from typing import Any, Sequence
from urllib.parse import quote

from . import __version__
from .codes import CODES, Code
from .diagnostics import Diagnostic, Severity
from .escape import log_safe_json

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
_RULE_INDEX = {code: index for index, code in enumerate(CODES)}


def render_sarif(diagnostics: Sequence[Diagnostic], files_checked: int = 0, skipped: int = 0) -> str:
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "cpcompile",
                "version": __version__,
                "rules": [_rule(row) for row in CODES.values()],
            }
        },
        "columnKind": "unicodeCodePoints",
        "results": [_result(d) for d in diagnostics],
    }
    log = {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}
    return log_safe_json(log)


def _rule(row: Code) -> dict[str, Any]:
    return {
        "id": row.code,
        "name": "".join(word[:1].upper() + word[1:] for word in re.findall(r"[A-Za-z0-9]+", row.title)),
        "shortDescription": {"text": row.title},
        "fullDescription": {"text": f"{row.title}: {row.reason}."},
        "help": {"text": f"{row.help}. See docs/rules.md, {row.code}."},
        "defaultConfiguration": {"level": _level(row.severity)},
        "properties": {"tags": [row.stage.value]},
    }


def _result(d: Diagnostic) -> dict[str, Any]:
    text = d.message + (f"\nhint: {d.hint}" if d.hint else "")
    result: dict[str, Any] = {
        "ruleId": d.code,
        "level": _level(d.severity),
        "message": {"text": text},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": _uri(d.file), "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": d.line, "startColumn": d.col},
                }
            }
        ],
    }
    if d.code in _RULE_INDEX:
        result["ruleIndex"] = _RULE_INDEX[d.code]
    return result


def _level(severity: Severity) -> str:
    return "error" if severity is Severity.ERROR else "warning"


def _uri(path: str) -> str:
    """A relative URI reference: every character but unreserved ones and '/' percent-encoded,
    so a file name with spaces, '#', '?', control characters or non-ASCII stays one path."""
    return quote(path.encode("utf-8", "surrogateescape"), safe="/")
