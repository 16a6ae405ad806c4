"""Profiles: the default (a user's own machine) and `demo` (a public hosted demo).
BEDASH_PROFILE=demo (environment variable, or a Streamlit secret passed in by the app) caps
what one job may ask for, wherever a RunConfig is validated. The BEDASH_* settings are declared
here once (ENV_SETTINGS) and checked like flags: a typo is refused, never read as the default."""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bedash.names import FieldError
from bedash.settings.limits import DEFAULT_LIMITS, Limits

PROFILES = ("default", "demo")


class EnvError(FieldError):
    """A BEDASH_* environment variable (or Streamlit secret) holds a value bedash cannot use;
    `field` is the variable's name."""


@dataclass(frozen=True)
class EnvSetting:
    """One BEDASH_* setting: any text (a folder), one of `allowed`, or a whole number 1..most."""

    name: str
    default: str
    allowed: tuple[str, ...] = ()
    most: int = 0

    def value(self, env: Mapping[str, str]) -> str:
        """Its value in env (unset or blank: the default), checked; EnvError naming it."""
        given = str(env.get(self.name) or "")
        raw = given.strip()  # a folder keeps its spaces; a word or a number loses them
        if not raw:
            return self.default
        if self.allowed and raw.lower() not in self.allowed:
            noun = self.name.removeprefix("BEDASH_").lower().replace("_", " ")
            allowed = ", ".join(self.allowed)
            raise EnvError(self.name, f"unknown {noun} {raw!r}; allowed: {allowed}")
        whole = raw.isascii() and raw.isdigit() and len(raw) < 10  # int() of 5000 digits raises
        if self.most and not (whole and 1 <= int(raw) <= self.most):
            raise EnvError(self.name, f"must be a whole number from 1 to {self.most} (got {raw!r})")
        return raw.lower() if self.allowed else raw if self.most else given


ENV_SETTINGS = {
    s.name: s
    for s in (
        EnvSetting("BEDASH_PROFILE", "default", allowed=PROFILES),
        EnvSetting("BEDASH_RUNS_DIR", "runs"),
        EnvSetting("BEDASH_DATA_DIR", "data"),
        EnvSetting("BEDASH_MAX_JOBS", "1", most=64),  # jobs training at once on one server
        EnvSetting("BEDASH_SWEEP_ENGINE", "ray", allowed=("ray", "local")),
    )
}


def env_setting(name: str, env: Mapping[str, str] | None = None) -> str:
    """The checked value of BEDASH_* setting `name` in env (default: os.environ)."""
    return ENV_SETTINGS[name].value(os.environ if env is None else env)


HOME_HELP = "the folder of runs and sweeps (default: $BEDASH_RUNS_DIR, else runs)"


def home(given: str | None = None) -> str:
    """The one folder of runs and sweeps (a --runs-dir flag, else BEDASH_RUNS_DIR, else runs):
    every command and the dashboard read the same variable, so work from one shows in all."""
    return given or env_setting("BEDASH_RUNS_DIR") or "runs"


def check_env(env: Mapping[str, str] | None = None) -> None:
    """Every BEDASH_* setting checked, as at start-up: EnvError naming the first bad one, or a
    misspelt name (BEDASH_PROFLE=demo would drop the demo's caps as quietly as a bad value).
    Other BEDASH_* names are left alone: the test harness has its own."""
    env = os.environ if env is None else env
    for name in env:
        if name in ENV_SETTINGS or not name.upper().startswith("BEDASH_"):
            continue
        if near := difflib.get_close_matches(name.upper(), ENV_SETTINGS, n=1, cutoff=0.85):
            raise EnvError(name, f"unknown setting; did you mean {near[0]}?")
    for name in ENV_SETTINGS:
        env_setting(name, env)


DEMO_LIMITS = Limits(
    max_members=8,  # the demo's whole point fits in 8 members
    max_hidden=512,
    max_epochs=10,
    max_train_size=10_000,  # a job must finish in minutes on a shared 0.1-2 CPU host
    max_wall_seconds=600.0,
    unwatched_seconds=120.0,  # a closed tab must not hold the only slot for ten minutes
    max_running=1,  # one job at a time; the others queue
    # one intra-op thread: on a shared host a second torch thread waits for a busy core at
    # every parallel region. Measured on 2 cores busy with other work (synthetic 3,000 images,
    # E = 5, width 128, BatchEnsemble + single): 1 thread trains in 0.8-0.9 s, 2 in 2.0-33 s
    torch_threads=1,
    eval_batch_size=100,  # 8 members x 500 images of 3072 floats is ~100 MB more at the peak
    cpu_only=True,
    dataset_roots=(),  # replaced by the uploads folder in demo_limits()
    name="demo",
)
DEMO_MAX_UPLOAD_FILES = 20_000
DEMO_UPLOADS_MAX_AGE = 6 * 3600.0  # seconds an unpacked upload is kept (a session's work)
DEMO_UPLOADS_MAX_BYTES = 500 * 2**20  # all unpacked uploads together, oldest removed first


def uploads_dir(env: dict[str, str] | None = None) -> Path:
    """Where uploaded image folders are extracted: <BEDASH_DATA_DIR>/uploads."""
    return Path(env_setting("BEDASH_DATA_DIR", env)) / "uploads"


def profile_name(env: dict[str, str] | None = None) -> str:
    """default or demo (EnvError for anything else: a typo must not drop the demo's caps)."""
    return env_setting("BEDASH_PROFILE", env)


def current_limits(env: dict[str, str] | None = None) -> Limits:
    """The demo's caps (image folders only from uploads) or the defaults."""
    if profile_name(env) != "demo":
        return DEFAULT_LIMITS
    return dataclasses.replace(DEMO_LIMITS, dataset_roots=(str(uploads_dir(env)),))
