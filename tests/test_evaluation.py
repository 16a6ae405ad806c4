"""The uncertainty driver: shifted and OOD sets streamed through predict, rows for the files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch
from PIL import Image

from bedash.data.synthetic import synthetic
from bedash.method.metrics import compute_metrics
from bedash.method.models import build_model
from bedash.method.train import predict
from bedash.names import (
    OOD_COLUMNS,
    SELECTIVE_COLUMNS,
    SHIFT_COLUMNS,
    UNCERTAINTY_COLUMNS,
    DatasetError,
)
from bedash.settings.config import RunConfig
from bedash.uncertainty import evaluation
from bedash.uncertainty.corruptions import CORRUPTION_NAMES, corrupt, corruption_seed
from bedash.uncertainty.evaluation import (
    IN_DISTRIBUTION,
    ShiftedSets,
    evaluate_model,
    expand_corruptions,
    hold_out,
    logits_of,
    prepare,
    scalar_metrics,
)
from bedash.uncertainty.ood import OOD_NAMES, load_ood, load_ood_sets

CFG = RunConfig(members=3, hidden=16)


@pytest.fixture(scope="module")
def ds():
    return synthetic(n_train=400, n_test=300)


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {k: build_model(k, CFG) for k in ("batchensemble", "single")}


def test_scalar_metrics_equal_compute_metrics() -> None:
    g = torch.Generator().manual_seed(0)
    for E in (1, 4):
        logits = torch.randn(E, 500, 10, generator=g) * 4
        labels = torch.randint(0, 10, (500,), generator=g)
        ours, ref = scalar_metrics(logits, labels), compute_metrics(logits, labels)
        assert ours["acc"] == pytest.approx(ref.ensemble_acc)
        assert ours["nll"] == pytest.approx(ref.nll, rel=1e-5)
        assert ours["ece"] == pytest.approx(ref.ece, abs=1e-6)
        assert ours["brier"] == pytest.approx(ref.brier, rel=1e-5)


def test_logits_of_images_are_predicts(ds, models) -> None:
    m = models["batchensemble"]
    ref, _ = predict(m, ds.test, 64)
    assert torch.allclose(logits_of(m, ds.test.x, 50), ref, atol=1e-5)


def test_shifted_sets_are_chunks_corrupted_with_their_own_seeds(ds) -> None:
    for keep in (False, True):
        sets = ShiftedSets(ds.test.x, seed=0, chunk=128, keep=keep)
        for _ in range(2):  # the second time: read back where kept
            shifted = sets.get("contrast", 2).clone()
            parts = [
                corrupt(ds.test.x[a : a + 128], "contrast", 2,
                        torch.Generator().manual_seed(corruption_seed(0, "contrast", 2, i)))
                for i, a in enumerate(range(0, 300, 128))
            ]  # fmt: skip
            assert torch.equal(shifted, torch.cat(parts))
            assert torch.equal(sets.get("gaussian_noise", 4), sets.get("gaussian_noise", 4))
        sets.close()


@pytest.mark.parametrize("kinds", [1, 3])
def test_each_shifted_set_is_built_once_whatever_the_number_of_models(
    ds, models, kinds: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(corruption, severity) -> corruption calls: one per chunk, for every model evaluated;
    every model sees the very images a lone evaluation sees."""
    real = evaluation.corrupt
    calls: Counter[tuple[str, int]] = Counter()
    monkeypatch.setattr(evaluation, "corrupt",
                        lambda x, n, s, g: calls.update([(n, s)]) or real(x, n, s, g))  # fmt: skip
    names, sevs = ("gaussian_noise", "contrast"), (1, 3)
    data = prepare(ds, corruptions=names, severities=sevs, chunk=128, keep=kinds > 1)
    rows = [evaluate_model(models["batchensemble"], "batchensemble", data, 100).shift
            for _ in range(kinds)]  # fmt: skip
    assert calls == {(n, s): 3 for n in names for s in sevs}  # 300 images: 3 chunks of 128
    lone = prepare(ds, corruptions=names, severities=sevs, chunk=128)
    assert all(r == evaluate_model(models["batchensemble"], "batchensemble", lone, 100).shift
               for r in rows)  # fmt: skip
    data.shifted.close()


