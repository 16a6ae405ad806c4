"""The settings form, generated from RunConfig's metadata (bedash.settings.config): one widget per
field,
and the rule that the config a page runs is exactly the one on screen.

Numbers are typed into text boxes and parsed here, not into Streamlit's number inputs: a number
input that holds an out-of-range or half-typed value silently keeps its last valid one, and
Start would run settings the user did not see. Here every value is checked against the field's
own metadata (`check_value`, the same check `RunConfig.validate` makes), and a value that does
not pass blocks Start with the field named.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from bedash.names import Spec
from bedash.settings.config import ConfigError, Limits, check_value, config_fields

KEEP = "session"  # widget values survive a visit to another page
MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>:\"'$&=@/^%?;,])")


def plain(text: object) -> str:
    """Text from a user or a file, safe inside st.markdown/st.error/st.caption: every ASCII
    punctuation mark escaped (CommonMark allows it), so no link, image, autolink or emphasis
    is made of it, and line breaks kept as spaces."""
    return MARKDOWN_PUNCTUATION.sub(r"\\\1", " ".join(str(text).split()))


@dataclass
class FormState:
    """What a form holds: the parsed values, and an error per field that does not pass."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def take(self, s: Spec, raw: Any, limits: Limits) -> Any:
        """Parse and check one field's widget value; remember the value or its error."""
        try:
            value = parse(s, raw, limits)
            check_value(s, value, limits)
        except ConfigError as e:
            self.errors[s.name] = e.message
            return None
        self.values[s.name] = value
        return value


def number_text(value: Any) -> str:
    """How a number is shown in its text box ('' for None)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def parse(s: Spec, raw: Any, limits: Limits) -> Any:
    """A widget's value as the field's type; ConfigError naming the field otherwise."""
    if s.kind == "kinds":  # a multi-select gives a list; RunConfig holds a tuple
        return tuple(raw or ())
    if s.kind not in ("int", "float"):
        return raw
    text = str(raw if raw is not None else "").strip().replace("_", "").replace(",", "")
    lo, hi = s.bounds(limits)
    if not text:
        if s.optional:
            return None
        raise ConfigError(s.name, "is empty; type a number")
    try:
        number = float(text)
    except ValueError:
        raise ConfigError(s.name, f"{text[:20]!r} is not a number") from None
    if s.kind == "float":
        return number
    if not math.isfinite(number) or number != int(number):
        raise ConfigError(s.name, f"must be a whole number from {lo} to {hi} (got {text[:20]!r})")
    return int(number)


def _help(s: Spec, limits: Limits) -> str:
    lo, hi = s.bounds(limits)
    if s.kind == "int":
        return f"{s.help} From {lo:,} to {hi:,}." + (" Empty: all." if s.optional else "")
    if s.kind == "float":
        rel = "above" if s.open_lo else "at least"
        return f"{s.help} A number {rel} {lo:g}."
    return s.help


def widget(
    s: Spec, limits: Limits, default: Any, *, where: Any = st, disabled: bool = False
) -> Any:
    """The widget of one field (numbers, choices, switches), drawn in `where`; returns its raw
    value. Keys are the field names, so a page can set them (a reloaded ?job= shows its config)."""
    if s.kind in ("int", "float"):
        if s.name not in st.session_state:
            st.session_state[s.name] = number_text(default)
        lo, hi = s.bounds(limits)
        return where.text_input(
            s.label, key=s.name, disabled=disabled, help=_help(s, limits),
            placeholder="all" if s.optional else f"{lo:g} – {hi:g}" if hi else f"> {lo:g}",
        )  # fmt: skip
    if s.kind == "choice":
        return where.radio(
            s.label, s.choices, index=s.choices.index(default), key=s.name, horizontal=True,
            format_func=lambda c: s.choice_labels.get(c, c), disabled=disabled, help=s.help,
        )  # fmt: skip
    if s.kind == "bool":
        return where.checkbox(s.label, value=bool(default), key=s.name, disabled=disabled,
                              help=s.help)  # fmt: skip
    if s.kind == "text":  # free text checked by RunConfig.validate (the uncertainty lists)
        if s.name not in st.session_state:
            st.session_state[s.name] = str(default)
        return where.text_input(s.label, key=s.name, disabled=disabled, help=s.help,
                                placeholder=s.allowed or "none")  # fmt: skip
    raise ValueError(f"{s.name}: no generic widget for kind {s.kind!r}")


def fields_of(group: str, skip: set[str]) -> list[Spec]:
    """The fields of one form section, in declaration order."""
    return [s for s in config_fields() if s.group == group and s.name not in skip]


def fields_of_all(skip: set[str]) -> list[Spec]:
    """Every field a form draws from its metadata (all but `skip` and the free-form notes)."""
    return [s for s in config_fields() if s.name not in skip]


def show_errors(errors: dict[str, str], labels: dict[str, str]) -> None:
    """One line per field that blocks Start, the field named as the page names it."""
    for name, message in errors.items():
        st.error(f"**{labels.get(name, name)}**: {plain(message)}", icon=":material/error:")
