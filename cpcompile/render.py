"""Rendering diagnostics for people (text), tools (json) and GitHub Actions (annotations).

Everything a diagnostic carries may come from input (a value, a key, a file name), and CI logs
are read by machines: GitHub Actions runs any output line starting with ``::`` as a workflow
command. So every format neutralises control characters (C0, DEL, C1, the Unicode line and
paragraph separators, and bidi controls, which can make a line read differently than it is):
text shows them escaped (``\\n``, ``\\x1b``, ``\\u2028``), json encodes them as ``\\uXXXX``.
"""

from __future__ import annotations

from typing import Callable, Sequence

from .diagnostics import Diagnostic, Severity
from .escape import log_safe_json, neutralise
from .sarif import render_sarif


def render(diagnostics: Sequence[Diagnostic], fmt: str, *, files_checked: int, skipped: int = 0) -> str:
    return RENDERERS[fmt](diagnostics, files_checked, skipped)


def render_text(diagnostics: Sequence[Diagnostic], files_checked: int, skipped: int = 0) -> str:
    lines = []
    for d in diagnostics:
        lines.append(f"{neutralise(d.file)}:{d.line}:{d.col}: {d.severity.value} {d.code} {neutralise(d.message)}")
        if d.hint:
            lines.append(f"    hint: {neutralise(d.hint)}")
    lines.append(summary(diagnostics, files_checked=files_checked, skipped=skipped))
    return "\n".join(lines) + "\n"


def summary(diagnostics: Sequence[Diagnostic], *, files_checked: int, skipped: int = 0) -> str:
    errors = sum(d.is_error for d in diagnostics)
    warnings = len(diagnostics) - errors
    line = f"{count_of(errors, 'error')}, {count_of(warnings, 'warning')} in {count_of(files_checked, 'file')} checked"
    if skipped:
        line += f"; cross-file checks skipped for {count_of(skipped, 'file')} with errors"
    return line


def count_of(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def render_json(diagnostics: Sequence[Diagnostic], files_checked: int, skipped: int = 0) -> str:
    errors = sum(d.is_error for d in diagnostics)
    document = {
        "diagnostics": [d.as_dict() for d in diagnostics],
        "summary": {
            "errors": errors,
            "warnings": len(diagnostics) - errors,
            "files": files_checked,
            "skipped_cross_file": skipped,
        },
    }
    return log_safe_json(document)


def render_github(diagnostics: Sequence[Diagnostic], files_checked: int = 0, skipped: int = 0) -> str:
    # https://docs.github.com/actions/reference/workflow-commands-for-github-actions
    lines = []
    for d in diagnostics:
        command = "error" if d.severity is Severity.ERROR else "warning"
        message = neutralise(d.message) + (f"\nhint: {neutralise(d.hint)}" if d.hint else "")
        props = f"file={_prop(neutralise(d.file))},line={d.line},col={d.col},title={_prop(d.code)}"
        lines.append(f"::{command} {props}::{_data(message)}")
    return "\n".join(lines) + ("\n" if lines else "")


def _data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(value: str) -> str:
    return _data(value).replace(":", "%3A").replace(",", "%2C")


Renderer = Callable[[Sequence[Diagnostic], int, int], str]
RENDERERS: dict[str, Renderer] = {
    "text": render_text, "json": render_json, "github": render_github, "sarif": render_sarif,
}
FORMATS = tuple(RENDERERS)
