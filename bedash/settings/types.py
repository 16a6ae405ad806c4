"""The types of setting, each defined once: parse, format, check (also a stored config.json
value), describe, CLI argument, form widget. `Spec` is one setting as every front end sees it.
A bad value raises ValueError with the message alone; bedash.settings.config adds the field
(ConfigError), so each front end words it its own way. Imports nothing of bedash: a leaf.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any

ABSURD = 1000  # config.json: an integer this many times above its cap is not a real setting


@dataclass(frozen=True)
class Spec:
    """One RunConfig field: the CLI builds its flag from it, the form its widget, `validate`
    and the run store their checks, the summaries their text."""

    name: str
    type: SettingType  # how it is parsed, checked, shown (one of TYPES)
    default: Any
    label: str  # how the page names it ("Members (E)")
    help: str  # one or two sentences, without bounds or choices (each front end adds those)
    group: str  # a key of bedash.settings.config.GROUPS: the form's section, the CLI's group
    flag: str | None = None  # on the command line (None: not there, e.g. the free-form extra)
    choices: tuple[str, ...] = ()  # "choice" and "list"
    choice_labels: dict[str, str] = field(default_factory=dict)  # how the page words a choice
    lo: float | None = None  # smallest allowed value ("int" and "float")
    hi: float | None = None  # largest allowed value under the default limits
    limit: str | None = None  # the Limits attribute that tightens hi (a profile's cap)
    open_lo: bool = False  # "float": strictly greater than lo
    optional: bool = False  # None is allowed and means "all"
    allowed: str = ""  # "text": what is accepted, in words (empty: any text)
    sweepable: bool = False  # a sweep may give a list of values for it
    negated: bool = False  # the flag turns the setting off (--no-cuda-graphs)
    when: tuple[str, Any] | None = None  # only used when another field has this value
    form_range: tuple[float, float] | None = None  # what a form offers where lo/hi are open
    step: float | None = None  # a form's step for floats
    fmt: str | None = None  # a form's number format ("%.4g")
    example: Any = None  # "text": a valid value other than the default (front-end tests)
    start: Any = None  # what the Experiment form starts with (None: the default)
    recipe: dict[str, Any] = field(default_factory=dict)  # arch -> its recipe's value, if any

    def bounds(self, limits: Any = None) -> tuple[float | None, float | None]:
        """(lo, hi) under `limits`: its cap for this field, if any, replaces hi."""
        cap = getattr(limits, self.limit, None) if limits is not None and self.limit else None
        return self.lo, (self.hi if cap is None else cap)

    def widget_range(self, limits: Any = None) -> tuple[float | None, float | None]:
        """What a form offers: `form_range` where validation is open-ended, else the bounds."""
        return self.form_range if self.form_range is not None else self.bounds(limits)

    def capped(self, limits: Any) -> bool:
        """Whether `limits` caps this field (a profile's cap, named in messages)."""
        return self.limit is not None and getattr(limits, self.limit, None) is not None


def limit_suffix(limits: Any) -> str:
    """The " (demo limit)" after a bound a profile set; nothing under the defaults."""
    name = getattr(limits, "name", "default")
    return f" ({name} limit)" if name != "default" else ""


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def choice_problem(value: Any, allowed: tuple[str, ...]) -> str:
    return "" if value in allowed else f"unknown value {value!r}; allowed: {', '.join(allowed)}"


class SettingType:
    """The behaviour every setting of one type shares. The methods' defaults fit text."""

    name = "text"
    widget: str | None = "text"  # the form's widget: a key of bedash.dashboard.form.WIDGETS
    whole_list = False  # its one value is itself a comma list: a sweep never splits it

    def parse(self, raw: Any, s: Spec, limits: Any = None) -> Any:
        """Text (a flag, a text box, a sweep's item) or a widget's value -> a value; ValueError."""
        return raw.strip() if isinstance(raw, str) else raw

    def format(self, value: Any) -> str:
        """The text `parse` reads back as `value` ('' for None)."""
        return "" if value is None else str(value)

    def problem(self, value: Any, s: Spec, limits: Any = None) -> str:
        """What is wrong with `value` for `s` under `limits`, or ""."""
        if value is None and s.optional:
            return ""
        if not isinstance(value, str) or (s.allowed and not value.strip()):
            return f"must be {s.allowed or 'text'}"
        return ""

    def stored_ok(self, value: Any, s: Spec) -> bool:
        """Can a config.json value be shown as `s`? Types only, not limits: a run made under
        looser limits, or with a newer version's choice, is still shown."""
        return isinstance(value, str)

    def describe(self, s: Spec, limits: Any = None) -> str:
        """What is allowed, in words, for a flag's help ("1 to 64")."""
        return s.allowed

    def example(self, s: Spec) -> Any:
        """A valid value other than the default (front-end tests set each field to it)."""
        return s.example if s.example is not None else s.default + "-other"

    def sweep_values(self, raw: Any, s: Spec, limits: Any = None) -> list[Any]:
        """A sweep's text for `s` -> its values: a comma list where `s` is sweepable."""
        if self.whole_list:
            return [self.parse(raw, s, limits)]
        parts = [p for p in str(raw).split(",") if p.strip()]
        if not parts:
            raise ValueError(f"empty value {raw!r}: give at least one value")
        if len(parts) > 1 and not s.sweepable:
            raise ValueError(f"takes one value in a sweep (got {raw!r})")
        return [self.parse(p, s, limits) for p in parts]

    def add_argument(self, group: Any, s: Spec, help: str, sweep: bool = False) -> None:
        """The flag of `s`: a sweep's keeps its text (a comma list for `sweep_values`), `train`'s
        parses it here (argparse: "invalid int value")."""
        if sweep:
            metavar = "LIST" if s.sweepable else None
            group.add_argument(s.flag, dest=s.name, default=None, metavar=metavar, help=help)
            return

        def convert(text: str) -> Any:
            return self.parse(text, s)

        convert.__name__ = self.name  # argparse names it in "invalid int value: 'x'"
        default = None if s.recipe else s.default  # None: not given, the arch's recipe decides
        group.add_argument(
            s.flag, dest=s.name, type=convert, default=default, metavar=self.metavar(s), help=help
        )

    def metavar(self, s: Spec) -> str | None:
        return None

    def flag_help(self, s: Spec, limits: Any = None, sweep: bool = False) -> str:
        """The flag's help: the setting's, what it allows, its default ("1 to 64; default: 5")."""
        allowed = self.describe(s, limits)
        default = "all" if s.default is None else self.format(s.default)
        default += "".join(f", {arch}: {self.format(v)}" for arch, v in s.recipe.items())
        lists = "A comma list sweeps it. " if sweep and s.sweepable else ""
        text = f"{s.help} {lists}{allowed + '; ' if allowed else ''}default: {default}"
        return text.replace("%", "%%")  # argparse formats help with %


class TextList(SettingType):
    """A comma list of names kept as text (the uncertainty lists; parse_shift & co. read it)."""

    name = "names"
    whole_list = True


class Int(SettingType):
    name = "int"
    widget = "int"

    def parse(self, raw: Any, s: Spec, limits: Any = None) -> Any:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        text = str(raw if raw is not None else "").strip().replace("_", "").replace(",", "")
        if s.optional and text.lower() in ("", "all", "none"):
            return None
        if not text:
            raise ValueError("is empty; type a number")
        with contextlib.suppress(ValueError):
            return int(text)
        try:
            number = float(text)  # 1e3 is a whole number too
        except ValueError:
            raise ValueError(f"{text[:20]!r} is not a number, so not a whole number") from None
        if not math.isfinite(number) or number != int(number):
            lo, hi = s.bounds(limits)
            raise ValueError(f"must be a whole number from {lo} to {hi} (got {text[:20]!r})")
        return int(number)

    def problem(self, value: Any, s: Spec, limits: Any = None) -> str:
        lo, hi = s.bounds(limits)
        lim = limit_suffix(limits) if s.capped(limits) else ""
        if value is None and s.optional:  # a profile caps it: "all" is too many
            return f"must be at most {hi}{lim} (got all)" if s.capped(limits) else ""
        if not isinstance(value, int) or isinstance(value, bool):
            return f"must be a whole number from {lo} to {hi} (got {value!r})"
        if s.optional and value > hi:
            return f"must be at most {hi}{lim} (got {value})"
        if not lo <= value <= hi:
            return f"must be from {lo} to {hi}{lim} (got {value})"
        return ""

    def stored_ok(self, value: Any, s: Spec) -> bool:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return ok and s.lo <= value <= s.hi * ABSURD

    def describe(self, s: Spec, limits: Any = None) -> str:
        lo, hi = s.bounds(limits)
        return f"{lo} to {hi}" + (" or all" if s.optional else "")

    def example(self, s: Spec) -> Any:  # small: valid under any profile's caps
        return int(s.lo) + 1 if s.default != s.lo + 1 else int(s.lo) + 2


class Float(SettingType):
    name = "float"
    widget = "float"

    def parse(self, raw: Any, s: Spec, limits: Any = None) -> Any:
        if is_number(raw):
            return float(raw)
        text = str(raw if raw is not None else "").strip().replace("_", "").replace(",", "")
        if not text:
            if s.optional:
                return None
            raise ValueError("is empty; type a number")
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{text[:20]!r} is not a number") from None

    def format(self, value: Any) -> str:
        return "" if value is None else repr(float(value))  # the shortest text read back alike

    def problem(self, value: Any, s: Spec, limits: Any = None) -> str:
        rel = ">" if s.open_lo else ">="
        finite = is_number(value) and math.isfinite(value)
        if not finite or (s.open_lo and value <= s.lo):
            return f"must be a finite number {rel} {s.lo:g} (got {value!r})"
        if value < s.lo:
            return f"must be {rel} {s.lo:g} (got {value})"
        return ""

    def stored_ok(self, value: Any, s: Spec) -> bool:
        return is_number(value) and math.isfinite(value)

    def describe(self, s: Spec, limits: Any = None) -> str:
        return f"{'>' if s.open_lo else '>='} {s.lo:g}" if s.lo is not None else ""

    def example(self, s: Spec) -> Any:
        return s.default * 2 if s.default else 0.01


class Choice(SettingType):
    """One of `choices`; checked by `problem`, not argparse: the same message everywhere."""

    name = "choice"
    widget = "radio"

    def problem(self, value: Any, s: Spec, limits: Any = None) -> str:
        return choice_problem(value, s.choices)

    def describe(self, s: Spec, limits: Any = None) -> str:
        return " | ".join(s.choices)

    def metavar(self, s: Spec) -> str | None:
        return "{" + ",".join(s.choices) + "}"

    def example(self, s: Spec) -> Any:
        return next(c for c in s.choices if c != s.default)


class ChoiceList(SettingType):
    """Several of `choices`, in order ('a,b' on the command line); a tuple in RunConfig."""

    name = "list"
    widget = "pills"
    whole_list = True

    def parse(self, raw: Any, s: Spec, limits: Any = None) -> Any:
        items = raw.split(",") if isinstance(raw, str) else list(raw or ())
        return tuple(str(v).strip() for v in items if str(v).strip())

    def format(self, value: Any) -> str:
        return ",".join(value)

    def problem(self, value: Any, s: Spec, limits: Any = None) -> str:
        if not value:
            return f"choose at least one of {', '.join(s.choices)}"
        return next((p for p in (choice_problem(v, s.choices) for v in value) if p), "")

    def stored_ok(self, value: Any, s: Spec) -> bool:
        return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)

    def describe(self, s: Spec, limits: Any = None) -> str:
        return f"comma list of {', '.join(s.choices)}"

    def example(self, s: Spec) -> Any:
        return (s.choices[-1],)


