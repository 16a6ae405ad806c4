"""Training and the whole experiment: loss, callbacks, cancel, divergence, files, fairness."""

from __future__ import annotations

import csv
import json
import threading
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from bedash import experiment as X
from bedash.data.batches import Batcher
from bedash.data.synthetic import synthetic
from bedash.experiment import run_experiment
from bedash.method.models import build_model
from bedash.method.train import Callback, EpochRecord, Progress, fit, make_optimizer
from bedash.names import HISTORY_COLUMNS, MEMBER_COLUMNS, RESULT_COLUMNS, ConfigError, DatasetError
from bedash.settings.config import RunConfig
from bedash.store.folders import RunDirError
from bedash.store.runs import read_run

CONTRACT_RESULT_COLUMNS = [
    "model", "members", "hidden", "epochs", "params", "train_seconds", "infer_seconds",
    "mean_member_acc", "ensemble_acc", "vote_acc", "oracle_acc", "nll", "ece", "brier",
    "mean_disagreement",
]  # fmt: skip


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_run_writes_the_contract_files(tmp_path: Path, tiny_cfg: RunConfig) -> None:
    cfg = tiny_cfg.replace(models=("batchensemble", "ensemble", "ensemble_parallel", "single"))
    res = run_experiment(cfg, tmp_path / "run")
    assert res.status == "finished"
    run = tmp_path / "run"
    config = json.loads((run / "config.json").read_text())
    assert config["members"] == 3 and config["_meta"]["device"] == "cpu"
    results = _rows(run / "results.csv")
    assert [r["model"] for r in results] == list(cfg.models)
    assert set(CONTRACT_RESULT_COLUMNS) <= set(results[0]) and list(results[0]) == RESULT_COLUMNS
    for r in results:
        for col in CONTRACT_RESULT_COLUMNS[1:]:
            if col == "mean_disagreement" and r["model"] == "single":
                assert r[col] == ""  # undefined for one member
            else:
                float(r[col])  # plain numbers
        assert 0 <= float(r["ensemble_acc"]) <= 1
    history = _rows(run / "history.csv")
    assert list(history[0]) == HISTORY_COLUMNS
    be = [h for h in history if h["model"] == "batchensemble"]
    assert [h["member"] for h in be] == ["", "0", "1", "2"]  # whole model, then each member
    ens = [h for h in history if h["model"] == "ensemble"]
    assert sorted(h["member"] for h in ens) == ["", "0", "1", "2"]
    members = _rows(run / "members.csv")
    assert list(members[0]) == MEMBER_COLUMNS
    assert len(members) == 3 + 3 + 3 + 1
    for kind in ("batchensemble", "ensemble", "ensemble_parallel"):
        grid = _rows(run / f"agreement_{kind}.csv")
        assert len(grid) == 3 and float(grid[1]["1"]) == 1.0
    assert not (run / "agreement_single.csv").exists()
    assert read_run(run).status == "finished"


def test_same_config_and_seed_give_the_same_numbers(tmp_path: Path, tiny_cfg: RunConfig) -> None:
    a = run_experiment(tiny_cfg, tmp_path / "a")
    b = run_experiment(tiny_cfg, tmp_path / "b")
    keys = ["mean_member_acc", "ensemble_acc", "nll", "ece", "brier", "params"]
    for ra, rb in zip(a.rows, b.rows, strict=True):
        assert {k: ra[k] for k in keys} == {k: rb[k] for k in keys}
    ha = [h["loss"] for h in _rows(tmp_path / "a" / "history.csv")]
    hb = [h["loss"] for h in _rows(tmp_path / "b" / "history.csv")]
    assert ha == hb
    c = run_experiment(tiny_cfg.replace(seed=1), tmp_path / "c")
    assert [r["nll"] for r in c.rows] != [r["nll"] for r in a.rows]


