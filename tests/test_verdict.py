"""The Results page's verdict text, against numbers computed by hand."""

import json

from bedash.dashboard.verdict import NOT_MEASURED, one_seed_verdict, paired_verdict
from tests.test_pages_reading import dirs, trained  # noqa: F401  (fixtures)

ROWS = [
    {"model": "batchensemble", "status": "finished", "ensemble_acc": "0.556", "nll": "1.25",
     "params": "1000", "train_seconds": "10.0"},
    {"model": "ensemble", "status": "finished", "ensemble_acc": "0.569", "nll": "1.28",
     "params": "4800", "train_seconds": "10.2"},
    {"model": "single", "status": "finished", "ensemble_acc": "0.5", "nll": "1.5",
     "params": "960", "train_seconds": "2"},
]  # fmt: skip


def test_one_seed_verdict_matches_hand_computed_numbers() -> None:
    # 0.556 - 0.569 = -0.013 = -1.3 points; 4800 / 1000 = 4.8; 10.0 / 10.2 = 0.98 -> 1.0
    assert one_seed_verdict(ROWS) == (
        "BatchEnsemble: ensemble accuracy 0.556 vs 0.569 (−1.3 points), NLL 1.25 vs 1.28, "
        "4.8× fewer parameters than the ensemble, 1.0× its training time"
    )


def test_missing_values_and_kinds_say_not_measured() -> None:
    rows = [dict(ROWS[0], nll="", train_seconds="nan"), ROWS[1]]
    text = one_seed_verdict(rows)
    assert f"NLL {NOT_MEASURED}" in text and f"training time {NOT_MEASURED}" in text
    assert "(−1.3 points)" in text
    assert NOT_MEASURED in one_seed_verdict(ROWS[1:])
    assert "no ensemble" in one_seed_verdict([ROWS[0], ROWS[2]])
    failed = [dict(ROWS[0], status="failed"), ROWS[1]]
    assert NOT_MEASURED in one_seed_verdict(failed)


def test_paired_verdict_uses_the_paired_rows() -> None:
    rows = [
        {"config": "0", "metric": "ensemble_acc", "baseline": "ensemble", "mean_diff": "0.02",
         "ci_low": "0.01", "ci_high": "0.03", "n": "3", "verdict": "batchensemble better"},
        {"config": "0", "metric": "ensemble_acc", "baseline": "single", "mean_diff": "0.1",
         "ci_low": "0.05", "ci_high": "0.15", "n": "3", "verdict": "batchensemble better"},
    ]  # fmt: skip
    lines = paired_verdict(rows)
    assert lines[0] == (
        "accuracy, ensemble (mean softmax): BatchEnsemble − Ensemble (sequential) +0.0200, "
        "95% CI [+0.0100, +0.0300], n=3: batchensemble better"
    )
    assert lines[1] == f"NLL (ensemble): {NOT_MEASURED}"
    assert paired_verdict([]) == []
    other = [dict(r, config="1", mean_diff="-0.5") for r in rows]
    assert paired_verdict(rows + other) == lines  # the first config
    (line, _) = paired_verdict(rows + other, config=1)  # a number or the file's text
    assert "−0.5000" not in line and "-0.5000" in line
    assert paired_verdict(rows, config=7) == []


def test_the_seed_sweep_button_queues_this_config_in_the_job_registry(dirs, trained) -> None:  # noqa: F811
    """The Results page's button, once confirmed, queues a 5-seed sweep of the run's very config
    as a job of the server's registry (in-process here: BEDASH_SWEEP_ENGINE=local in
    tests/conftest.py). A run with nothing to compare (one model kind) is offered none."""
    from bedash.dashboard.session import sweep_jobs
    from tests.test_pages_reading import app, copy_runs

    (run,) = copy_runs(dirs, trained, "20260101-000100-bbbbbb")
    at = app("pages/results.py", run=run)
    at.button(key=f"verdict_sweep_{run}").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert f"sweep-{run}" not in sweep_jobs()  # asked first
    assert any("5 times" in w.value and "Start?" in w.value for w in at.warning)
    at.button(key=f"verdict_go_{run}").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    handle = sweep_jobs()[f"sweep-{run}"]
    handle.cancel()
    snap = handle.wait(120)
    assert snap.total == 5 and sorted(c["seed"] for c in snap.cells) == [0, 1, 2, 3, 4]
    state = json.loads((dirs / "runs" / f"sweep-{run}" / "sweep.json").read_text())
    base = state["base"]
    ran = json.loads((trained[run] / "config.json").read_text())
    assert base["members"] == ran["members"] == 3 and base["hidden"] == ran["hidden"]
    job = handle.executor.snapshot(handle.job_id)
    assert job.status == "cancelled" and job.run_id == f"sweep-{run}"
    config = dirs / "runs" / run / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "models": ["single"]}))
    alone = app("pages/results.py", run=run)
    assert not [b for b in alone.button if b.key == f"verdict_sweep_{run}"]
