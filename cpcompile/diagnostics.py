"""Diagnostics: what every stage reports, collected and rendered once; and the exit codes."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Iterable

# Exit codes are a contract with CI scripts: never renumber them.
EXIT_OK = 0
EXIT_CONFIG_ERRORS = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Diagnostic:
    code: str
    severity: Severity
    message: str
    file: str  # POSIX path relative to the config root
    line: int  # 1-based
    col: int  # 1-based
    hint: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.file, self.line, self.col, self.code, self.message)

    def as_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "hint": self.hint,
        }


def sorted_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    return sorted(set(diagnostics), key=Diagnostic.sort_key)


def exit_code(diagnostics: Iterable[Diagnostic], *, strict: bool = False) -> int:
    failing = (d for d in diagnostics if d.is_error or strict)
    return EXIT_CONFIG_ERRORS if any(True for _ in failing) else EXIT_OK


def diagnostic_from_dict(data: dict[str, object]) -> Diagnostic:
    return Diagnostic(
        code=str(data["code"]),
        severity=Severity(data["severity"]),
        message=str(data["message"]),
        file=str(data["file"]),
        line=int(data["line"]),  # type: ignore[call-overload]
        col=int(data["col"]),  # type: ignore[call-overload]
        hint=None if data.get("hint") is None else str(data["hint"]),
    )
