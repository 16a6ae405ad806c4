"""The Results page's verdict text, against numbers computed by hand."""

from bedash.app.verdict import NOT_MEASURED, one_seed_verdict, paired_verdict

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
        "ensemble_acc: BatchEnsemble − ensemble +0.0200, 95% CI [+0.0100, +0.0300], n=3: "
        "batchensemble better"
    )
    assert lines[1] == f"nll: {NOT_MEASURED}"
    assert paired_verdict([]) == []
