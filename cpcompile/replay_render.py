"""A replay ``Report`` for people and tools: ``text`` for a terminal, ``markdown`` (a section a
pull-request comment can hold, alone or under the diff's plan), ``json`` (docs/replay.md).

Datastream references, aliases, audience IDs and attribute values come from the request file
or the config, so every one is escaped for the format: control characters neutralised in text,
markdown and HTML specials written as character references in markdown (plan_render.md).
"""

from __future__ import annotations

import json
from typing import Any, Callable

from .diff import Plan
from .escape import log_safe_json, neutralise
from .plan_render import md, md_code
from .replay import KINDS, Example, Report, as_dict

REPLAY_FORMATS = ("text", "markdown", "json")
SHOWN_ROWS = 50  # datastream/alias rows of the markdown table

LABELS = {
    "destination_added": ("destination added", "destinations added"),
    "destination_removed": ("destination removed", "destinations removed"),
    "destination_id_changed": ("destination ID changed", "destination IDs changed"),
    "segments_added": ("answer with segments added", "answers with segments added"),
    "segments_removed": ("answer with segments removed", "answers with segments removed"),
    "namespace_changed": ("answer with a segment namespace changed", "answers with a segment namespace changed"),
    "attributes_changed": ("answer with attributes changed", "answers with attributes changed"),
}

Esc = Callable[[object], str]


def _plain(value: object) -> str:
    return str(value)


