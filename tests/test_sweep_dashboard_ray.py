"""The dashboard's default sweep path end to end: a registry job runs `python -m bedash sweep`
in a child process, which starts a local Ray (this machine only) and runs every cell as a task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bedash.dashboard.sweepjobs import submit_sweep
from bedash.jobs.executor import Executor
from bedash.settings.config import RunConfig
from bedash.sweep.grid import SweepSpec

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_a_registry_sweep_on_ray_runs_every_cell_as_a_ray_task(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    base = RunConfig(dataset="synthetic", train_size=200, test_size=100, epochs=1, hidden=8,
                     members=2, models=("batchensemble", "single"), device="cpu")  # fmt: skip
    reg = Executor(tmp_path)
    handle = submit_sweep(reg, SweepSpec(base, {"members": [2, 3]}, [0]), "sweep-ray",
                          engine="ray")  # fmt: skip
    job = reg.wait(handle.job_id, 540)
    assert job.status == "finished", (job.error, job.message)
    assert job.message == "2 of 2 cells done"
    state = json.loads((tmp_path / "sweep-ray" / "sweep.json").read_text())
    assert state["status"] == "finished" and state["engine"]["name"] == "ray"
    for cell in state["cells"]:
        assert cell["status"] == "finished"
        meta = json.loads((tmp_path / "sweep-ray" / cell["id"] / "config.json").read_text())
        assert meta["_meta"]["sweep"]["node"] not in ("", "local")  # a Ray node id
        # the Ray bedash starts runs its workers at train's priority, not Ray's nice 15
        assert cell["niceness"] == 0 and meta["_meta"]["sweep"]["niceness"] == 0
        assert cell["progress"]["model"] == "single" and cell["progress"]["epoch"] == 1
    assert (tmp_path / "sweep-ray" / "paired.csv").is_file()
    assert reg.shutdown(30)
