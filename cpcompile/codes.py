"""The catalog of diagnostic codes: one row per code, the single source of truth.

docs/rules.md has one row per entry here (tests/test_cases.py checks code and severity both
ways). Codes never change meaning and a retired code is not reused. Only warnings may be
adjusted by project settings (cpcompile.yaml); an error always stays an error.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .diagnostics import Severity


class Stage(str, enum.Enum):
    FILES = "files"
    YAML = "yaml"
    SCHEMA = "schema"
    RULES = "rules"
    SETTINGS = "settings"
    SPECS = "specs"


@dataclass(frozen=True)
class Code:
    code: str
    severity: Severity
    stage: Stage
    title: str
    reason: str
    help: str

    @property
    def adjustable(self) -> bool:
        """Whether project settings may turn it off or change its severity (warnings only)."""
        return self.severity is Severity.WARNING


E, W = Severity.ERROR, Severity.WARNING
F, Y, S, R, P, T = Stage.FILES, Stage.YAML, Stage.SCHEMA, Stage.RULES, Stage.SETTINGS, Stage.SPECS

_ROWS = (
    Code("CP101", E, Y, "YAML syntax error", "the file cannot be read", "quote values containing ': ' or starting with @ ` %"),
    Code("CP102", E, Y, "tab in indentation", "YAML forbids tabs in indentation", "indent with spaces"),
    Code("CP103", E, Y, "empty file", "an empty config file is almost always a mistake", "write the file's keys, or delete the file"),
    Code("CP104", E, Y, "top level is not a mapping", "each file describes one object", "make the top level key: value lines"),
    Code("CP105", E, Y, "not UTF-8 or control character", "YAML requires printable Unicode", "save as UTF-8; remove the character"),
    Code("CP106", E, Y, "duplicate key", "loaders silently keep one value", "remove or rename one"),
    Code("CP107", E, Y, "alias or merge key", "every value must be visible where it applies", "write the values out in full"),
    Code("CP108", E, Y, "tag", "config is plain data", "remove the tag"),
    Code("CP109", E, Y, "nested too deep", "deep input crashes or stalls parsers", "flatten the structure"),
    Code("CP110", E, F, "file too large", "a config file that big is generated, not reviewed", "split it into several files"),
    Code("CP111", E, F, "symbolic link out of the config", "the config must be what the pull request shows", "copy the file into the config folder"),
    Code("CP112", W, F, "file not ending in .yaml", "a misnamed config file would silently do nothing", "rename it, or move it out of the config folders"),
    Code("CP113", E, Y, "several YAML documents", "one file, one object", "remove the --- separator or split the file"),
    Code("CP114", E, Y, "key is not a string", "every key is a field name", "quote the key"),
    Code("CP115", E, Y, "number with too many digits", "no config number has more than 64 digits", "quote it if it is text"),
    Code("CP116", W, F, "not a regular file", "FIFOs, sockets and devices are not read", "remove it from the config folders"),
    Code("CP120", E, S, "missing required key", "the object cannot be built without it", "add the key"),
    Code("CP121", E, S, "wrong type or value", "only Adobe's values are allowed", "use a value from the message"),
    Code("CP122", E, S, "unknown key", "unknown keys are almost always typos", "fix the spelling, or remove the key"),
    Code("CP123", E, S, "not a UUID", "Adobe ids are UUIDs", "copy the id from Adobe Experience Platform"),
    Code("CP124", E, S, "bad integration alias", "an alias with invisible characters never matches", "use a plain name"),
    Code("CP125", E, S, "bad XDM path", "only single-value attributes can be exported", "map a single-valued profile field"),
    Code("CP126", E, R, "activation window ends before it starts", "an empty window never sends the audience", "swap or correct the dates"),
    Code("CP127", E, R, "ttl_days on a non-upload audience", "only uploaded audiences have a TTL (R16)", "remove ttl_days"),
    Code("CP128", E, R, "dataset order does not fit attribute merge", "dataset precedence needs 1 to 50 datasets; timestamp order uses none (R11)", "list 1 to 50 datasets in dataset_order, or remove it"),
    Code("CP130", E, R, "duplicate id", "an id identifies one object", "remove the copy, or give it its own id"),
    Code("CP131", E, R, "alias twice on a datastream", "pages tell destinations apart by alias", "rename one alias"),
    Code("CP132", E, R, "unknown datastream", "a destination needs an existing datastream", "fix the name, or add the datastream file"),
    Code("CP133", E, R, "personalization destinations off", "the datastream cannot connect to the destination", "set personalization_destinations: true"),
    Code("CP134", W, R, "edge audience without edge segmentation", "a mapped edge audience is only looked up, not re-evaluated in the request (R5)", "set edge_segmentation: true"),
    Code("CP135", E, R, "audience twice in a destination", "one audience has one schedule per destination", "merge the two entries"),
    Code("CP136", E, R, "attribute target twice", "a duplicate target overwrites the other", "rename one target"),
    Code("CP137", E, R, "same datastream file name", "destinations name datastreams by file name", "rename one file"),
    Code("CP138", E, R, "ajo without edge segmentation", "AJO needs edge segmentation (R6)", "set edge_segmentation: true"),
    Code("CP140", E, R, "unknown audience", "the audience must exist in the sandbox", "add it to the catalog, or correct the id"),
    Code("CP141", E, R, "merge policy not active on edge", "edge destinations only evaluate active-on-edge audiences (R13)", "use the active-on-edge merge policy, or unmap it"),
    Code("CP142", E, R, "two active-on-edge merge policies", "one active-on-edge policy per sandbox (R10)", "set active_on_edge: false on all but one"),
    Code("CP143", E, R, "merge policy not in the catalog", "edge eligibility cannot be checked", "add the merge policy, or correct the id"),
    Code("CP144", E, R, "audience from another sandbox", "the sandbox scopes every object", "map an audience of the datastream's sandbox"),
    Code("CP145", W, R, "mapped audience without merge policy", "its edge eligibility cannot be checked (R13)", "add merge_policy to the catalog entry"),
    Code("CP146", E, R, "no merge policy active on edge", "Adobe evaluates no audience of the sandbox on edge (R13)", "mark the edge merge policy active_on_edge: true"),
    Code("CP147", W, R, "mapped audience in no catalog", "namespace 'ups' assumed, edge eligibility not checked (R13)", "add the sandbox's catalog to audiences/"),
    Code("CP148", W, R, "catalog export is old", "audiences change in Adobe while the repository sleeps", "re-import the catalog (cpcompile import catalog)"),
    Code("CP150", W, R, "more than 10 destinations per sandbox", "soft guardrail (R21)", "consolidate destinations"),
    Code("CP151", W, R, "more than 250 audiences per destination", "soft guardrail (R27)", "split the audiences over destinations"),
    Code("CP152", E, R, "more than 30 attributes per sandbox", "Adobe enforces it (R24)", "map fewer attributes"),
    Code("CP153", W, R, "more than 150 edge audiences per sandbox", "soft guardrail (R15)", "evaluate some by streaming"),
    Code("CP154", W, R, "more than 500 streaming audiences per sandbox", "soft guardrail, edge audiences included (R15)", "evaluate some in batch"),
    Code("CP155", W, R, "more than 4000 audiences per sandbox", "soft guardrail (R15)", "remove unused audiences"),
    Code("CP160", E, P, "unknown code in settings", "a setting for no code does nothing", "fix the code"),
    Code("CP161", E, P, "error cannot be adjusted", "errors always fail the run", "remove the setting; fix the problem"),
    Code("CP180", E, S, "unknown data usage label", "labels are Adobe's core labels or custom/<name>, case-sensitive (R29)", "use a label from the message"),
    Code("CP181", E, R, "custom label not declared", "a typo in a custom label would silently never match a policy", "declare it under labels in policies/"),
    Code("CP182", E, R, "unknown marketing action", "actions are Adobe's core ones or declared custom ones (R22)", "fix the name, or declare the custom action in policies/"),
    Code("CP183", E, S, "malformed policy expression", "deny is a label, or AND / OR of expressions (R29)", "write {label: C6} or {operator: AND, operands: [...]}"),
    Code("CP184", E, R, "declared twice", "a marketing action, label, policy, dataset or field has one declaration", "remove or rename one"),
    Code("CP185", E, R, "unknown dataset", "labels inherited from a dataset nobody lists would be lost", "list the dataset in the catalog, or fix the name"),
    Code("CP186", E, R, "unknown default policy", "a status for no default policy does nothing", "fix the name"),
    Code("CP187", E, R, "data usage policy violation", "Adobe blocks the activation until it is resolved (R31)", "unmap the audience or attribute, or fix its labels"),
    Code("CP188", W, R, "draft policy would be violated", "drafts are not enforced (R30), but enabling one would block the activation", "resolve it before enabling the policy"),
    Code("CP189", E, R, "edge destination on a sensitive datastream", "Adobe rejects edge destinations on datastreams with sensitive labels (R7)", "use another datastream"),
    Code("CP190", E, R, "C12 field mapped as an attribute", "C12 data is never exported or activated (R28)", "unmap the attribute"),
    Code("CP170", E, T, "spec not met", "the config no longer gives the outcome the spec expects", "fix the config, or the spec if the change is intended"),
    Code("CP171", E, T, "unknown datastream in a spec", "a spec for no datastream tests nothing", "fix the name, or the datastream's file name"),
    Code("CP172", E, T, "unknown alias in a spec", "no destination on the datastream could ever match it", "use an alias of a destination on that datastream"),
    Code("CP173", E, T, "unknown audience in a spec", "an audience no catalog or destination knows is a typo", "fix the ID or name"),
    Code("CP174", E, T, "spec file not read", "only regular files in specs/ are read", "replace it with a regular file"),
)

CODES: dict[str, Code] = {row.code: row for row in _ROWS}


def severity_of(code: str) -> Severity:
    return CODES[code].severity
