"""The Uncertainty section under streamlit's AppTest, on a real tiny run folder trained here:
what it draws from the run's files, its downloads, and what a damaged or missing file shows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from bedash.settings.config import RunConfig

ROOT = Path(__file__).resolve().parents[1]


def section(path: Path) -> AppTest:
    script = (
        f"ROOT_DIR = {str(ROOT)!r}\nRUN_PATH = {str(path)!r}\n"
        "import sys\nsys.path.insert(0, ROOT_DIR)\n"
        "from pathlib import Path\n"
        "from bedash.dashboard.uncertainty_view import uncertainty_section\n"
        "uncertainty_section(Path(RUN_PATH))\n"
    )
    return AppTest.from_string(script, default_timeout=60).run()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny run with two corruptions, two OOD sets and temperature scaling."""
    from bedash.experiment import run_experiment

    path = tmp_path_factory.mktemp("unc") / "20260101-000000-abcdef"
    cfg = RunConfig(
        dataset="synthetic", train_size=256, test_size=128, epochs=1, hidden=8, members=2,
        batch_size=64, device="cpu", models=("batchensemble", "single"),
        shift="contrast,gaussian_noise", severities="1-5", ood="uniform,gaussian",
        temperature_scaling=True,
    )  # fmt: skip
    assert run_experiment(cfg, path).status == "finished"
    return path


@pytest.fixture
def run(tmp_path: Path, trained: Path) -> Path:
    """A copy of the trained run that a test may damage."""
    return Path(shutil.copytree(trained, tmp_path / trained.name))


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def text_of(at: AppTest) -> str:
    parts = [e.value for e in (*at.markdown, *at.caption, *at.warning, *at.info)]
    return "\n".join(str(p) for p in parts)


def test_the_section_draws_every_part_from_the_run_files(run: Path) -> None:
    at = section(run)
    assert not at.exception
    assert not at.warning
    shift_fig, hist_fig, cov_fig = charts(at)
    shift = pd.read_csv(run / "shift.csv")
    be = shift[(shift.model == "batchensemble") & shift.corruption.isin(["clean", "mean"])]
    acc = next(t for t in shift_fig["data"] if t["name"] == "BatchEnsemble")
    assert acc["x"] == [0, 1, 2, 3, 4, 5]
    assert acc["y"] == pytest.approx(be.sort_values("severity")["acc"].tolist())
    names = {t["name"] for t in shift_fig["data"]}
    assert {"Single model", "BatchEnsemble (temperature-scaled)"} <= names
    # the OOD table: every row of ood.csv, models by name, but the single model's mutual
    # information (0 by definition: left out, the reason said once)
    ood = pd.read_csv(run / "ood.csv")
    assert len(ood) == 2 * 2 * 2  # models x sets x scores
    ood = ood[~((ood.model == "single") & (ood.score == "mutual_info"))]
    table = at.dataframe[-1].value
    assert len(table) == len(ood) == 6
    assert table["AUROC"].tolist() == pytest.approx(
        ood.sort_values("model", key=lambda s: s.map({"batchensemble": 0, "single": 1}),
                        kind="stable")["auroc"].tolist()
    )  # fmt: skip
    assert sum("by definition" in c.value for c in at.caption) == 1
    hist_names = {t["name"] for t in hist_fig["data"]}
    assert hist_names == {"in-distribution (clean test)", "OOD: uniform", "OOD: gaussian"}
    assert {t["name"].split(" (AURC")[0] for t in cov_fig["data"]} == {
        "BatchEnsemble", "Single model",
    }  # fmt: skip
    downloads = {d.label for d in at.get("download_button")}
    assert downloads == {"shift.csv", "ood.csv", "selective.csv", "uncertainty_batchensemble.csv"}


def test_picking_a_corruption_and_a_model_redraws(run: Path) -> None:
    at = section(run)
    at.selectbox(key="unc_corruption").select("contrast").run()
    at.selectbox(key="unc_hist_model").select("single").run()
    shift = pd.read_csv(run / "shift.csv")
    rows = shift[(shift.model == "single") & shift.corruption.isin(["clean", "contrast"])]
    acc = next(t for t in charts(at)[0]["data"] if t["name"] == "Single model")
    assert acc["y"] == pytest.approx(rows.sort_values("severity")["acc"].tolist())
    assert "uncertainty_single.csv" in {d.label for d in at.get("download_button")}
    bars = [t for t in charts(at)[1]["data"] if t["type"] == "bar"]
    assert bars[0]["marker"]["color"] == "#009E73"  # the single model's colour


def test_a_damaged_file_gives_a_short_message_and_the_rest_still_shows(run: Path) -> None:
    text = (run / "ood.csv").read_text().splitlines()
    text[1] = text[1].replace(text[1].split(",")[3], "abc", 1)
    (run / "ood.csv").write_text("\n".join(text) + "\n")
    (run / "selective.csv").write_text("model,coverage\nsingle,0.5")  # truncated
    at = section(run)
    assert not at.exception
    warnings = [w.value.replace("\\", "") for w in at.warning]  # plain() escapes punctuation
    assert len(warnings) == 2
    assert any("ood.csv line 2" in w and "auroc" in w for w in warnings)
    assert any("selective.csv" in w and "truncated" in w for w in warnings)
    assert "OOD sets: not measured" in text_of(at)
    assert "Accuracy against coverage: not measured" in text_of(at)
    assert len(charts(at)) == 2  # shift and histograms still drawn
    assert {d.label for d in at.get("download_button")} == {
        "shift.csv", "uncertainty_batchensemble.csv",
    }  # fmt: skip


def test_a_run_without_the_evaluation_says_how_to_get_it(tmp_path: Path) -> None:
    (tmp_path / "results.csv").write_text("model,status\nsingle,finished\n")
    at = section(tmp_path)
    assert not at.exception
    assert "train with --shift" in at.info[0].value
    assert not at.get("plotly_chart")


def test_a_file_that_is_a_folder_or_of_another_model_is_reported(run: Path) -> None:
    (run / "shift.csv").unlink()
    (run / "shift.csv").mkdir()
    shutil.copy(run / "uncertainty_single.csv", run / "uncertainty_batchensemble.csv")
    at = section(run)
    assert not at.exception
    warnings = " ".join(w.value.replace("\\", "") for w in at.warning)
    assert "shift.csv is a folder" in warnings
    assert "uncertainty_batchensemble.csv holds rows of another model" in warnings
