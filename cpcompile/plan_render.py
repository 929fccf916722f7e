"""A ``Plan`` for people and tools: ``text`` for a terminal, ``markdown`` for a pull-request
comment (jinja2 templates in cpcompile/templates/plan/), ``json`` (docs/diff.md).

Every name, ID and alias comes from the config, so from the pull request: text neutralises
control characters, markdown escapes every character markdown or HTML would act on (and ``@``
and ``#``, so a name cannot mention people or link issues), mermaid labels are entity-encoded.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

from .diff import Change, Plan
from .escape import log_safe_json, neutralise
from .render import count_of

PLAN_FORMATS = ("text", "markdown", "json")
# GitHub refuses a comment longer than 65,536 characters; the rest is room for a marker line
# that a workflow puts on top (docs/ci.md) and for the truncation note
COMMENT_BUDGET = 65_000
SHOWN_PER_LIST = 50  # items of one list shown before "and N more"
OPEN_UP_TO = 10  # a markdown list longer than this is folded into <details>
MAX_EDGES = 40  # edges drawn in the mermaid diagram
_DAY = 86_400

# --- what each change says ---------------------------------------------------------------------


def when(seconds: int) -> str:
    moment = datetime.fromtimestamp(seconds, timezone.utc)
    return moment.strftime("%Y-%m-%d") if seconds % _DAY == 0 else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def window(value: dict[str, int | None] | None) -> str:
    """A window as the config writes it: a start day, an end day included (the artifact's end
    is exclusive), or instants."""
    if value is None:
        return "always"
    start, end = value["start"], value["end"]
    parts = []
    if start is not None:
        parts.append(f"from {when(start)}")
    if end is not None:
        parts.append(f"through {when(end - _DAY)}" if end % _DAY == 0 else f"until {when(end)}")
    return " ".join(parts)


Esc = Callable[[object], str]


def _plain(value: object) -> str:
    return str(value)


@dataclass
class Line:
    """One change, said in words, with every value from the config already escaped for the
    format (``esc``); ``sign`` is +, - or ~."""

    sign: str
    text: str


@dataclass
class DestinationSection:
    id: str
    title: str
    lines: list[Line] = field(default_factory=list)
    audience_lines: list[Line] = field(default_factory=list)


@dataclass
class DatastreamSection:
    id: str | None  # None: changes that are about no datastream (catalog settings)
    title: str
    lines: list[Line] = field(default_factory=list)
    destinations: list[DestinationSection] = field(default_factory=list)


def _v(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _named(esc: Esc, code: Esc, ident: str | None, name: str | None) -> str:
    return code(ident) + (f" ({esc(name)})" if name else "")


def _line(plan: Plan, c: Change, esc: Esc, code: Esc) -> Line:
    names = plan.names
    k = c.kind
    audience = _named(esc, code, c.audience, names.audiences.get(c.audience or "")) if c.audience else ""

    def change(before: object, after: object) -> str:
        return f"{esc(before)} -> {esc(after)}"

    if k == "audience_added":
        return Line("+", f"audience {audience}" + ("" if c.after is None else f", {window(c.after)}"))
    if k == "audience_removed":
        return Line("-", f"audience {audience}")
    if k == "window_changed":
        return Line("~", f"window of {audience}: {window(c.before)} -> {window(c.after)}")
    if k == "namespace_changed":
        return Line("~", f"namespace of {audience}: {change(c.before, c.after)}")
    if k in ("destination_added", "destination_removed"):
        whole = c.after if k == "destination_added" else c.before
        sign, verb = ("+", "added") if k == "destination_added" else ("-", "removed")
        attributes = f", {count_of(len(whole['attributes']), 'attribute')}" if whole["attributes"] else ""
        return Line(sign, f"destination {verb}: alias {esc(whole['alias'])}, {count_of(len(whole['audiences']), 'audience')}{attributes}")
    if k == "destination_moved":
        return Line("~", f"moved here from datastream {_named(esc, code, c.before, names.datastreams.get(c.before))}")
    if k == "alias_changed":
        return Line("~", f"alias: {change(c.before, c.after)}")
    if k == "attribute_added":
        return Line("+", f"attribute {esc(c.field)} from {esc(c.after)}")
    if k == "attribute_removed":
        return Line("-", f"attribute {esc(c.field)} (was from {esc(c.before)})")
    if k == "attribute_changed":
        return Line("~", f"attribute {esc(c.field)} from: {change(c.before, c.after)}")
    if k == "marketing_actions_changed":
        return Line("~", f"marketing actions: {change(', '.join(c.before) or 'none', ', '.join(c.after) or 'none')}")
    if k == "datastream_added":
        return Line("+", f"datastream added, access {esc(c.after['access'])}")
    if k == "datastream_removed":
        return Line("-", f"datastream removed, access {esc(c.before['access'])}")
    if k == "access_changed":
        return Line("~", f"access: {change(c.before, c.after)}")
    if k == "datastream_setting_changed":
        return Line("~", f"{esc(c.field)}: {change(_v(c.before), _v(c.after))}")
    if k == "destination_setting_changed":
        return Line("~", f"{esc(c.field)}: {change(_v(c.before), _v(c.after))}")
    if k == "config_changed":
        return Line("~", f"{esc(c.field)} changed (merge policies, datasets, labels or policies: see the file's diff)")
    if k == "audience_setting_changed":
        return Line("~", f"{esc(c.field)} of audience {audience}: {change(_v(c.before), _v(c.after))}")
    # cosmetic: say what it is about, since these are listed apart
    about = ""
    if c.destination is not None:
        about = f"destination {esc(plan.aliases.get(c.destination, ''))} {code(c.destination)} "
    elif c.audience is not None:
        about = f"audience {code(c.audience)} "
    elif c.datastream is not None:
        about = f"datastream {code(c.datastream)} "
    if k == "file_renamed":
        return Line("~", f"{about}file renamed: {change(c.before, c.after)}")
    if k == "formatting_only":
        return Line("~", f"{about}{esc(c.field)}: comments or formatting only")
    if k == "ordering_only":
        return Line("~", f"{about}{esc(c.field)}: order only")
    label = "name" if k == "name_changed" else "description"
    return Line("~", f"{about}{label}: {change(_v(c.before), _v(c.after))}")


def sections(plan: Plan, changes: Sequence[Change], esc: Esc = _plain, code: Esc = _plain) -> list[DatastreamSection]:
    """Changes grouped by datastream, then destination; audience changes kept apart, since
    those are the long lists."""
    by_ds: dict[str | None, DatastreamSection] = {}
    dests: dict[tuple[str | None, str], DestinationSection] = {}
    for c in changes:
        section = by_ds.get(c.datastream)
        if section is None:
            title = "catalogs and policies" if c.datastream is None else (
                f"datastream {_named(esc, code, c.datastream, plan.names.datastreams.get(c.datastream))}"
            )
            section = by_ds[c.datastream] = DatastreamSection(c.datastream, title)
        line = _line(plan, c, esc, code)
        if c.destination is None:
            section.lines.append(line)
            continue
        dest = dests.get((c.datastream, c.destination))
        if dest is None:
            name = plan.names.destinations.get(c.destination)
            title = f"destination {esc(plan.aliases.get(c.destination, ''))} {code(c.destination)}" + (
                f" {esc(name)}" if name else ""
            )
            dest = dests[(c.datastream, c.destination)] = DestinationSection(c.destination, title)
            section.destinations.append(dest)
        is_audience = c.kind in ("audience_added", "audience_removed", "window_changed", "namespace_changed")
        (dest.audience_lines if is_audience else dest.lines).append(line)
    return sorted(by_ds.values(), key=lambda s: (s.id is None, s.id or ""))


def summary_line(plan: Plan) -> str:
    s = plan.summary()
    if not plan.changed:
        return "No effective changes: no visitor gets a different answer."
    if s.destinations:
        line = f"{count_of(s.destinations, 'destination')} changed on {count_of(s.datastreams, 'datastream')}"
    elif s.datastreams:
        line = f"{count_of(s.datastreams, 'datastream')} changed"
    else:
        line = ""
    if s.added or s.removed:
        line += f": +{s.added} / -{s.removed} audiences"
    elsewhere = sum(c.datastream is None for c in plan.effective)
    if elsewhere:
        line += ("; " if line else "") + count_of(elsewhere, "change") + " to catalogs or policies"
    return line


def cosmetic_line(plan: Plan) -> str:
    if not plan.cosmetic_visible:
        return "Cosmetic changes cannot be seen: a side is a built artifact (it keeps no names, descriptions or files)."
    if not plan.cosmetic:
        return "No cosmetic changes."
    return f"{count_of(len(plan.cosmetic), 'cosmetic change')} (names, descriptions, formatting, order, file names):"


# --- text --------------------------------------------------------------------------------------


def render_text(plan: Plan, base: str, head: str) -> str:
    out = [neutralise(f"plan: {base} -> {head}"), summary_line(plan)]
    for section in sections(plan, plan.effective):
        out.append("")
        out.append(neutralise(section.title))
        out.extend(neutralise(f"  {line.sign} {line.text}") for line in section.lines)
        for dest in section.destinations:
            out.append(neutralise(f"  {dest.title}"))
            out.extend(neutralise(f"    {line.sign} {line.text}") for line in dest.lines)
            shown = dest.audience_lines[:SHOWN_PER_LIST]
            out.extend(neutralise(f"    {line.sign} {line.text}") for line in shown)
            if len(dest.audience_lines) > len(shown):
                out.append(f"    ... and {len(dest.audience_lines) - len(shown)} more audience changes (--format json lists all)")
    out.append("")
    out.append(cosmetic_line(plan))
    cosmetic = [line for s in sections(plan, plan.cosmetic) for line in s.lines + [x for d in s.destinations for x in d.lines]]
    out.extend(neutralise(f"  {line.sign} {line.text}") for line in cosmetic[:SHOWN_PER_LIST])
    if len(cosmetic) > SHOWN_PER_LIST:
        out.append(f"  ... and {len(cosmetic) - SHOWN_PER_LIST} more (--format json lists all)")
    return "\n".join(out) + "\n"


# --- json --------------------------------------------------------------------------------------


def render_json(plan: Plan, base: str, head: str) -> str:
    document = {**plan.as_dict(), "base": base, "head": head}
    return log_safe_json(document)


# --- markdown ----------------------------------------------------------------------------------

# Characters markdown (GitHub's flavour) or HTML would act on inside a line, as HTML character
# references: no name can open a tag, a link, an image, code, emphasis, math, a table cell, an
# emoji, an autolink (``https:``, ``www.``), a mention (``@team``) or an issue link (``#1``).
_MD_SPECIAL = re.compile(r"[\\`*_{}\[\]<>#!|~&@:.$]")
_CODE_SAFE = re.compile(r"[0-9A-Za-z-]+")


def md(value: object) -> str:
    text = neutralise(str(value))
    return _MD_SPECIAL.sub(lambda m: f"&#{ord(m.group())};", text)


def md_code(value: object) -> str:
    """An ID as a code span (inside one, nothing is interpreted, but entities are not decoded
    either); anything that is not letters, digits and dashes is written escaped instead."""
    text = str(value)
    return f"`{text}`" if _CODE_SAFE.fullmatch(text) else md(text)


def mermaid_label(value: object) -> str:
    """A mermaid node label: letters, digits and spaces as they are, everything else as a
    ``#NN;`` entity (mermaid's own escape), so a label cannot close its node or add an edge."""
    return "".join(c if c.isascii() and (c.isalnum() or c == " ") else f"#{ord(c)};" for c in neutralise(str(value)))