FLAG_WORDS = {
    "true": True,   "on": True,   "yes": True, "1": True,
    "false": False, "off": False, "no": False, "0": False,
}  # fmt: skip


class Flag(SettingType):
    """On or off: a switch on the command line (`negated`: the flag turns it off)."""

    name = "bool"
    widget = "checkbox"

    def parse(self, raw: Any, s: Spec, limits: Any = None) -> Any:
        if isinstance(raw, bool):
            return raw
        try:
            return FLAG_WORDS[str(raw).strip().lower()]
        except KeyError:
            raise ValueError(f"must be true or false (got {str(raw)[:20]!r})") from None

    def format(self, value: Any) -> str:
        return "true" if value else "false"

    def problem(self, value: Any, s: Spec, limits: Any = None) -> str:
        return "" if isinstance(value, bool) else f"must be true or false (got {value!r})"

    def stored_ok(self, value: Any, s: Spec) -> bool:
        return isinstance(value, bool)

    def example(self, s: Spec) -> Any:
        return not s.default

    def sweep_values(self, raw: Any, s: Spec, limits: Any = None) -> list[Any]:
        return [self.parse(raw, s)]  # the switch gave a bool already

    def add_argument(self, group: Any, s: Spec, help: str, sweep: bool = False) -> None:
        action = "store_false" if s.negated else "store_true"
        default = None if sweep else s.default  # a sweep: None is "not given"
        group.add_argument(s.flag, dest=s.name, action=action, default=default, help=help)

    def flag_help(self, s: Spec, limits: Any = None, sweep: bool = False) -> str:
        return f"{s.help} (default: {'on' if s.default else 'off'})".replace("%", "%%")