def count_of(n: int, word: str) -> str:
    """``1,000 requests``, ``1 request``."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _label(kind: str, n: int) -> str:
    one, many = LABELS[kind]
    return f"{n:,} {one if n == 1 else many}"


def _kinds(kinds: dict[str, int]) -> str:
    return ", ".join(_label(k, kinds[k]) for k in KINDS if k in kinds)


def _percent(part: int, whole: int) -> str:
    if not whole:
        return "0%"
    share = 100 * part / whole
    return f"{share:.1f}%" if share >= 0.1 or part == 0 else "<0.1%"


def headline(report: Report) -> str:
    if not report.replayed:
        return "No request was replayed."
    if not report.changed:
        return f"No answer changes: the {count_of(report.replayed, 'request')} get the same answers from both sides."
    changed_ds = sum(1 for c in report.datastreams.values() if c.changed)
    return (
        f"{report.changed:,} of {count_of(report.replayed, 'answer')} change ({_percent(report.changed, report.replayed)})"
        f" on {count_of(changed_ds, 'datastream')}"
    )


def bad_line_note(report: Report) -> str:
    if not report.bad_lines:
        return ""
    return f"{count_of(report.bad_lines, 'bad line')} skipped (not counted above)."


def _datastream(report: Report, ds: str, esc: Esc, code: Esc) -> str:
    name = report.names.get(ds)
    return code(ds) + (f" ({esc(name)})" if name else "")


def _audiences(report: Report, ids: list[str], esc: Esc, code: Esc) -> str:
    shown = []
    for audience in ids:
        if audience.startswith("… and "):
            shown.append(esc(audience))
            continue
        name = report.audience_names.get(audience)
        shown.append(code(audience) + (f" ({esc(name)})" if name else ""))
    return ", ".join(shown)


def _compact(value: Any) -> str:
    return "none" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


def example_text(report: Report, e: Example, esc: Esc = _plain, code: Esc = _plain) -> str:
    where = f"line {e.line}: datastream {_datastream(report, e.datastream, esc, code)}, alias {esc(e.alias)}"
    if e.kind == "destination_added":
        detail = f"added, segments {_audiences(report, e.after, esc, code) or 'none'}"
    elif e.kind == "destination_removed":
        detail = f"removed, had segments {_audiences(report, e.before, esc, code) or 'none'}"
    elif e.kind == "destination_id_changed":
        detail = f"destination {code(e.before)} -> {code(e.after)}"
    elif e.kind == "segments_added":
        detail = f"+ {_audiences(report, e.after, esc, code)}"
    elif e.kind == "segments_removed":
        detail = f"- {_audiences(report, e.before, esc, code)}"
    elif e.kind == "namespace_changed":
        detail = f"namespace of {_audiences(report, e.after, esc, code)}"
    else:
        detail = f"attributes {esc(_compact(e.before))} -> {esc(_compact(e.after))}"
    return f"{where}: {detail}"


# --- text --------------------------------------------------------------------------------------


def render_text(report: Report) -> str:
    out = [
        neutralise(f"replay: {report.base} -> {report.head}, {count_of(report.replayed, 'request')} from {report.source}"),
        headline(report),
    ]
    if report.bad_lines:
        listed = "It is" if report.bad_lines == 1 else "Each is" if len(report.errors) == report.bad_lines else f"The first {len(report.errors)} are"
        out.append(f"{bad_line_note(report)} {listed} listed on stderr as FILE:LINE.")
    changed = [(ds, c) for ds, c in sorted(report.datastreams.items()) if c.changed]
    if changed:
        out += ["", "by datastream and alias:"]
        for ds, count in changed:
            out.append(neutralise(
                f"  datastream {_datastream(report, ds, _plain, _plain)}: {count.changed:,} of "
                f"{count_of(count.requests, 'answer')} change"
            ))
            for alias, a in sorted(count.aliases.items()):
                out.append(neutralise(f"    {alias}: {count_of(a.changed, 'answer')} ({_kinds(a.kinds)})"))
        out += ["", "examples:"]
        for kind in KINDS:
            examples = report.examples.get(kind)
            if not examples:
                continue
            out.append(f"  {_label(kind, report.kinds[kind])}:")
            out.extend(neutralise(f"    {example_text(report, e)}") for e in examples)
    return "\n".join(out) + "\n"


# --- markdown ----------------------------------------------------------------------------------


def render_markdown(report: Report) -> str:
    """A section for a pull-request comment; every value from the input is escaped."""
    out = [
        f"### Replay of {count_of(report.replayed, 'recorded request')}: {md(report.base)} → {md(report.head)}",
        "",
        f"**{md(headline(report))}**",
    ]
    if report.bad_lines:
        out += ["", f"_{md(bad_line_note(report))} `cpcompile replay` lists them with their line numbers._"]
    rows = [(ds, c, alias, a) for ds, c in sorted(report.datastreams.items()) for alias, a in sorted(c.aliases.items())]
    if rows:
        out += ["", "| datastream | alias | answers that change | what changes |", "|---|---|---:|---|"]
        for ds, count, alias, a in rows[:SHOWN_ROWS]:
            out.append(
                f"| {_datastream(report, ds, md, md_code)} | {md(alias)} | {a.changed:,} of {count.requests:,} | {md(_kinds(a.kinds))} |"
            )
        if len(rows) > SHOWN_ROWS:
            out.append(f"| … and {len(rows) - SHOWN_ROWS} more | | | `cpcompile replay --format json` lists all |")
        out += ["", "<details><summary>Examples of each kind of change</summary>", ""]
        for kind in KINDS:
            examples = report.examples.get(kind)
            if not examples:
                continue
            out.append(f"- {md(_label(kind, report.kinds[kind]))}")
            out.extend(f"  - {example_text(report, e, md, md_code)}" for e in examples)
        out += ["", "</details>"]
    return "\n".join(out) + "\n"


# --- json --------------------------------------------------------------------------------------


def render_json(report: Report) -> str:
    return log_safe_json(as_dict(report))


def plan_with_replay(plan: Plan, report: Report, fmt: str, base: str, head: str) -> str:
    """``cpcompile diff --replay``: the plan, then the replay. In markdown the replay section
    comes after the plan, which is cut to leave it room within one comment; in json the
    replay's document is the plan's ``replay`` field."""
    from .plan_render import COMMENT_BUDGET, comment_length, render_markdown as plan_markdown, render_plan

    if fmt == "markdown":
        section = render_markdown(report)
        return plan_markdown(plan, base, head, budget=COMMENT_BUDGET - comment_length(section) - 1) + "\n" + section
    if fmt == "json":
        document = json.loads(render_plan(plan, "json", base, head))
        document["replay"] = as_dict(report)
        return log_safe_json(document)
    return render_plan(plan, "text", base, head) + "\n" + render_text(report)


RENDERERS: dict[str, Callable[[Report], str]] = {"text": render_text, "markdown": render_markdown, "json": render_json}


def render_report(report: Report, fmt: str) -> str:
    return RENDERERS[fmt](report)