def test_loss_is_mean_of_member_cross_entropies(tiny_cfg: RunConfig) -> None:
    data = synthetic(16, 8)
    model = build_model("batchensemble", tiny_cfg)
    x, y = next(Batcher(data.train, 16, shuffle=False).epoch(1))
    with torch.no_grad():
        out = model(x)  # (E, B, C) before the single step
        expected = torch.stack([F.cross_entropy(out[k], y) for k in range(3)])
    records: list[EpochRecord] = []

    class Rec(Callback):
        def on_epoch(self, rs: list[EpochRecord]) -> None:
            records.extend(rs)

    batcher = Batcher(data.train, 16, shuffle=False)
    fit(model, batcher, make_optimizer(model, tiny_cfg), epochs=1, name="be", callback=Rec())
    assert records[0].member is None
    assert records[0].loss == pytest.approx(expected.mean().item(), rel=1e-5)
    assert [r.loss for r in records[1:]] == pytest.approx(expected.tolist(), rel=1e-5)
    averaged = F.nll_loss(out.softmax(-1).mean(0).log(), y).item()
    assert abs(records[0].loss - averaged) > 1e-4  # not the loss of the averaged prediction


def test_fast_weights_get_their_own_lr_and_no_weight_decay(tiny_cfg: RunConfig) -> None:
    cfg = tiny_cfg.replace(fast_lr_mult=3.0, weight_decay=0.1)
    opt = make_optimizer(build_model("batchensemble", cfg), cfg)
    shared, fast = opt.param_groups
    assert shared["weight_decay"] == 0.1 and shared["lr"] == cfg.lr
    assert fast["weight_decay"] == 0.0 and fast["lr"] == pytest.approx(3 * cfg.lr)
    assert all(p.dim() == 2 for p in fast["params"])  # the (E, features) factors


def test_progress_callbacks_and_cancel_within_one_batch(tiny_cfg: RunConfig) -> None:
    data = synthetic(320, 8)
    model = build_model("batchensemble", tiny_cfg)
    opt = make_optimizer(model, tiny_cfg)
    cancel = threading.Event()
    steps = 0
    original = opt.step

    def counting_step(*a, **k):
        nonlocal steps
        steps += 1
        if steps == 3:
            cancel.set()  # as a Stop click between two batches
        return original(*a, **k)

    opt.step = counting_step
    seen: list[Progress] = []

    class Rec(Callback):
        def on_progress(self, p: Progress) -> None:
            seen.append(p)

    batcher = Batcher(data.train, 32, seed=0)
    res = fit(model, batcher, opt, epochs=2, name="be", callback=Rec(), cancel=cancel,
              log_interval=0.0)  # fmt: skip
    assert res.status == "cancelled" and steps == 3
    assert [p.step for p in seen] == [1, 2, 3]
    assert seen[-1].steps == 10 and 0 < seen[-1].fraction < 1
    assert seen[-1].samples_per_s > 0 and seen[-1].loss > 0


def test_cancelled_run_keeps_what_was_measured(tmp_path: Path, tiny_cfg: RunConfig) -> None:
    cancel = threading.Event()

    class StopAfterFirstModel(Callback):
        def on_model_end(self, model: str, result: dict) -> None:
            cancel.set()

    res = run_experiment(tiny_cfg, tmp_path / "r", callback=StopAfterFirstModel(), cancel=cancel)
    assert res.status == "cancelled"
    rows = _rows(tmp_path / "r" / "results.csv")
    assert [(r["model"], r["status"]) for r in rows] == [
        ("batchensemble", "finished"), ("ensemble", "cancelled"),
    ]  # fmt: skip
    assert rows[1]["ensemble_acc"] == ""  # a half-trained model gets no accuracy
    assert read_run(tmp_path / "r").status == "cancelled"


