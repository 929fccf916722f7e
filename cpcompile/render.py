"""Rendering diagnostics for people (text), tools (json) and GitHub Actions (annotations)."""

from __future__ import annotations

import json
from typing import Sequence

from .diagnostics import Diagnostic, Severity

FORMATS = ("text", "json", "github")


def render(diagnostics: Sequence[Diagnostic], fmt: str, *, files_checked: int) -> str:
    if fmt == "json":
        return render_json(diagnostics, files_checked=files_checked)
    if fmt == "github":
        return render_github(diagnostics)
    return render_text(diagnostics, files_checked=files_checked)


def render_text(diagnostics: Sequence[Diagnostic], *, files_checked: int) -> str:
    lines = []
    for d in diagnostics:
        lines.append(f"{d.file}:{d.line}:{d.col}: {d.severity.value} {d.code} {d.message}")
        if d.hint:
            lines.append(f"    hint: {d.hint}")
    lines.append(summary(diagnostics, files_checked=files_checked))
    return "\n".join(lines) + "\n"


def summary(diagnostics: Sequence[Diagnostic], *, files_checked: int) -> str:
    errors = sum(d.is_error for d in diagnostics)
    warnings = len(diagnostics) - errors
    return f"{count_of(errors, 'error')}, {count_of(warnings, 'warning')} in {count_of(files_checked, 'file')} checked"


def count_of(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def render_json(diagnostics: Sequence[Diagnostic], *, files_checked: int) -> str:
    errors = sum(d.is_error for d in diagnostics)
    document = {
        "diagnostics": [d.as_dict() for d in diagnostics],
        "summary": {"errors": errors, "warnings": len(diagnostics) - errors, "files": files_checked},
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def render_github(diagnostics: Sequence[Diagnostic]) -> str:
    # https://docs.github.com/actions/reference/workflow-commands-for-github-actions
    lines = []
    for d in diagnostics:
        command = "error" if d.severity is Severity.ERROR else "warning"
        message = d.message + (f"\nhint: {d.hint}" if d.hint else "")
        props = f"file={_prop(d.file)},line={d.line},col={d.col},title={_prop(d.code)}"
        lines.append(f"::{command} {props}::{_data(message)}")
    return "\n".join(lines) + ("\n" if lines else "")


def _data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(value: str) -> str:
    return _data(value).replace(":", "%3A").replace(",", "%2C")