class IntList(SettingType):
    """Whole numbers in a comma list ('1,2,4'), a tuple (the benchmark's scaling points)."""

    name = "ints"
    widget = None
    whole_list = True

    def parse(self, raw: Any, s: Spec, limits: Any = None) -> Any:
        if isinstance(raw, tuple):
            return raw
        try:
            values = tuple(int(v) for v in str(raw).split(",") if v.strip())
        except ValueError:
            raise ValueError(
                f"must be whole numbers separated by commas, e.g. 1,2,4 (got {raw!r})"
            ) from None
        if not values:
            raise ValueError(f"give at least one value, e.g. 1,2,4 (got {raw!r})")
        return values

    def format(self, value: Any) -> str:
        return ",".join(map(str, value))

    def problem(self, value: Any, s: Spec, limits: Any = None) -> str:
        ok = isinstance(value, tuple) and value and all(is_number(v) for v in value)
        return "" if ok else f"must be whole numbers, e.g. 1,2,4 (got {value!r})"

    def stored_ok(self, value: Any, s: Spec) -> bool:
        return isinstance(value, (list, tuple)) and all(isinstance(v, int) for v in value)

    def add_argument(self, group: Any, s: Spec, help: str, sweep: bool = False) -> None:
        # kept as text: `parse` words what is wrong with the list, argparse would not
        default = None if sweep else self.format(s.default)
        group.add_argument(s.flag, dest=s.name, default=default, help=help)


class Notes(SettingType):
    """Free-form notes saved with a run: no flag, no widget of its own."""

    name = "dict"
    widget = None

    def parse(self, raw: Any, s: Spec, limits: Any = None) -> Any:
        if not isinstance(raw, dict):
            raise ValueError(f"must be a mapping of notes (got {raw!r})")
        return raw

    def problem(self, value: Any, s: Spec, limits: Any = None) -> str:
        return "" if isinstance(value, dict) else f"must be a mapping of notes (got {value!r})"

    def stored_ok(self, value: Any, s: Spec) -> bool:
        return isinstance(value, dict)

    def example(self, s: Spec) -> Any:
        return {"notes": "an example"}


INT, FLOAT, CHOICE, LIST, TEXT = Int(), Float(), Choice(), ChoiceList(), SettingType()
NAMES, BOOL, DICT, INTS = TextList(), Flag(), Notes(), IntList()
TYPES = {t.name: t for t in (INT, FLOAT, CHOICE, LIST, TEXT, NAMES, BOOL, DICT, INTS)}