def test_evaluate_model_rows(ds, models) -> None:
    ood = load_ood_sets(("uniform", "gaussian"), len(ds.test))
    data = prepare(ds, corruptions=("gaussian_noise", "contrast", "speckle_noise"),
                   severities=(1, 3), ood=ood, chunk=128)  # fmt: skip
    res = evaluate_model(models["batchensemble"], "batchensemble", data, 100)
    keys = [(r["corruption"], r["severity"]) for r in res.shift]
    assert keys == [("clean", 0), ("gaussian_noise", 1), ("gaussian_noise", 3),
                    ("contrast", 1), ("contrast", 3), ("speckle_noise", 1), ("speckle_noise", 3),
                    ("mean", 1), ("mean", 3), ("mean_noise", 1), ("mean_noise", 3),
                    ("mean_digital", 1), ("mean_digital", 3)]  # fmt: skip
    for rows, cols in (
        (res.shift, SHIFT_COLUMNS),
        (res.ood, OOD_COLUMNS),
        (res.selective, SELECTIVE_COLUMNS),
        (res.histogram, UNCERTAINTY_COLUMNS),
    ):
        assert rows and all(set(r) <= set(cols) for r in rows)  # fmt: skip
        assert all(r["model"] == "batchensemble" for r in rows)
    by = {(r["corruption"], r["severity"]): r for r in res.shift}
    for k in ("acc", "nll", "ece", "brier", "entropy", "mutual_info", "aurc"):
        mean = (by[("gaussian_noise", 3)][k] + by[("contrast", 3)][k]) / 2  # no extra counted
        assert by[("mean", 3)][k] == pytest.approx(mean)
        assert by[("mean_noise", 3)][k] == pytest.approx(by[("gaussian_noise", 3)][k])
        assert by[("mean_digital", 1)][k] == pytest.approx(by[("contrast", 1)][k])
    assert all(r["mutual_info"] >= 0 for r in res.shift)
    clean_logits, _ = predict(models["batchensemble"], ds.test, 100)
    assert by[("clean", 0)]["acc"] == pytest.approx(
        compute_metrics(clean_logits, ds.test.y).ensemble_acc
    )
    assert "temperature" not in by[("clean", 0)]  # no validation split: no scaled columns
    assert {(r["ood_set"], r["score"]) for r in res.ood} == {
        ("uniform", "entropy"), ("uniform", "mutual_info"),
        ("gaussian", "entropy"), ("gaussian", "mutual_info"),
    }  # fmt: skip
    for r in res.ood:
        assert 0 <= r["auroc"] <= 1 and 0 <= r["aupr"] <= 1 and 0 <= r["fpr95"] <= 1
    assert [r["coverage"] for r in res.selective][-1] == 1.0
    assert res.selective[-1]["accuracy"] == pytest.approx(by[("clean", 0)]["acc"])
    sets = {r["set"] for r in res.histogram}
    assert sets == {IN_DISTRIBUTION, "uniform", "gaussian"}
    for s in sets:
        for q in ("entropy", "mutual_info"):
            counts = [r["count"] for r in res.histogram if r["set"] == s and r["quantity"] == q]
            assert sum(counts) == 300


def test_every_model_kind_sees_the_same_data_and_repeats(ds, models) -> None:
    ood = load_ood_sets(("uniform",), len(ds.test))
    data = prepare(ds, corruptions=("shot_noise",), severities=(5,), ood=ood, chunk=128)
    a = evaluate_model(models["single"], "single", data, 100)
    b = evaluate_model(models["single"], "single", data, 100)
    assert a.shift == b.shift and a.ood == b.ood
    # a single model: mutual information is exactly zero, so it cannot tell OOD by it
    assert all(r["mutual_info"] == 0.0 for r in a.shift)
    mi = next(r for r in a.ood if r["score"] == "mutual_info")
    assert mi["auroc"] == 0.5


def test_temperature_scaling_is_reported_beside_the_raw_metrics(ds, models) -> None:
    train, val = hold_out(ds, 100, seed=0)
    m = models["single"]
    with torch.no_grad():  # an overconfident copy: logits x 10
        hot = build_model("single", CFG)
        hot.load_state_dict(m.state_dict())
        last = [p for p in hot.parameters()][-2:]
        for p in last:
            p.mul_(10)
    data = prepare(train, corruptions=("contrast",), severities=(2,), val=val, chunk=128)
    res = evaluate_model(hot, "single", data, 100)
    clean = res.shift[0]
    assert res.temperature is not None and res.temperature > 1
    assert clean["temperature"] == res.temperature
    assert {"nll", "nll_ts", "ece", "ece_ts", "acc", "acc_ts"} <= set(clean)
    assert clean["acc_ts"] == clean["acc"]  # one member: dividing logits keeps the argmax
    assert clean["nll"] != clean["nll_ts"]


