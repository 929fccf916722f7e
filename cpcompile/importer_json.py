"""Reading Adobe Experience Platform API listings saved as JSON files, with located errors.

The files are what the APIs return (docs/import.md): a page object, or a JSON array of page
objects (several pages concatenated). A file that is not JSON is reported at ``file:line:col``
from the decoder's position; a file of the wrong shape names the JSON path of the problem
(``$.segments[3].id``). Unknown fields are ignored: the APIs add fields over time.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

MAX_EXPORT_BYTES = 256 * 1024 * 1024
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_SURROGATE = re.compile("[\ud800-\udfff]")


class ExportError(Exception):
    """A file of the export cannot be read: the message says where (file:line:col or a JSON path)."""


@dataclass(frozen=True)
class Item:
    """One object of a listing, with where it is: the file and its JSON path."""

    value: dict[str, Any]
    file: str
    path: str

    def at(self, key: str) -> str:
        return f"{self.path}.{key}"

    def fail(self, key: str | None, problem: str) -> ExportError:
        return ExportError(f"{self.file}: at {self.at(key) if key else self.path}: {problem}")

    def get(self, *keys: str) -> Any:
        """The value at ``keys`` (nested objects), None when any is absent or not an object."""
        value: Any = self.value
        for key in keys:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value

    def text(self, key: str, *, required: bool = True) -> str | None:
        value = self.value.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"expected a non-empty string, found {_kind(value)}")
        if _SURROGATE.search(value):
            raise self.fail(key, "the string is not valid Unicode (a lone surrogate escape)")
        return value

    def uuid(self, key: str, *, required: bool = True) -> str | None:
        value = self.text(key, required=required)
        if value is None:
            return None
        if not _UUID.fullmatch(value):
            raise self.fail(key, f"expected a UUID (8-4-4-4-12 hex digits), found {json.dumps(value)[:80]}")
        return value.lower()

    def flag(self, *keys: str) -> bool:
        value = self.get(*keys)
        if value is not None and not isinstance(value, bool):
            raise ExportError(f"{self.file}: at {self.path}.{'.'.join(keys)}: expected true or false, found {_kind(value)}")
        return bool(value)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "an empty string" if not value else "a string"
    return "an array" if isinstance(value, list) else "an object"


def read_json(path: Path) -> Any:
    """The JSON value in ``path``; ExportError at file:line:col when it is not JSON."""
    name = str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_EXPORT_BYTES + 1)
    except OSError as err:
        raise ExportError(f"{name}: cannot be read ({err.strerror or err})") from None
    if len(data) > MAX_EXPORT_BYTES:
        raise ExportError(f"{name}: larger than {MAX_EXPORT_BYTES:,} bytes; export fewer items per file")
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        col = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise ExportError(f"{name}:{line}:{col}: not UTF-8 (byte 0x{data[err.start]:02x})") from None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as err:
        raise ExportError(f"{name}:{err.lineno}:{err.colno}: not valid JSON: {err.msg}") from None
    except RecursionError:
        raise ExportError(f"{name}: nested too deep to be an API listing") from None
    except ValueError as err:  # NaN / Infinity, or an integer too long to convert
        raise ExportError(f"{name}: not valid JSON: {err}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def listing(path: Path, key: str) -> Iterator[Item]:
    """The objects of a listing file: the array at ``key`` of the page object, or of each page
    object when the file holds an array of pages."""
    document = read_json(path)
    name = str(path)
    pages = list(enumerate(document)) if isinstance(document, list) else [(None, document)]
    for index, page in pages:
        where = "$" if index is None else f"$[{index}]"
        if not isinstance(page, dict):
            raise ExportError(f"{name}: at {where}: expected a page object with \"{key}\", found {_kind(page)}")
        items = page.get(key)
        if not isinstance(items, list):
            raise ExportError(f"{name}: at {where}.{key}: expected an array, found {_kind(items)}")
        for j, value in enumerate(items):
            if not isinstance(value, dict):
                raise ExportError(f"{name}: at {where}.{key}[{j}]: expected an object, found {_kind(value)}")
            yield Item(value, name, f"{where}.{key}[{j}]")