class Raw(str):
    """Markdown that is already escaped, inserted as it is."""


def _environment() -> Any:
    import jinja2

    def finalize(value: object) -> object:
        return value if isinstance(value, (Raw, int)) else md(value)

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("cpcompile", "templates"), autoescape=False, finalize=finalize,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined,
    )
    env.filters["label"] = lambda v: Raw(mermaid_label(v))
    env.filters["sign"] = lambda v: Raw({"+": "`+`", "-": "`-`"}.get(v, "`~`"))
    return env


def _md_sections(plan: Plan, changes: Sequence[Change]) -> list[DatastreamSection]:
    out = sections(plan, changes, md, md_code)
    for section in out:  # escaped by sections() already
        section.title = Raw(section.title)
        for line in section.lines:
            line.text = Raw(line.text)
        for dest in section.destinations:
            dest.title = Raw(dest.title)
            for line in dest.lines + dest.audience_lines:
                line.text = Raw(line.text)
    return out


def _edges(plan: Plan) -> list[tuple[bool, list[str]]]:
    """Datastream -> alias -> audience edges that an effective change adds or removes."""
    edges = []
    for c in plan.effective:
        if c.kind in ("audience_added", "audience_removed", "destination_added", "destination_removed"):
            path = [plan.names.datastreams.get(c.datastream or "") or str(c.datastream),
                    plan.aliases.get(c.destination or "") or str(c.destination)]
            if c.audience is not None:
                path.append(plan.names.audiences.get(c.audience) or c.audience)
            edges.append((c.kind.endswith("added"), path))
    return edges


