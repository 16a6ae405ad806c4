"""Load: 20 sessions start jobs at once against a cap of 2. Never more than 2 train, the rest
queue in order, all finish, none is lost. Once on the registry with 20 threads, once through
the pages with 20 AppTest sessions sharing the server's registry. The figures (wall time, most
running and queued seen, waits) are printed and written to load.json in the test's tmp dir."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import streamlit as st

from bedash.dashboard.jobs import submit_run
from bedash.jobs.executor import Executor
from bedash.store.runs import list_runs
from tests.test_app import start_button
from tests.test_jobs import QUICK

SESSIONS, CAP = 20, 2
JOB = QUICK.replace(test_size=64, models=("batchensemble", "single"))  # about a second


class Sampler:
    """Samples the registry's counts every 2 ms in a thread; `inside` counts the threads that
    are in run_experiment right now, measured independently of the registry's own books."""

    def __init__(self, reg: Executor) -> None:
        self.reg, self.lock = reg, threading.Lock()
        self.inside = self.max_inside = self.max_running = self.max_queued = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.002):
            c = self.reg.counts()
            self.max_running = max(self.max_running, c["running"])
            self.max_queued = max(self.max_queued, c["queued"])

    def wrap(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import bedash.experiment as experiment

        real = experiment.run_experiment

        def run(*args, **kw):
            with self.lock:
                self.inside += 1
                self.max_inside = max(self.max_inside, self.inside)
            try:
                return real(*args, **kw)
            finally:
                with self.lock:
                    self.inside -= 1

        monkeypatch.setattr(experiment, "run_experiment", run)

    def __enter__(self) -> Sampler:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(5)


def check_and_record(reg: Executor, ids: list[str], sampler: Sampler, wall: float,
                     out: Path, label: str) -> dict:  # fmt: skip
    """The load test's verdict, and its figures in out/load.json."""
    snaps = [reg.snapshot(i) for i in ids]
    assert [s.status for s in snaps] == ["finished"] * SESSIONS, [s.error for s in snaps]
    assert sampler.max_inside == CAP  # never more than the cap, and the cap was used
    assert sampler.max_running <= CAP
    by_submit = sorted(snaps, key=lambda s: s.submitted)
    starts = [s.started for s in by_submit]
    assert starts == sorted(starts)  # first come, first served
    on_disk = {r.run_id: r.status for r in list_runs(reg.runs_dir)}
    assert len({s.run_id for s in snaps}) == SESSIONS  # one folder each, none shared
    assert on_disk == {s.run_id: "finished" for s in snaps}  # none lost, all whole
    waits = [s.started - s.submitted for s in snaps]
    figures = {
        "test": label, "sessions": SESSIONS, "cap": CAP, "wall_s": round(wall, 2),
        "max_running_seen": sampler.max_running, "max_in_training_seen": sampler.max_inside,
        "max_queued_seen": sampler.max_queued, "mean_wait_s": round(sum(waits) / len(waits), 2),
        "max_wait_s": round(max(waits), 2),
        "mean_job_s": round(sum(s.ended - s.started for s in snaps) / SESSIONS, 2),
    }  # fmt: skip
    (out / "load.json").write_text(json.dumps(figures, indent=2))
    print(f"\n{json.dumps(figures)}")
    return figures


@pytest.mark.slow  # a subprocess, a server or several seconds of training
def test_twenty_concurrent_submits_against_a_cap_of_two(tmp_path: Path, monkeypatch) -> None:
    reg = Executor(tmp_path / "runs", max_running=CAP)
    sampler = Sampler(reg)
    sampler.wrap(monkeypatch)
    ids: list[str] = []
    gate = threading.Barrier(SESSIONS)

    def session() -> None:
        gate.wait()  # all at once
        ids.append(submit_run(reg, JOB))

    try:
        with sampler:
            t0 = time.perf_counter()
            threads = [threading.Thread(target=session) for _ in range(SESSIONS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert len(ids) == SESSIONS
            for job_id in ids:
                assert reg.wait(job_id, timeout=180).done
            wall = time.perf_counter() - t0
        figures = check_and_record(reg, ids, sampler, wall, tmp_path, "registry")
        assert figures["max_queued_seen"] >= SESSIONS - CAP - 2  # nearly all waited at once
    finally:
        assert reg.shutdown(timeout=20)


@pytest.mark.slow  # a subprocess, a server or several seconds of training
def test_twenty_sessions_through_the_pages_share_two_slots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bedash.dashboard import common
    from tests.test_app import app, configure, finished, texts

    monkeypatch.setenv("BEDASH_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("BEDASH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BEDASH_MAX_JOBS", str(CAP))
    monkeypatch.delenv("BEDASH_PROFILE", raising=False)
    st.cache_resource.clear()
    reg = common.registry()  # the one every session's page uses
    assert reg.max_running == CAP
    sampler = Sampler(reg)
    sampler.wrap(monkeypatch)
    try:
        pages = []
        for _ in range(SESSIONS):  # open every session first, then press Start in each
            at = app()
            configure(at, epochs=1)
            at.button_group(key="models").set_value(list(JOB.models))
            pages.append(at)
        with sampler:
            t0 = time.perf_counter()
            for at in pages:
                start_button(at).click().run()
                assert not at.exception and not at.error, texts(at.error)
            ids = [at.query_params["job"] for at in pages]
            positions = [reg.snapshot(i).queue_position for i in ids]
            last = pages[-1].run()  # the page of a queued job says where it stands
            if positions[-1]:
                assert f"number {positions[-1]} in the queue" in texts(last.info)
            for job_id in ids:
                assert reg.wait(job_id, timeout=240).done
            wall = time.perf_counter() - t0
        check_and_record(reg, ids, sampler, wall, tmp_path, "pages")
        assert len(set(ids)) == SESSIONS
        for at in pages:  # every session shows its own finished job
            at.run()
            assert finished(at) and not at.exception
    finally:
        st.cache_resource.clear()  # shuts the registry down and joins its threads
