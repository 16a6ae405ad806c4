"""The settings form, generated from RunConfig's metadata: one widget per field, chosen by its
type's `widget` (WIDGETS, the one place a setting type meets streamlit).

Numbers are typed into text boxes, not Streamlit's number inputs: those silently keep their last
valid value, and Start would run settings the user did not see. Every value is checked as
`RunConfig.validate` checks it (`check_value`); one that does not pass blocks Start, named."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from bedash.names import ConfigError
from bedash.settings.config import RunConfig, check_value, config_fields, parse_value, spec
from bedash.settings.limits import Limits
from bedash.settings.types import Spec

KEEP = "session"  # widget values survive a visit to another page
MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>:\"'$&=@/^%?;,])")
# where the browser's Markdown would make a link of plain text (GFM autolinks: a scheme's //,
# www., an e-mail's @; found in the text after escapes are undone): a word joiner, unseen
AUTOLINK = re.compile(r"(?i)(?<=https:)(?=//)|(?<=http:)(?=//)|(?<=www)(?=\.)|(?<=@)")


def people(name: str, message: str) -> str:
    """A field's message as the pages say it: its choices by the labels the form shows (the CLI
    keeps the names its flags take)."""
    try:
        s = spec(name)
    except KeyError:
        return message
    if not s.choice_labels:
        return message
    names = "|".join(sorted(map(re.escape, s.choice_labels), key=len, reverse=True))
    return re.sub(rf"\b({names})\b", lambda m: s.choice_labels[m[1]], message)


def sentence(text: object) -> str:
    """A core message as a sentence on a page: a capital first letter (the CLI prints it after
    `--flag: `, lower-case)."""
    text = str(text)
    return text[:1].upper() + text[1:]


def plain(text: object) -> str:
    """Text from a user or a file, safe inside st.markdown: every ASCII punctuation mark escaped
    (no link, image or emphasis is made of it), no address a live link, line breaks as spaces."""
    text = AUTOLINK.sub("\u2060", " ".join(str(text).split()))
    return MARKDOWN_PUNCTUATION.sub(r"\\\1", text)


@dataclass
class FormState:
    """What a form holds: the parsed values, and an error per field that does not pass."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def take(self, s: Spec, raw: Any, limits: Limits) -> Any:
        """Parse and check one field's widget value; remember the value or its error."""
        try:
            value = parse_value(s, raw, limits)
            check_value(s, value, limits)
        except ConfigError as e:
            self.errors[s.name] = e.message
            return None
        self.values[s.name] = value
        return value


def start_config(arch: str | None = None) -> RunConfig:
    """The Experiment form's start for `arch` (None: the default one): its recipe's values
    (bedash.settings.recipes), else each field's `start` (a run of 20-40 s on two cores), else
    its default."""
    given = {"arch": arch} if arch else {}
    for s in config_fields():
        if s.start is not None and (arch or spec("arch").default) not in s.recipe:
            given[s.name] = s.start
    return RunConfig.of(**given)


def state_value(s: Spec, value: Any) -> Any:
    """What the widget of `s` holds for `value`: text in a text box, a list in pills, the value
    itself else."""
    if s.type.widget in TEXT_BOXES:
        return s.type.format(value)
    return list(value) if s.type.widget == "pills" else value


def widget(
    s: Spec,
    limits: Limits,
    default: Any,
    *,
    where: Any = st,
    disabled: bool = False,
    help: str | None = None,
) -> Any:
    """One field's widget in `where`, keyed by the field's name (a reloaded ?job= sets it); its
    raw value, for `FormState.take`. `help`: more than the field's own help. Its value is set one
    way only, in Session State (as a reloaded ?job= sets it), never also as a widget default."""
    draw = WIDGETS.get(s.type.widget or "")
    if draw is None:
        raise ValueError(f"{s.name}: no generic widget for a {s.type.name} setting")
    if s.name not in st.session_state:
        st.session_state[s.name] = state_value(s, default)
    return draw(s, limits, default, where, disabled, " ".join(filter(None, (s.help, help))))


def _number_box(s: Spec, limits: Limits, where: Any, disabled: bool, help: str) -> Any:
    lo, hi = s.bounds(limits)
    return where.text_input(
        s.label,
        key=s.name,
        disabled=disabled,
        help=help,
        placeholder="all" if s.optional else f"{lo:g} – {hi:g}" if hi else f"> {lo:g}",
    )


def _int_box(s: Spec, limits: Limits, default: Any, where: Any, off: bool, help: str) -> Any:
    lo, hi = s.bounds(limits)
    bounds = f"From {lo:,} to {hi:,}." + (" Empty: all." if s.optional else "")
    return _number_box(s, limits, where, off, f"{help} {bounds}")


def _float_box(s: Spec, limits: Limits, default: Any, where: Any, off: bool, help: str) -> Any:
    rel = "above" if s.open_lo else "at least"
    return _number_box(s, limits, where, off, f"{help} A number {rel} {s.lo:g}.")


def _text_box(s: Spec, limits: Limits, default: Any, where: Any, off: bool, help: str) -> Any:
    return where.text_input(
        s.label, key=s.name, disabled=off, help=help, placeholder=s.allowed or "none"
    )


def _radio(s: Spec, limits: Limits, default: Any, where: Any, off: bool, help: str) -> Any:
    return where.radio(
        s.label,
        s.choices,
        key=s.name,
        horizontal=True,
        format_func=lambda c: s.choice_labels.get(c, c),
        disabled=off,
        help=help,
    )


def _checkbox(s: Spec, limits: Limits, default: Any, where: Any, off: bool, help: str) -> Any:
    return where.checkbox(s.label, key=s.name, disabled=off, help=help)


def _pills(s: Spec, limits: Limits, default: Any, where: Any, off: bool, help: str) -> Any:
    picked = where.pills(
        s.label,
        s.choices,
        selection_mode="multi",
        key=s.name,
        format_func=lambda c: s.choice_labels.get(c, c),
        persist_state=KEEP,
        wrap=True,
        disabled=off,
        help=help,
    )
    return picked or []


# a setting type's widget (bedash.settings.types: SettingType.widget) -> how it is drawn
WIDGETS: dict[str, Callable[..., Any]] = {
    "int": _int_box,
    "float": _float_box,
    "text": _text_box,
    "radio": _radio,
    "checkbox": _checkbox,
    "pills": _pills,
}
TEXT_BOXES = ("int", "float", "text")  # widgets that hold the value as text (type.format)


def fields_of(group: str, skip: set[str]) -> list[Spec]:
    """The fields of one form section, in declaration order."""
    return [s for s in config_fields() if s.group == group and s.name not in skip]


def fields_of_all(skip: set[str]) -> list[Spec]:
    """Every field a form draws from its metadata (all but `skip` and the free-form notes)."""
    return [s for s in config_fields() if s.name not in skip]


def show_errors(errors: dict[str, str], labels: dict[str, str]) -> None:
    """One line per field that blocks Start, the field named as the page names it."""
    for name, message in errors.items():
        text = plain(people(name, message))
        st.error(f"**{labels.get(name, name)}**: {text}", icon=":material/error:")