def test_hold_out_splits_the_training_set(ds) -> None:
    train, val = hold_out(ds, 50, seed=1)
    assert len(val) == 50 and len(train.train) == 350 and train.test is ds.test
    rows = {tuple(r.tolist()) for r in ds.train.x.flatten(1)[:, :64]}
    got = {tuple(r.tolist()) for r in torch.cat([train.train.x, val.x]).flatten(1)[:, :64]}
    assert got == rows  # nothing lost, nothing doubled
    with pytest.raises(ValueError, match="val_size"):
        hold_out(ds, 400, seed=0)


def test_expand_corruptions() -> None:
    benchmark = tuple(n for n in CORRUPTION_NAMES if n not in ("speckle_noise", "gaussian_blur"))
    assert expand_corruptions(("all",)) == benchmark and len(benchmark) == 14  # frost: none
    assert expand_corruptions(("contrast", "all"))[0] == "contrast"
    assert len(expand_corruptions(("contrast", "all"))) == 14
    assert expand_corruptions(("extra", "all")) == ("speckle_noise", "gaussian_blur", *benchmark)


def test_generated_ood_sets_are_deterministic() -> None:
    for name in ("uniform", "gaussian", "synthetic"):
        a, b = load_ood(name, 20, seed=3), load_ood(name, 20, seed=3)
        assert a.dtype == torch.uint8 and a.shape == (20, 3, 32, 32)
        assert torch.equal(a, b)
    assert not torch.equal(load_ood("uniform", 20, seed=3), load_ood("uniform", 20, seed=4))
    g = load_ood("gaussian", 50).float()
    assert abs(float(g.mean()) - 127.5) < 3 and abs(float(g.std()) - 0.25 * 255) < 4


def test_ood_folder_of_images(tmp_path) -> None:
    for i in range(5):
        sub = tmp_path / ("a" if i % 2 else "b")
        sub.mkdir(exist_ok=True)
        Image.new("RGB", (40, 20), (i * 40, 10, 200)).save(sub / f"{i}.png")
    x = load_ood(str(tmp_path), 100)
    assert x.shape == (5, 3, 32, 32) and x.dtype == torch.uint8
    assert load_ood(str(tmp_path), 3).shape[0] == 3


