"""The executor and its training jobs, with real threads and tiny synthetic runs: queue, cap,
cancel, crash, shutdown."""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bedash.dashboard.jobs import submit_run
from bedash.jobs.executor import Executor
from bedash.jobs.record import JobSnapshot
from bedash.names import ConfigError
from bedash.preflight import preflight, train_images
from bedash.settings.config import RunConfig
from bedash.settings.limits import Limits
from bedash.store.folders import RunDirError

QUICK = RunConfig(
    dataset="synthetic", train_size=256, test_size=128, epochs=1, hidden=16, members=2,
    batch_size=64, device="cpu", models=("batchensemble", "ensemble", "single"),
)  # fmt: skip
ENDLESS = QUICK.replace(epochs=10_000, models=("batchensemble",))  # runs until cancelled


def until(
    reg: Executor, job_id: str, test: Callable[[JobSnapshot], bool], timeout: float = 30.0
) -> JobSnapshot:
    """Poll the job until test(snapshot) holds; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        snap = reg.snapshot(job_id)
        assert snap is not None
        if test(snap):
            return snap
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id[:8]} never got there; last status {snap.status}")
        time.sleep(0.02)


def status_json(snap: JobSnapshot) -> dict:
    return json.loads((snap.run_dir / "status.json").read_text())


@pytest.fixture
def registry(tmp_path: Path):
    regs: list[Executor] = []

    def make(**kw) -> Executor:
        reg = Executor(tmp_path / "runs", **kw)
        regs.append(reg)
        return reg

    yield make
    for reg in regs:  # nothing may outlive a test
        assert reg.shutdown(timeout=20)


def test_a_job_trains_writes_its_run_and_keeps_a_live_record(registry) -> None:
    reg = registry()
    job_id = submit_run(reg, QUICK)
    assert len(job_id) == 32 and int(job_id, 16) >= 0  # uuid4 hex
    snap = reg.wait(job_id, timeout=60)
    assert snap is not None and snap.status == "finished", snap.error
    assert snap.done and not snap.active and snap.ended and snap.started
    assert snap.run_dir == reg.runs_dir / snap.run_id
    assert status_json(snap)["status"] == "finished"
    assert [r["model"] for r in snap.results] == list(QUICK.models)
    whole = {r.model for r in snap.history if r.member is None}
    assert whole == set(QUICK.models)
    # every model logs at least its epoch end; an epoch end sits at x = epoch
    assert {p.model for p in snap.trace} == set(QUICK.models)
    assert any(p.x == 1.0 for p in snap.trace)
    assert snap.progress is not None and snap.progress.fraction == pytest.approx(1.0)
    # the snapshot is a frozen copy: a page cannot change the job through it
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.status = "running"  # type: ignore[misc]
    assert isinstance(snap.history, tuple) and isinstance(snap.trace, tuple)
    with pytest.raises(TypeError):
        snap.results[0]["model"] = "x"  # type: ignore[index]
    assert reg.snapshot(job_id) is snap  # nothing changed: the same copy, no new work
    assert reg.job_for_run(snap.run_id) == job_id
    assert reg.snapshot("nope") is None


def test_the_cap_queues_jobs_in_order_and_cancelling_queued_ones_writes_nothing(registry) -> None:
    reg = registry(max_running=1)
    a = submit_run(reg, ENDLESS)
    b = submit_run(reg, QUICK)
    c = submit_run(reg, QUICK)
    until(reg, a, lambda s: s.status == "running")
    sb, sc = reg.snapshot(b), reg.snapshot(c)
    assert (sb.status, sb.queue_position) == ("queued", 1)
    assert (sc.status, sc.queue_position) == ("queued", 2)
    assert reg.counts() == {"running": 1, "queued": 2, "jobs": 3}
    assert reg.active_run_ids() == {s.run_id for s in (reg.snapshot(a), sb, sc)}

    assert reg.cancel(c)
    sc = reg.snapshot(c)
    assert sc.status == "cancelled" and sc.queue_position is None
    assert "before it started" in sc.message and not sc.run_dir.exists()
    assert not reg.cancel(c)  # already over

    time.sleep(0.3)  # b must still wait: the cap is one
    assert reg.snapshot(b).status == "queued"
    assert reg.cancel(a)
    sa = reg.wait(a, timeout=10)
    assert sa.status == "cancelled"
    sb = reg.wait(b, timeout=60)
    assert sb.status == "finished" and sb.started >= sa.ended


def test_two_slots_run_two_jobs_at_once(registry) -> None:
    reg = registry(max_running=2)
    ids = [submit_run(reg, ENDLESS) for _ in range(3)]
    until(reg, ids[0], lambda s: s.status == "running")
    until(reg, ids[1], lambda s: s.status == "running")
    assert reg.snapshot(ids[2]).queue_position == 1
    for job_id in ids:
        reg.cancel(job_id)
    assert all(reg.wait(i, timeout=10).status == "cancelled" for i in ids)


def test_stop_ends_a_running_job_soon_and_keeps_what_was_measured(registry) -> None:
    reg = registry()
    job_id = submit_run(reg, ENDLESS)
    until(reg, job_id, lambda s: len(s.history) >= 2)  # a few epochs are on disk
    reg.cancel(job_id)
    snap = reg.wait(job_id, timeout=5)  # cancel is checked after every batch
    assert snap.status == "cancelled" and "kept" in snap.message
    assert status_json(snap)["status"] == "cancelled"
    history = (snap.run_dir / "history.csv").read_text().splitlines()
    assert len(history) >= 3  # header + the measured epochs
    assert "cancelled" in (snap.run_dir / "results.csv").read_text()


def test_a_crashing_job_fails_alone(registry, monkeypatch) -> None:
    import bedash.experiment as experiment

    real = experiment.build_model

    def build_model(kind, cfg, *args, **kw):
        if cfg.seed == 13 and kind == "ensemble":
            raise RuntimeError("boom in the model builder")
        return real(kind, cfg, *args, **kw)

    monkeypatch.setattr(experiment, "build_model", build_model)
    reg = registry(max_running=2)
    bad = submit_run(reg, QUICK.replace(seed=13))
    good = submit_run(reg, QUICK)
    sbad, sgood = reg.wait(bad, timeout=60), reg.wait(good, timeout=60)
    assert sbad.status == "failed"
    assert sbad.error == "RuntimeError: boom in the model builder"
    assert "Traceback" in sbad.traceback
    assert status_json(sbad)["status"] == "failed"  # recorded in the run as well
    assert [r["model"] for r in sbad.results] == ["batchensemble"]  # measured before the crash
    assert sgood.status == "finished"
    assert reg.snapshot(submit_run(reg, QUICK)) is not None  # the registry still takes jobs


def test_bad_input_found_while_loading_fails_the_job_with_the_message(registry, tmp_path) -> None:
    reg = registry()
    cfg = QUICK.replace(dataset="cifar10", data_dir=str(tmp_path / "empty"))
    job_id = submit_run(reg, cfg, check=False)
    import bedash.data.cifar10 as data

    # no network in tests: make the download fail as it does offline
    def offline(*a, **k):
        raise OSError("network is unreachable")

    original = data._download
    data._download = offline
    try:
        snap = reg.wait(job_id, timeout=30)
    finally:
        data._download = original
    assert snap.status == "failed"
    assert "CIFAR-10 could not be downloaded" in snap.error and "by hand" in snap.error
    assert not snap.run_dir.exists()


def test_stop_while_downloading_abandons_the_download(registry, monkeypatch) -> None:
    import bedash.experiment as experiment

    chunks = []

    def slow_load(*args, progress=None, **kw):
        for i in range(1000):  # a download that would take 20 s
            progress("download", i, 1000)
            chunks.append(i)
            time.sleep(0.02)
        raise AssertionError("the download was not abandoned")

    monkeypatch.setattr(experiment, "load_dataset", slow_load)
    reg = registry()
    job_id = submit_run(reg, QUICK.replace(dataset="cifar10"), check=False)
    snap = until(reg, job_id, lambda s: s.data_progress is not None and s.data_progress.done > 3)
    assert snap.status == "loading" and snap.data_progress.stage == "download"
    assert snap.data_progress.total == 1000
    reg.cancel(job_id)
    snap = reg.wait(job_id, timeout=5)
    assert snap.status == "cancelled" and "nothing was written" in snap.message
    assert len(chunks) < 1000 and not snap.run_dir.exists()


def test_dataset_progress_reaches_the_snapshot(registry, tiny_cifar_dir) -> None:
    reg = registry()
    cfg = QUICK.replace(
        dataset="cifar10", data_dir=str(tiny_cifar_dir), batch_size=16, train_size=80, test_size=20
    )  # the tiny CIFAR-10 holds 100 + 30 images
    snap = reg.wait(submit_run(reg, cfg), timeout=60)
    assert snap.status == "finished", snap.error
    assert snap.data_progress is not None and snap.data_progress.stage == "decode"


def test_the_profile_time_limit_stops_a_job(registry) -> None:
    reg = registry(limits=Limits(max_wall_seconds=0.5, name="demo"))
    snap = reg.wait(submit_run(reg, ENDLESS), timeout=10)
    assert snap.status == "cancelled"
    assert snap.message == "stopped at the demo limit of 0.5 s per job"


def test_shutdown_cancels_and_joins_every_job(registry) -> None:
    reg = registry(max_running=1)
    running = submit_run(reg, ENDLESS)
    queued = submit_run(reg, QUICK)
    until(reg, running, lambda s: s.status == "running")
    assert reg.shutdown(timeout=10)
    assert not any(t.name.startswith("bedash-job-") for t in threading.enumerate())
    assert reg.snapshot(running).status == "cancelled"
    assert status_json(reg.snapshot(running))["status"] == "cancelled"
    assert reg.snapshot(queued).status == "cancelled"
    with pytest.raises(RuntimeError, match="shut down"):
        submit_run(reg, QUICK)


def test_preflight_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        preflight(QUICK.replace(batch_size=512))
    assert e.value.field == "batch_size" and "larger than the training set (256" in e.value.message
    with pytest.raises(ConfigError) as e:
        preflight(QUICK.replace(device="cuda:7"))
    assert e.value.field == "device" and "available" in e.value.message
    (tmp_path / "notdata").mkdir()
    with pytest.raises(ConfigError) as e:
        preflight(QUICK.replace(dataset=str(tmp_path / "notdata")))
    assert e.value.field == "dataset" and "train" in e.value.message
    assert not e.value.message.startswith("dataset:")
    with pytest.raises(ConfigError) as e:
        preflight(QUICK.replace(members=9), Limits(max_members=8, name="demo"))
    assert e.value.field == "members" and "demo limit" in e.value.message
    assert train_images(QUICK.replace(train_size=None)) == 50_000
    assert train_images(QUICK.replace(dataset="cifar10", train_size=100)) == 100


def test_submit_checks_before_queueing(registry) -> None:
    reg = registry()
    with pytest.raises(ConfigError):
        submit_run(reg, QUICK.replace(batch_size=10_000))
    assert reg.jobs() == [] and not reg.runs_dir.exists()


def test_image_folder_size_comes_from_the_folder(tmp_path: Path) -> None:
    from PIL import Image

    for split, n in (("train", 3), ("test", 1)):
        for cls in ("a", "b"):
            d = tmp_path / "imgs" / split / cls
            d.mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (8, 8)).save(d / f"{i}.png")
    cfg = QUICK.replace(dataset=str(tmp_path / "imgs"), train_size=None)
    assert train_images(cfg) == 6
    with pytest.raises(ConfigError, match="larger than the training set \\(6"):
        preflight(cfg.replace(batch_size=8))


def test_old_finished_jobs_are_forgotten(registry) -> None:
    reg = registry(max_finished=1)
    first = submit_run(reg, QUICK)
    reg.wait(first, timeout=60)
    second = submit_run(reg, QUICK)
    reg.wait(second, timeout=60)
    submit_run(reg, QUICK)  # pruning happens on submit
    assert reg.snapshot(first) is None and reg.snapshot(second) is not None


def test_views_are_counted_per_other_session() -> None:
    reg = Executor("unused")
    reg.set_view("s1", "run-a")
    reg.set_view("s2", "run-a")
    reg.set_view("s3", "run-b")
    assert reg.viewers("run-a") == 2
    assert reg.viewers("run-a", exclude="s1") == 1
    reg.set_view("s2", None)
    assert reg.viewers("run-a", exclude="s1") == 0
    assert reg.viewers("run-b", max_age=-1) == 0  # a stale view does not count


def test_importing_jobs_does_not_import_torch() -> None:
    import subprocess

    code = "import bedash.dashboard.jobs, sys; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- the watchdog (the demo's unwatched_seconds), faults mid-run, the runs folder ----------------


def watched_while(reg: Executor, job_id: str, seconds: float) -> None:
    """Poll the job as a page does (a heartbeat every 0.1 s) for `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        reg.watch(job_id)
        time.sleep(0.1)


def test_a_job_nobody_watches_is_stopped_by_the_watchdog(registry) -> None:
    reg = registry(limits=Limits(unwatched_seconds=0.5, name="demo"))
    job_id = submit_run(reg, ENDLESS)
    until(reg, job_id, lambda s: s.status == "running")  # snapshot() is no heartbeat
    snap = reg.wait(job_id, timeout=10)
    assert snap.status == "cancelled"
    assert snap.message == "stopped: nobody watched it for 0.5 s"
    assert status_json(snap)["status"] == "cancelled"  # recorded in the run as any stop


@pytest.mark.slow  # a subprocess, a server or several seconds of training
def test_a_watched_job_runs_on_and_a_queued_job_whose_page_left_is_cancelled(registry) -> None:
    reg = registry(max_running=1, limits=Limits(unwatched_seconds=1.0, name="demo"))
    watched = submit_run(reg, ENDLESS)
    left = submit_run(reg, QUICK)  # queued behind it; its page never polls
    watched_while(reg, watched, 2.5)  # well past the 1 s: the heartbeat keeps it going
    assert reg.snapshot(watched).status == "running"
    gone = reg.snapshot(left)
    assert gone.status == "cancelled" and not gone.run_dir.exists()
    assert gone.message == (
        "stopped: nobody watched it for 1 s; it never started, nothing was written"
    )
    snap = reg.wait(watched, timeout=10)  # now nobody polls it either
    assert snap.status == "cancelled" and "nobody watched" in snap.message


def test_the_default_profile_has_no_watchdog_and_shutdown_joins_it(registry) -> None:
    plain = registry()
    snap = plain.wait(submit_run(plain, QUICK), timeout=60)  # nobody watches: it finishes anyway
    assert snap.status == "finished"
    assert not any(t.name == "bedash-watchdog" for t in threading.enumerate())
    demo = registry(limits=Limits(unwatched_seconds=60.0, name="demo"))
    demo.wait(submit_run(demo, QUICK), timeout=60)
    assert any(t.name == "bedash-watchdog" for t in threading.enumerate())
    assert demo.shutdown(timeout=10)
    assert not any(t.name == "bedash-watchdog" for t in threading.enumerate())


def raise_in_epoch(monkeypatch: pytest.MonkeyPatch, seed: int, epoch: int = 2) -> None:
    """Make the training of every config with `seed` raise after the first batch of `epoch`
    (inside the training loop, as a real bug or an out-of-memory error would)."""
    from bedash.data.batches import Batcher

    real = Batcher.indices

    def indices(self, e: int):
        for step, idx in enumerate(real(self, e)):
            if self.seed == seed and e == epoch and step == 1:
                raise RuntimeError(f"boom in epoch {e}")
            yield idx

    monkeypatch.setattr(Batcher, "indices", indices)


def test_a_job_that_raises_mid_epoch_fails_alone_with_its_message(registry, monkeypatch) -> None:
    raise_in_epoch(monkeypatch, seed=13)
    reg = registry(max_running=2)
    bad = submit_run(reg, QUICK.replace(seed=13, epochs=2, models=("batchensemble",)))
    good = submit_run(reg, QUICK.replace(epochs=2))
    sbad, sgood = reg.wait(bad, timeout=60), reg.wait(good, timeout=60)
    assert sbad.status == "failed" and sbad.error == "RuntimeError: boom in epoch 2"
    assert sbad.message == sbad.error and "Traceback" in sbad.traceback
    on_disk = status_json(sbad)
    assert on_disk["status"] == "failed" and on_disk["error"] == "RuntimeError: boom in epoch 2"
    assert [(r.member, r.epoch) for r in sbad.history if r.member is None] == [(None, 1)]
    assert sgood.status == "finished", sgood.error
    assert status_json(sgood)["status"] == "finished"


def test_an_unwritable_runs_folder_is_refused_at_submit(registry, tmp_path) -> None:
    (tmp_path / "file").write_text("x")  # root ignores chmod: a path under a file fails alike
    reg = Executor(tmp_path / "file" / "runs")
    with pytest.raises(RunDirError, match=r"cannot write runs to .*file/runs: Not a directory"):
        submit_run(reg, QUICK)
    assert reg.jobs() == []


def test_a_full_disk_mid_run_fails_the_job_and_keeps_earlier_runs(registry, monkeypatch) -> None:
    import errno

    from bedash.store import writer as R

    reg = registry()
    first = reg.wait(submit_run(reg, QUICK), timeout=60)
    before = {p.name: p.read_bytes() for p in first.run_dir.iterdir()}
    real = R.atomic_write_text

    def full(path, text: str) -> None:
        if Path(path).name == "results.csv":  # the disk fills up after the first epoch
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, text)

    monkeypatch.setattr(R, "atomic_write_text", full)
    snap = reg.wait(submit_run(reg, QUICK), timeout=60)
    assert snap.status == "failed" and snap.traceback == ""
    assert snap.error.startswith("cannot write results.csv in ")
    assert snap.error.endswith("No space left on device; the files written before are intact")
    assert status_json(snap)["status"] == "failed"  # status.json still fitted on the disk
    assert {p.name: p.read_bytes() for p in first.run_dir.iterdir()} == before
    monkeypatch.undo()
    assert reg.wait(submit_run(reg, QUICK), timeout=60).status == "finished"  # space again


def test_a_profile_sets_the_torch_threads_of_its_jobs(registry, monkeypatch) -> None:
    import torch

    import bedash.experiment as experiment

    seen: list[int] = []
    real = experiment.run_experiment

    def run(*args, **kw):
        seen.append(torch.get_num_threads())  # in the job's thread, where training runs
        return real(*args, **kw)

    monkeypatch.setattr(experiment, "run_experiment", run)
    main_threads = torch.get_num_threads()
    reg = registry(limits=Limits(torch_threads=1, name="demo"))
    assert reg.wait(submit_run(reg, QUICK), timeout=60).status == "finished"
    assert seen == [1]
    assert torch.get_num_threads() == main_threads  # OpenMP's count is per thread


def test_a_profile_caps_the_evaluation_batch_of_its_jobs(registry) -> None:
    reg = registry(limits=Limits(eval_batch_size=50, name="demo"))
    snap = reg.wait(submit_run(reg, QUICK), timeout=60)  # QUICK asks for 500
    assert snap.status == "finished" and snap.config.eval_batch_size == 50
    assert json.loads((snap.run_dir / "config.json").read_text())["eval_batch_size"] == 50
    plain = registry()
    small = plain.wait(submit_run(plain, QUICK.replace(eval_batch_size=20)), timeout=60)
    assert small.config.eval_batch_size == 20  # below the cap, or without one: unchanged


def test_the_library_never_imports_streamlit() -> None:
    """Settings from Streamlit secrets are read by the pages and handed in; the library (and
    the CLI) works without streamlit."""
    import subprocess

    code = (
        "import sys, bedash.dashboard.jobs, bedash.settings.profile, bedash.data.housekeeping,"
        " bedash.experiment;"
        "print('streamlit' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- sweeps in the same registry ----------------------------------------------------------------


def _sweep_spec():
    from bedash.sweep.grid import SweepSpec

    base = RunConfig(dataset="synthetic", train_size=64, test_size=32, epochs=1, members=2,
                     hidden=8, models=("single",), device="cpu")  # fmt: skip
    return SweepSpec(base, {"members": [2, 3]}, [0, 1])


def test_a_sweep_waits_behind_a_training_job_and_reports_cells(tmp_path) -> None:
    """One slot: the sweep queues behind a running job (their timings would measure each
    other), then runs its cells and reports them as progress."""
    from bedash.dashboard.sweepjobs import submit_sweep

    reg = Executor(tmp_path, max_running=1)
    gate = threading.Event()

    def blocker(control):
        gate.wait(30)
        return "finished", "", "done"

    first = reg.submit(blocker, RunConfig(), run_id="blocker")
    handle = submit_sweep(reg, _sweep_spec(), "sweep-a")
    assert reg.snapshot(handle.job_id).status == "queued"
    snap = handle.snapshot()
    assert snap.status == "queued" and snap.total == 4 and snap.counts["pending"] == 4
    gate.set()
    assert reg.wait(first, 30).status == "finished"
    job = reg.wait(handle.job_id, 120)
    assert job.status == "finished", job.error
    assert job.message == "4 of 4 cells done"
    assert job.data_progress.stage == "cells" and job.data_progress.done == 4
    assert handle.snapshot().status == "finished" and not handle.running
    assert (tmp_path / "sweep-a" / "paired.csv").is_file()


def test_a_sweep_is_checked_before_it_is_queued_and_cancelled_by_the_registry(tmp_path) -> None:
    from bedash.dashboard.sweepjobs import submit_sweep
    from bedash.sweep.grid import SweepError

    reg = Executor(tmp_path, max_running=1)
    with pytest.raises(SweepError) as e:
        submit_sweep(reg, _sweep_spec(), "sweep-b", max_cells=3)
    assert e.value.field == "max_cells" and reg.counts()["jobs"] == 0
    assert not (tmp_path / "sweep-b").exists()
    gate = threading.Event()
    reg.submit(lambda c: (gate.wait(30), ("finished", "", ""))[1], RunConfig(),
               run_id="blocker")  # fmt: skip
    handle = submit_sweep(reg, _sweep_spec(), "sweep-c")
    handle.cancel()  # still queued: it never starts
    gate.set()
    job = reg.wait(handle.job_id, 30)
    assert job.status == "cancelled"
    assert [c["status"] for c in handle.snapshot().cells] == ["pending"] * 4
    assert reg.shutdown(30)


def test_a_job_run_in_place_waits_its_turn_and_raises_what_its_task_raised(tmp_path) -> None:
    """Executor.run, the CLI's sweep: the job queues behind the cap like any other, then runs
    in the calling thread (Ray's init and the signal handlers need the main thread)."""
    ex = Executor(tmp_path, max_running=1)
    gate = threading.Event()
    first = ex.submit(lambda c: (gate.wait(30), ("finished", "", ""))[1], RunConfig(),
                      run_id="a")  # fmt: skip
    ran_in: list[threading.Thread] = []

    def task(control):
        assert ex.snapshot(first).status == "finished"  # one slot: it waited for the first
        ran_in.append(threading.current_thread())
        return "finished", "", "done", 42

    threading.Timer(0.2, gate.set).start()
    snap, value = ex.run(task, RunConfig(), run_id="b")
    assert ran_in == [threading.current_thread()] and value == 42
    assert snap.status == "finished" and snap.message == "done" and snap.run_id == "b"

    def bad(control):
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        ex.run(bad, RunConfig(), run_id="c")
    assert ex.snapshot(ex.job_for_run("c")).status == "failed"
    assert ex.shutdown(10)


def test_a_dashboard_sweep_gets_trains_checks_before_its_folder_exists(tmp_path) -> None:
    """A batch larger than the training set, or an image folder that is not there: the form's
    message, as `bedash sweep` and Start on the Experiment page give it; nothing queued or made."""
    from bedash.dashboard.sweepjobs import submit_sweep
    from bedash.names import FieldError

    reg = Executor(tmp_path, max_running=1)
    base = _sweep_spec().base
    bad = [base.replace(batch_size=512, train_size=64),
           base.replace(dataset=str(tmp_path / "no-such-folder"))]  # fmt: skip
    for i, cfg in enumerate(bad):
        spec = dataclasses.replace(_sweep_spec(), base=cfg)
        with pytest.raises(FieldError) as e:
            submit_sweep(reg, spec, f"sweep-{i}")
        assert e.value.field in ("batch_size", "dataset"), e.value
        assert not (tmp_path / f"sweep-{i}").exists() and reg.counts()["jobs"] == 0
