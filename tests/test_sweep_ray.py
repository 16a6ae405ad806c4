"""Sweeps on a real Ray cluster of two nodes on this machine (ray.cluster_utils.Cluster, as
Ray's own tests do). Ray binds only this machine's own address; no other host is contacted."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bedash.settings.config import RunConfig
from bedash.store.runs import read_run
from bedash.sweep.folder import read_sweep_json
from bedash.sweep.grid import SweepSpec
from bedash.sweep.run import SweepEvent, run_sweep

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
TINY = ["--dataset", "synthetic", "--train-size", "300", "--test-size", "100", "--epochs", "1",
        "--hidden", "16", "--device", "cpu"]  # fmt: skip


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    store = 80 * 2**20  # small object stores: the cells' results are a few kB
    c = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "include_dashboard": False, "object_store_memory": store})  # fmt: skip
    c.add_node(num_cpus=1, object_store_memory=store)
    c.wait_for_nodes()
    c.auth_mode = os.environ.get("RAY_AUTH_MODE") or "disabled"  # what the head was started with
    yield c
    c.shutdown()


def test_two_node_sweep_with_address(cluster: Any, tmp_path: Path) -> None:
    out = tmp_path / "sw"
    cmd = [sys.executable, "-m", "bedash.sweep.cli", *TINY, "--members", "2,3",
           "--lr", "0.001,0.01", "--seeds", "0-1", "--address", cluster.address,
           "--out", str(out)]  # fmt: skip
    # the driver speaks the head's auth mode: one without token auth, sent a token (as any in
    # ~/.ray is), runs tasks but kills actors, the progress queue's included
    env = {**os.environ, "RAY_AUTH_MODE": cluster.auth_mode}
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = read_sweep_json(out)
    nodes = {n["node"] for n in state["engine"]["nodes"]}
    assert len(nodes) == 2 and state["engine"]["address"] == cluster.address
    assert len(state["cells"]) == 8 and state["status"] == "finished"
    seen = set()
    for cell in state["cells"]:
        assert cell["status"] == "finished", cell
        run = read_run(out / cell["id"])
        assert run.status == "finished"
        assert [r["model"] for r in run.results] == ["batchensemble", "ensemble", "single"]
        assert (run.config["members"], run.config["lr"], run.config["seed"]) == (
            cell["values"]["members"], cell["values"]["lr"], cell["seed"])  # fmt: skip
        meta = run.config["_meta"]["sweep"]
        assert meta["node"] == cell["node"] and meta["node"] in nodes
        # progress came through the queue; the cluster's workers run at Ray's nice 15
        assert cell["progress"]["model"] == "single" and cell["progress"]["epochs"] == 1
        assert cell["niceness"] == 15 and {r["niceness"] for r in run.results} == {15}
        assert meta["runs_per_node"] == 1 and meta["concurrent_runs"] == 1  # 1 CPU per node
        seen.add(meta["node"])
    assert seen == nodes  # cells ran on both nodes
    with (out / "paired.csv").open() as f:
        paired = list(csv.DictReader(f))
    acc = [r for r in paired if r["metric"] == "ensemble_acc"]
    assert len(acc) == 4 * 2 and {r["n"] for r in acc} == {"2"}  # 4 configs x 2 baselines
    times = [r for r in paired if r["metric"] == "train_seconds"]
    assert times and all(r["verdict"].startswith("not compared: ") for r in times)
    assert all("measured at nice 15" in r["timing"] for r in times)
    assert "sweep finished: 8/8 cells done" in proc.stdout


def test_cancel_interrupts_running_cells_and_frees_the_cluster(
    cluster: Any, tmp_path: Path
) -> None:
    from bedash.sweep.cli import train
    from bedash.sweep.engines import RayEngine

    long = RunConfig(dataset="synthetic", train_size=2000, test_size=100, epochs=10_000,
                     hidden=16, members=2, device="cpu")  # fmt: skip
    engine = RayEngine(train, address=cluster.address)
    cancel = threading.Event()
    started: list[str] = []

    def on_event(ev: SweepEvent) -> None:
        if ev.kind == "started":
            started.append(ev.cell_id)
            if len(started) == 2:  # both nodes busy: cancel a moment later
                threading.Timer(3.0, cancel.set).start()

    try:
        engine.connect()
        t0 = time.monotonic()
        result = run_sweep(SweepSpec(long, {}, [0, 1, 2]), tmp_path / "long", engine,
                           cancel=cancel, on_event=on_event)  # fmt: skip
        assert time.monotonic() - t0 < 120
        assert result.status == "interrupted"
        statuses = [c["status"] for c in read_sweep_json(tmp_path / "long")["cells"]]
        assert statuses == ["interrupted", "interrupted", "pending"]
        # the cancelled tasks gave their CPUs back: a tiny sweep runs on the same nodes now,
        # two runs per node (half a CPU each), and each run records that concurrency
        tiny = RunConfig(dataset="synthetic", train_size=200, test_size=50, epochs=1, hidden=8,
                         members=2, device="cpu", models=("batchensemble", "single"))  # fmt: skip
        shared = RayEngine(train, address=cluster.address, cpus_per_run=0.5)
        shared.connect()  # Ray is up already: this only plans the slots
        assert [n.slots for n in shared.nodes] == [2, 2]
        done = run_sweep(SweepSpec(tiny, {}, [0, 1, 2, 3]), tmp_path / "tiny", shared)
        errors = [c.get("error") for c in read_sweep_json(tmp_path / "tiny")["cells"]]
        assert done.status == "finished" and done.counts["finished"] == 4, errors
    finally:
        engine.close()
    for seed in range(4):
        meta = json.loads((tmp_path / "tiny" / f"c00_s{seed}" / "config.json").read_text())
        sweep = meta["_meta"]["sweep"]
        assert sweep["engine"] == "ray" and sweep["cpus_per_run"] == 0.5
        assert (sweep["runs_per_node"], sweep["concurrent_runs"]) == (2, 2)  # all four at once