def comment_length(text: str) -> int:
    """Length as GitHub counts it (UTF-16 code units, as JavaScript strings do)."""
    return len(text.encode("utf-16-le")) // 2


def render_markdown(plan: Plan, base: str, head: str, *, budget: int = COMMENT_BUDGET) -> str:
    env = _environment()
    edges = _edges(plan)
    cosmetic = [line for s in _md_sections(plan, plan.cosmetic) for line in s.lines + [x for d in s.destinations for x in d.lines]]
    nodes: dict[str, str] = {}  # path to the node -> node id (an alias is one node per datastream)
    drawn: dict[tuple[str, str], str] = {}  # edge -> arrow: only an edge's last hop changed
    for added, path in edges[:MAX_EDGES]:
        ids = [nodes.setdefault("\0".join(path[: depth + 1]), f"n{len(nodes)}") for depth in range(len(path))]
        for a, b in zip(ids, ids[1:-1]):
            drawn.setdefault((a, b), "---")
        drawn[(ids[-2], ids[-1])] = "-->|+|" if added else "-.->|-|"
    labels = {node: key.rsplit("\0", 1)[-1] for key, node in nodes.items()}
    context = {
        "base": base, "head": head, "summary": Raw(summary_line(plan)), "changed": plan.changed,
        "cosmetic_line": Raw(cosmetic_line(plan)), "cosmetic": cosmetic[:SHOWN_PER_LIST],
        "more_cosmetic": max(0, len(cosmetic) - SHOWN_PER_LIST),
        "nodes": [(Raw(i), label) for i, label in labels.items()],
        "edges": [(Raw(a), Raw(arrow), Raw(b)) for (a, b), arrow in drawn.items()],
        "more_edges": max(0, len(edges) - MAX_EDGES), "shown_edges": min(len(edges), MAX_EDGES),
        "shown_per_list": SHOWN_PER_LIST, "open_up_to": OPEN_UP_TO,
    }
    head_part: str = env.get_template("plan/head.md.j2").render(context)
    tail_part: str = env.get_template("plan/tail.md.j2").render(context)
    section_template = env.get_template("plan/datastream.md.j2")
    all_sections = _md_sections(plan, plan.effective)
    rendered: list[str] = [section_template.render(context, section=s) for s in all_sections]
    whole = head_part + "".join(rendered) + tail_part
    if comment_length(whole) <= budget:
        return whole
    # Too long for one comment: whole datastream sections while they fit, then as many of the
    # next one's destinations as fit, then a note that says how to see the rest.
    total = sum(max(1, len(s.destinations)) for s in all_sections)
    note_template = env.get_template("plan/truncated.md.j2")
    room = budget - comment_length(head_part) - comment_length(note_template.render(context, shown=total, total=total))
    kept: list[str] = []
    shown = 0
    for section, part in zip(all_sections, rendered):
        if comment_length(part) <= room:
            kept.append(part)
            room -= comment_length(part)
            shown += max(1, len(section.destinations))
            continue
        low, high, best = 0, len(section.destinations) - 1, ""
        while low <= high:  # the most destinations of this section that fit
            middle = (low + high) // 2
            cut = DatastreamSection(section.id, section.title, section.lines, section.destinations[:middle])
            text = section_template.render(context, section=cut)
            if comment_length(text) <= room:
                low, best = middle + 1, text
            else:
                high = middle - 1
        if best and high > 0:
            kept.append(best)
            shown += high
        break
    note: str = note_template.render(context, shown=shown, total=total)
    return head_part + "".join(kept) + note


RENDERERS: dict[str, Callable[[Plan, str, str], str]] = {"text": render_text, "markdown": render_markdown, "json": render_json}


def render_plan(plan: Plan, fmt: str, base: str, head: str) -> str:
    return RENDERERS[fmt](plan, base, head)