def test_nan_loss_marks_that_model_diverged_and_keeps_the_others(
    tmp_path: Path, tiny_cfg: RunConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_build = X.build_model

    def build(kind: str, *a, **k):
        model = real_build(kind, *a, **k)
        if kind == "ensemble":
            model.nets[1].net[0].weight.data.fill_(float("nan"))
        return model

    monkeypatch.setattr(X, "build_model", build)
    res = run_experiment(tiny_cfg, tmp_path / "r")
    statuses = {r["model"]: r["status"] for r in _rows(tmp_path / "r" / "results.csv")}
    assert statuses == {"batchensemble": "finished", "ensemble": "diverged", "single": "finished"}
    assert res.status == "diverged" and read_run(tmp_path / "r").status == "diverged"
    assert res.metrics["single"].ensemble_acc > 0


def test_a_crash_is_recorded_and_finished_models_kept(
    tmp_path: Path, tiny_cfg: RunConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_train = X._train

    def train(kind: str, *a, **k):
        if kind == "ensemble":
            raise RuntimeError("out of memory (simulated)")
        return real_train(kind, *a, **k)

    monkeypatch.setattr(X, "_train", train)
    with pytest.raises(RuntimeError, match="simulated"):
        run_experiment(tiny_cfg, tmp_path / "r")
    info = read_run(tmp_path / "r")
    assert info.status == "failed" and "simulated" in info.reason
    assert [r["model"] for r in info.results] == ["batchensemble"]


def test_parallel_ensemble_matches_sequential_ensemble(tmp_path: Path, tiny_cfg: RunConfig) -> None:
    cfg = tiny_cfg.replace(models=("ensemble", "ensemble_parallel", "single"), epochs=2)
    res = run_experiment(cfg, tmp_path / "r")
    seq, par, single = (res.metrics[k] for k in cfg.models)
    assert par.member_acc == pytest.approx(seq.member_acc, abs=1 / 128 + 1e-9)
    assert par.member_nll == pytest.approx(seq.member_nll, rel=1e-3)
    # single starts from the seed ensemble member 0 starts from, on the same batches
    assert single.member_nll[0] == pytest.approx(seq.member_nll[0], rel=1e-5)


def test_parallel_weights_track_sequential_weights(tiny_cfg: RunConfig) -> None:
    """After training, stacked member k holds the weights sequential member k learned."""
    data = synthetic(128, 8)
    seq = build_model("ensemble", tiny_cfg)
    par = build_model("ensemble_parallel", tiny_cfg)
    batcher = Batcher(data.train, 32, seed=0)
    for k, member in enumerate(seq.nets):
        from bedash.method.layers import Single

        single = Single(member)
        fit(single, batcher, make_optimizer(single, tiny_cfg), epochs=2, name=f"m{k}")
    fit(par, batcher, make_optimizer(par, tiny_cfg), epochs=2, name="par", loss_scale=3.0)
    for k, member in enumerate(seq.nets):
        torch.testing.assert_close(
            par.model.net[0].weight[k], member.net[0].weight, atol=2e-5, rtol=1e-4
        )
        torch.testing.assert_close(
            par.model.net[4].bias[k], member.net[4].bias, atol=2e-5, rtol=1e-4
        )


@pytest.mark.parametrize(
    "change",
    [
        {"arch": "cnn", "channels": 4, "hidden": 8},
        {"member_batch": "split"},
        {"bias": "member", "fast_init": "normal"},
        {"layers": 3, "batch_size": 50},
    ],
)
def test_recipe_and_architecture_options_train(
    tmp_path: Path, tiny_cfg: RunConfig, change: dict
) -> None:
    cfg = tiny_cfg.replace(models=("batchensemble", "ensemble_parallel", "single"), **change)
    res = run_experiment(cfg, tmp_path / "r")
    assert res.status == "finished"
    assert all(r["status"] == "finished" for r in res.rows)


def test_split_mode_gives_each_member_its_slice(tiny_cfg: RunConfig) -> None:
    model = build_model("batchensemble", tiny_cfg)
    x = torch.randn(10, 3, 32, 32)
    out = model(x, split=True)
    assert out.shape == (3, 3, 10)  # 10 // 3 rows each, the remainder dropped
    torch.testing.assert_close(out[1], model(x[3:6])[1])


def test_synthetic_is_learnable_in_one_epoch(tmp_path: Path) -> None:
    cfg = RunConfig(dataset="synthetic", train_size=5000, test_size=1000, epochs=1,
                    models=("batchensemble", "single"), device="cpu")  # fmt: skip
    res = run_experiment(cfg, tmp_path / "r")
    assert res.metrics["batchensemble"].ensemble_acc > 0.4
    assert res.metrics["single"].ensemble_acc > 0.4


def test_params_and_relative_sizes(tmp_path: Path, tiny_cfg: RunConfig) -> None:
    cfg = tiny_cfg.replace(models=("batchensemble", "ensemble", "single"))
    rows = {r["model"]: r for r in run_experiment(cfg, tmp_path / "r").rows}
    single = rows["single"]["params"]
    assert single == (3072 * 16 + 16) + (16 * 16 + 16) + (16 * 10 + 10)
    assert rows["ensemble"]["params"] == 3 * single
    fast = 3 * ((3072 + 16) + (16 + 16) + (16 + 10))  # r and s of each layer, E = 3
    assert rows["batchensemble"]["params"] == single + fast
    assert rows["ensemble"]["params_rel_single"] == 3.0
    assert rows["single"]["param_bytes"] == 4 * single


def test_bad_input_raises_before_anything_is_written(tmp_path: Path, tiny_cfg: RunConfig) -> None:
    with pytest.raises(ConfigError, match="members"):
        run_experiment(tiny_cfg.replace(members=0), tmp_path / "a")
    with pytest.raises(ConfigError, match="not available"):
        run_experiment(tiny_cfg.replace(device="cuda:7"), tmp_path / "b")
    with pytest.raises(DatasetError, match="larger than the training set"):
        run_experiment(tiny_cfg.replace(batch_size=1000), tmp_path / "c")
    with pytest.raises(DatasetError, match="does not exist"):
        run_experiment(tiny_cfg.replace(dataset=str(tmp_path / "nope")), tmp_path / "d")
    assert not any((tmp_path / n).exists() for n in "abcd")


def test_output_folder_rules(tmp_path: Path, tiny_cfg: RunConfig) -> None:
    run_experiment(tiny_cfg, tmp_path / "r")
    with pytest.raises(RunDirError, match="already holds a run"):
        run_experiment(tiny_cfg, tmp_path / "r")
    (tmp_path / "r" / "my-notes.txt").write_text("keep me")
    run_experiment(tiny_cfg.replace(models=("single",)), tmp_path / "r", overwrite=True)
    assert [r["model"] for r in _rows(tmp_path / "r" / "results.csv")] == ["single"]
    assert not (tmp_path / "r" / "agreement_batchensemble.csv").exists()
    assert (tmp_path / "r" / "my-notes.txt").read_text() == "keep me"
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "thesis.tex").write_text("x")
    with pytest.raises(RunDirError, match="holds no bedash run"):
        run_experiment(tiny_cfg, tmp_path / "other", overwrite=True)


def test_compile_option_trains_through_torch_compile(
    tmp_path: Path, tiny_cfg: RunConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compile code path on the CPU (dynamo tracing, eager backend to stay fast)."""
    monkeypatch.setattr(X, "COMPILE_OPTIONS", {"backend": "eager"})
    calls: list[dict] = []
    real = torch.compile

    def spy(model: torch.nn.Module, **kw: object) -> torch.nn.Module:
        calls.append(kw)
        return real(model, **kw)

    monkeypatch.setattr(torch, "compile", spy)
    cfg = tiny_cfg.replace(compile=True, models=("batchensemble", "single"))
    plain = run_experiment(cfg.replace(compile=False), tmp_path / "plain")
    res = run_experiment(cfg, tmp_path / "compiled")
    assert res.status == "finished" and calls == [{"backend": "eager"}] * 2
    assert res.rows[0]["nll"] == pytest.approx(plain.rows[0]["nll"], rel=1e-4)