def test_bad_ood_input_names_the_field(tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(DatasetError, match=r"^ood: .* holds no images"):
        load_ood(str(tmp_path), 10)
    with pytest.raises(DatasetError, match=r"^ood: .*neither an OOD set"):
        load_ood(str(tmp_path / "missing"), 10)
    (tmp_path / "bad.png").write_text("not a png")
    with pytest.raises(DatasetError, match=r"^ood: cannot read image"):
        load_ood(str(tmp_path), 10)
    with pytest.raises(DatasetError, match=r"^ood: CIFAR-10 is not in .*by hand"):
        load_ood("cifar10", 10, data_dir=tmp_path)
    with pytest.raises(DatasetError, match=r"^ood: SVHN is not in .*test_32x32.mat"):
        load_ood("svhn", 10, data_dir=tmp_path, download=False)
    assert set(OOD_NAMES) == {"uniform", "gaussian", "synthetic", "cifar10", "svhn"}


def test_cifar10_ood_set_is_read_from_disk(tmp_path) -> None:
    import pickle

    import numpy as np

    from bedash.data.cifar10 import CIFAR10_FILES, CIFAR10_FOLDER

    folder = tmp_path / CIFAR10_FOLDER
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in CIFAR10_FILES:
        batch = {"data": rng.integers(0, 256, (20, 3072), dtype=np.uint8),
                 "labels": [int(v) for v in rng.integers(0, 10, 20)]}  # fmt: skip
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    x = load_ood("cifar10", 15, data_dir=tmp_path)
    assert x.shape == (15, 3, 32, 32)


def write_svhn(path, images) -> None:
    """An SVHN test file as the published one is laid out: X is (32, 32, 3, N) uint8,
    y is (N, 1) with digit 0 labelled 10."""
    import numpy as np
    import scipy.io

    path.parent.mkdir(parents=True, exist_ok=True)
    labels = (np.arange(len(images)) % 10 + 1).reshape(-1, 1)
    scipy.io.savemat(path, {"X": images.transpose(2, 3, 1, 0), "y": labels})


def test_svhn_placed_by_hand_is_read_image_for_image(tmp_path, monkeypatch) -> None:
    """A test_32x32.mat placed by hand is read as it is (torchvision's own class would refuse
    a file whose MD5 is not the published one) and never downloaded again; images come back
    as (N, 3, 32, 32) with row, column and channel where they were, at most n of them spread
    evenly over the set."""
    import numpy as np
    import torchvision.datasets

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("went to the network")

    monkeypatch.setattr(torchvision.datasets, "SVHN", no_network)
    images = np.random.default_rng(0).integers(0, 256, (7, 3, 32, 32), dtype=np.uint8)
    images[2, 1, 5, 9] = 201  # one known pixel: image 2, green, row 5, column 9
    write_svhn(tmp_path / "svhn" / "test_32x32.mat", images)
    for download in (True, False):
        x = load_ood("svhn", 100, data_dir=tmp_path, download=download)
        assert x.dtype == torch.uint8 and x.shape == (7, 3, 32, 32)
        assert torch.equal(x, torch.from_numpy(images)) and int(x[2, 1, 5, 9]) == 201
    assert torch.equal(load_ood("svhn", 3, data_dir=tmp_path), torch.from_numpy(images[[0, 3, 6]]))


def test_svhn_is_downloaded_into_the_data_folder_when_missing(tmp_path, monkeypatch) -> None:
    """Without the file, torchvision downloads it into DATA_DIR/svhn (faked here: it writes
    the file); a failed download says how to place the file by hand."""
    import numpy as np
    import torchvision.datasets

    images = np.full((4, 3, 32, 32), 77, dtype=np.uint8)
    calls = []

    def fake_svhn(root: str, split: str, download: bool) -> None:
        calls.append((root, split, download))
        write_svhn(Path(root) / "test_32x32.mat", images)

    monkeypatch.setattr(torchvision.datasets, "SVHN", fake_svhn)
    x = load_ood("svhn", 10, data_dir=tmp_path)
    assert calls == [(str(tmp_path / "svhn"), "test", True)]
    assert torch.equal(x, torch.from_numpy(images))

    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("no route to host")

    monkeypatch.setattr(torchvision.datasets, "SVHN", offline)
    with pytest.raises(DatasetError, match=r"^ood: SVHN could not be downloaded \(no route to host"
                                           r"\)\. Download .* by hand"):  # fmt: skip
        load_ood("svhn", 10, data_dir=tmp_path / "elsewhere")


@pytest.mark.parametrize(
    ("content", "text"),
    [
        (b"not a mat file at all", "could not be read as SVHN"),
        (None, r"is not SVHN's format \(X: 32 x 32 x 3 x N, uint8; it has X of shape "
               r"\(28, 28, 1, 5\), uint8\)"),
    ],
)  # fmt: skip
def test_a_damaged_svhn_file_gets_a_message_naming_it(tmp_path, content, text) -> None:
    import numpy as np
    import scipy.io

    path = tmp_path / "svhn" / "test_32x32.mat"
    path.parent.mkdir()
    if content is None:  # MNIST-shaped images in the file
        scipy.io.savemat(path, {"X": np.zeros((28, 28, 1, 5), dtype=np.uint8)})
    else:
        path.write_bytes(content)
    with pytest.raises(DatasetError, match=r"^ood: .*test_32x32\.mat " + text + ".*by hand"):
        load_ood("svhn", 10, data_dir=tmp_path, download=False)


# -- a whole run: the flags, the files -----------------------------------------------------------


def _csv(path):
    import csv

    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_run_writes_the_uncertainty_files(tmp_path, tiny_cfg, monkeypatch) -> None:
    from bedash.experiment import run_experiment

    real = evaluation.corrupt
    calls: Counter[tuple[str, int]] = Counter()
    monkeypatch.setattr(evaluation, "corrupt",
                        lambda x, n, s, g: calls.update([(n, s)]) or real(x, n, s, g))  # fmt: skip
    cfg = tiny_cfg.replace(models=("batchensemble", "single"), shift="contrast,pixelate",
                           severities="1,5", ood="uniform", temperature_scaling=True,
                           val_size=56)  # fmt: skip
    res = run_experiment(cfg, tmp_path / "run")
    assert res.status == "finished"
    # each shifted set built once (128 test images: one chunk), for both kinds
    assert calls == {(n, s): 1 for n in ("contrast", "pixelate") for s in (1, 5)}
    run = tmp_path / "run"
    meta = __import__("json").loads((run / "config.json").read_text())["_meta"]
    assert meta["train_images"] == 200  # 256 - 56 held out for the temperature
    shift_rows = _csv(run / "shift.csv")
    assert list(shift_rows[0]) == SHIFT_COLUMNS
    for kind in ("batchensemble", "single"):
        rows = [r for r in shift_rows if r["model"] == kind]
        assert [(r["corruption"], r["severity"]) for r in rows] == [
            ("clean", "0"), ("contrast", "1"), ("contrast", "5"), ("pixelate", "1"),
            ("pixelate", "5"), ("mean", "1"), ("mean", "5"), ("mean_digital", "1"),
            ("mean_digital", "5"),
        ]  # fmt: skip
        assert all(float(r["temperature"]) > 0 and r["nll_ts"] for r in rows)
        clean_acc = float(rows[0]["acc"])
        result = next(r for r in res.rows if r["model"] == kind)
        assert clean_acc == pytest.approx(result["ensemble_acc"])  # the same clean test set
    assert all(float(r["mutual_info"]) == 0 for r in shift_rows if r["model"] == "single")
    ood_rows = _csv(run / "ood.csv")
    assert list(ood_rows[0]) == OOD_COLUMNS and len(ood_rows) == 2 * 2
    selective = _csv(run / "selective.csv")
    assert list(selective[0]) == SELECTIVE_COLUMNS and len(selective) == 2 * 100
    hist = _csv(run / "uncertainty_batchensemble.csv")
    assert list(hist[0]) == UNCERTAINTY_COLUMNS
    assert {r["set"] for r in hist} == {IN_DISTRIBUTION, "uniform"}
    assert (run / "uncertainty_single.csv").is_file()


def test_a_run_without_the_options_writes_none_of_them(tmp_path, tiny_cfg) -> None:
    from bedash.experiment import run_experiment

    run_experiment(tiny_cfg.replace(models=("single",)), tmp_path / "run")
    for name in ("shift.csv", "ood.csv", "selective.csv", "uncertainty_single.csv"):
        assert not (tmp_path / "run" / name).exists()


@pytest.mark.parametrize(
    ("changes", "field", "text"),
    [
        ({"shift": "fogg"}, "shift", "unknown corruption 'fogg'; allowed: all, extra, gaus"),
        ({"shift": "all,frost"}, "shift", "'frost' cannot be made here: frost is left out"),
        ({"shift": "all,nope"}, "shift", "unknown corruption 'nope'"),
        ({"severities": "0-5"}, "severities", "must be severities from 1 to 5"),
        ({"severities": "6"}, "severities", "must be severities from 1 to 5"),
        ({"severities": "2-x"}, "severities", "must be severities from 1 to 5"),
        ({"ood": "nowhere/at/all"}, "ood", "unknown OOD set 'nowhere/at/all'"),
        ({"ood": "synthetic"}, "ood", "'synthetic' is the run's own dataset"),
        ({"temperature_scaling": True, "val_size": 256}, "val_size",
         "must be smaller than the training set (256 images; got 256)"),
    ],
)  # fmt: skip
def test_bad_settings_name_their_field_before_anything_is_written(
    tmp_path, tiny_cfg, changes, field, text
) -> None:
    from bedash.experiment import run_experiment
    from bedash.names import ConfigError

    with pytest.raises(ConfigError) as e:
        run_experiment(tiny_cfg.replace(**changes), tmp_path / "run")
    assert e.value.field == field and text in e.value.message
    assert not (tmp_path / "run").exists()


def test_val_size_is_checked_against_the_loaded_training_set(tmp_path, tiny_cfg) -> None:
    from bedash.experiment import run_experiment
    from bedash.names import ConfigError

    cfg = tiny_cfg.replace(train_size=None, temperature_scaling=True, val_size=300)
    small = synthetic(n_train=100, n_test=50)
    with pytest.raises(ConfigError, match=r"val_size: must be smaller than the training set"):
        run_experiment(cfg, tmp_path / "run", dataset=small)
    assert not (tmp_path / "run").exists()


def test_an_ood_folder_that_is_not_images_fails_before_training(tmp_path, tiny_cfg) -> None:
    from bedash.experiment import run_experiment

    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "a.txt").write_text("no image")
    with pytest.raises(DatasetError, match=r"^ood: .*holds no images"):
        run_experiment(tiny_cfg.replace(ood=str(folder)), tmp_path / "run")
    assert not (tmp_path / "run").exists()
