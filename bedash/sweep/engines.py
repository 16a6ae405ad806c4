"""The back ends that run a sweep job's cells: Ray core tasks (a laptop, a cluster), or in-process.

An engine calls started(cell_id, info), progress(cell_id, state) while the cell trains, and
ended(outcome, info) per cell; info says where and under what concurrency it ran. Each cell
runs `train` (handed in, so this module does not import the training code). Where the sweep
folder is on the cell's machine (the local engine; Ray on the driver's machine) the cell's run
writes its folder there as it goes, through the run store's writer; elsewhere it runs into a
temporary folder and returns the run's files, and its progress travels through a Ray queue.
Importing this module imports neither torch nor ray.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bedash.settings.limits import DEFAULT_LIMITS, Limits
from bedash.sweep.cell import Folder, Train, folder_key, here, run_cell
from bedash.sweep.grid import Cell, CellOutcome, Ended, Progress, Started, SweepError

OBJECT_STORE_BYTES = 100 * 2**20  # results are a few CSVs per cell; Ray's default is 30% of RAM
QUEUE_SIZE = 10_000  # progress reports waiting for the driver (a full queue drops them)
NICENESS = "RAY_worker_niceness"  # read by the raylet as it starts (a cluster's: its own)
CONNECT_TIMEOUT = 25.0  # seconds: an unreachable --address fails well within 30 s


# -- in-process --------------------------------------------------------------------------------


class LocalEngine:
    """Cells one after another in this process (the demo profile; tests). No Ray."""

    name = "local"

    def __init__(self, train: Train, limits: Limits = DEFAULT_LIMITS, download: bool = True):
        self.train, self.limits, self.download = train, limits, download

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "host": socket.gethostname(), "runs_at_once": 1}

    def run(
        self,
        cells: list[Cell],
        *,
        started: Started,
        ended: Ended,
        cancel: threading.Event,
        progress: Progress | None = None,
        folder: Path | None = None,
    ) -> None:
        """The cells in order; with folder (the sweep's), each writes its run there."""
        info = {"runs_per_node": 1, "concurrent_runs": 1, "exclusive": True}
        for cell in cells:
            if cancel.is_set():
                return
            started(cell.id, {**info, "node": "local", "host": socket.gethostname()})
            config, place = cell.config.to_dict(), folder / cell.id if folder else None
            outcome = run_cell(
                cell.id,
                config,
                self.train,
                self.limits,
                cancel=cancel,
                download=self.download,
                place=place,
                progress=progress,
            )
            outcome.node = "local"
            ended(outcome, info)

    def close(self) -> None:
        pass


# -- Ray ---------------------------------------------------------------------------------------


@dataclass
class Node:
    node_id: str
    host: str
    address: str
    cpus: float
    gpus: float
    slots: int  # runs at once on this node
    task_cpus: float
    task_gpus: float


NODE_KEYS = ("host", "address", "cpus", "gpus", "slots")  # what describe() shows of a Node


def ray_task(
    train: Train,
    cell_id: str,
    config: dict[str, Any],
    limits: Limits,
    threads: int,
    download: bool = True,
    folder: Folder | None = None,
    queue: Any = None,
) -> CellOutcome:
    """What each Ray task runs (train travels by reference: its module is on the worker). On
    the sweep folder's machine the cell writes there; its progress goes into the queue."""
    place = (root / cell_id) if (root := here(folder)) else None
    # `is not None`: an empty ray.util.queue.Queue is falsy (it has a length)
    send = (lambda cid, state: queue.put((cid, state), block=False)) if queue is not None else None
    return run_cell(cell_id, config, train, limits, threads, download=download, place=place,
                    progress=send)  # fmt: skip


class RayEngine:
    """Each cell a Ray task, placed by the driver on a node with a free slot (node affinity),
    so the driver knows every run's concurrency and `exclusive` means one run per node.

    Default placement: one run per node at a time, using all its CPUs (torch uses them),
    unless --cpus-per-run or --gpus-per-run ask for more runs per node."""

    name = "ray"

    def __init__(
        self,
        train: Train,
        *,
        address: str | None = None,
        cpus_per_run: float | None = None,
        gpus_per_run: float | None = None,
        exclusive: bool = False,
        dashboard: bool = False,
        logs: bool = False,
        use_gpu: bool = True,
        limits: Limits = DEFAULT_LIMITS,
        connect_timeout: float = CONNECT_TIMEOUT,
        download: bool = True,
    ) -> None:
        for flag, value in (("cpus_per_run", cpus_per_run), ("gpus_per_run", gpus_per_run)):
            if value is not None and (not math.isfinite(value) or value < 0):
                raise SweepError(flag, f"must be a number >= 0 (got {value})")
        if cpus_per_run == 0 and not gpus_per_run:
            raise SweepError("cpus_per_run", "must be > 0 unless --gpus-per-run is given")
        self.address = address if address is not None else os.environ.get("RAY_ADDRESS") or None
        self.cpus_per_run, self.gpus_per_run = cpus_per_run, gpus_per_run
        self.exclusive, self.dashboard, self.logs = exclusive, dashboard, logs
        self.use_gpu, self.limits, self.connect_timeout = use_gpu, limits, connect_timeout
        self.train = train
        self.download = download  # False: the cells download nothing (--no-download)
        self.nodes: list[Node] = []
        self._started_ray = False

    # connection

    def connect(self) -> None:
        """ray.init (local, or the cluster at address) and plan the slots per node."""
        import ray

        if not ray.is_initialized():
            if self.address and self.address != "auto":
                _check_reachable(self.address, min(self.connect_timeout, 10.0))
            self._init(ray)
        self.nodes = self._plan(ray.nodes())

    def _init(self, ray: Any) -> None:
        package = str(Path(__file__).resolve().parents[1])  # bedash (this file is in bedash/sweep)
        kwargs: dict[str, Any] = {"log_to_driver": self.logs, "logging_level": "ERROR"}
        if self.address:
            # the package travels with the job: cluster nodes need only torch
            kwargs.update(address=self.address, runtime_env={"py_modules": [package]})
        else:
            kwargs.update(
                num_cpus=os.cpu_count() or 1,
                include_dashboard=self.dashboard,
                object_store_memory=OBJECT_STORE_BYTES,
                runtime_env={"env_vars": {"PYTHONPATH": pythonpath(Path(package).parent)}},
            )
        where = f"the Ray cluster at {self.address}" if self.address else "a local Ray instance"
        # Ray starts task workers at nice 15 (worker_niceness), `bedash train` runs at 0: the
        # raylet a local ray.init starts takes the variable, and its workers are timed at 0
        nice = {} if self.address or NICENESS in os.environ else {NICENESS: "0"}
        os.environ.update(nice)
        try:  # in the main thread: ray.init blocks forever in any other
            ray.init(**kwargs)
        except Exception as e:
            raise SweepError(
                "address", f"cannot start or reach {where}: {_first_line(e)}"
            ) from None
        finally:
            for name in nice:  # this process's environment as it was
                os.environ.pop(name)
        self._started_ray = True

    def _plan(self, nodes: list[dict[str, Any]]) -> list[Node]:
        alive = [n for n in nodes if n.get("Alive")]
        any_gpu = any(n.get("Resources", {}).get("GPU", 0) > 0 for n in alive)
        gpus = self.gpus_per_run
        if gpus is None:
            gpus = 1.0 if self.use_gpu and any_gpu else 0.0
        plan = []
        for n in alive:
            res = n.get("Resources", {})
            cpus, ngpu = float(res.get("CPU", 0)), float(res.get("GPU", 0))
            task_cpus = self.cpus_per_run
            if task_cpus is None:
                task_cpus = 1.0 if gpus else cpus
            if (task_cpus and task_cpus > cpus + 1e-9) or (gpus and gpus > ngpu + 1e-9):
                continue
            slots = math.floor(cpus / task_cpus + 1e-9) if task_cpus else 10**6
            if gpus:
                slots = min(slots, math.floor(ngpu / gpus + 1e-9))
            if self.exclusive:
                slots = min(slots, 1)
            if slots < 1:
                continue
            host, addr = n.get("NodeManagerHostname", ""), n.get("NodeManagerAddress", "")
            plan.append(Node(n["NodeID"], host, addr, cpus, ngpu, slots, task_cpus, gpus))
        if not plan:
            best_cpu = max((n.get("Resources", {}).get("CPU", 0) for n in alive), default=0)
            best_gpu = max((n.get("Resources", {}).get("GPU", 0) for n in alive), default=0)
            if gpus and gpus > best_gpu:
                raise SweepError(
                    "gpus_per_run", f"no node has {gpus:g} GPUs (the most on a node: {best_gpu:g})"
                )
            raise SweepError(
                "cpus_per_run",
                f"no node has {self.cpus_per_run:g} CPUs (the most on a node: {best_cpu:g})",
            )
        return plan

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "address": self.address or "local",
            "cpus_per_run": self.cpus_per_run,
            "gpus_per_run": self.gpus_per_run,
            "exclusive": self.exclusive,
            "runs_at_once": sum(n.slots for n in self.nodes),
            "nodes": [
                {"node": n.node_id, **{k: getattr(n, k) for k in NODE_KEYS}} for n in self.nodes
            ],
        }

    # running

    def run(
        self,
        cells: list[Cell],
        *,
        started: Started,
        ended: Ended,
        cancel: threading.Event,
        progress: Progress | None = None,
        folder: Path | None = None,
    ) -> None:
        """Cells as Ray tasks; their progress through a ray.util.queue.Queue (an actor of no
        CPU) drained here; a worker that sees the sweep folder writes its cell's run there."""
        import ray
        from ray.exceptions import TaskCancelledError
        from ray.util.queue import Queue
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        if not self.nodes:
            self.connect()
        remote = ray.remote(max_retries=0)(ray_task)
        reports = Queue(QUEUE_SIZE, actor_options={"num_cpus": 0}) if progress else None
        where = folder_key(folder) if folder else None
        queue = deque(cells)
        inflight: dict[Any, tuple[Cell, Node]] = {}
        on_node: dict[str, set[str]] = {n.node_id: set() for n in self.nodes}
        peak: dict[str, int] = {}

        def info(cell_id: str, node: Node) -> dict[str, Any]:
            return {
                "node": node.node_id,
                "host": node.host,
                "runs_per_node": node.slots,
                "concurrent_runs": peak.get(cell_id, 1),
                "cpus_per_run": node.task_cpus,
                "gpus_per_run": node.task_gpus,
                "exclusive": self.exclusive,
            }

        def submit(cell: Cell, node: Node) -> None:
            threads = max(1, int(node.task_cpus))
            ref = remote.options(
                num_cpus=node.task_cpus,
                num_gpus=node.task_gpus,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node.node_id, soft=False),
            ).remote(self.train, cell.id, cell.config.to_dict(), self.limits, threads,
                     self.download, where, reports)  # fmt: skip
            inflight[ref] = (cell, node)
            running = on_node[node.node_id]
            running.add(cell.id)
            for cid in running:  # everything on the node now runs beside len(running) - 1 others
                peak[cid] = max(peak.get(cid, 1), len(running))
            started(cell.id, info(cell.id, node))

        def finish(outcome: CellOutcome, cell: Cell, node: Node) -> None:
            outcome.node, outcome.host = outcome.node or node.node_id, outcome.host or node.host
            ended(outcome, info(cell.id, node))

        def drain() -> None:
            nonlocal reports
            try:
                n = reports.qsize() if reports is not None else 0
                items = reports.get_nowait_batch(n) if n and reports is not None else []
            except Exception:  # the queue's actor died: the cells go on, unheard until they end
                items, reports = [], None
            for cell_id, state in items:
                if progress is not None:
                    progress(cell_id, state)

        def fill() -> None:
            while queue:
                free = [n for n in self.nodes if len(on_node[n.node_id]) < n.slots]
                if not free:
                    return
                # the least loaded node first, so a 2-node cluster alternates
                node = min(free, key=lambda n: len(on_node[n.node_id]) / n.slots)
                submit(queue.popleft(), node)

        try:
            fill()
            while inflight:
                if cancel.is_set():
                    # force: the worker process exits. A KeyboardInterrupt can land while a
                    # fresh worker imports torch and leave it broken for its next cell.
                    for ref in inflight:
                        ray.cancel(ref, force=True)
                    for cell, node in inflight.values():
                        finish(CellOutcome(cell.id, "interrupted", error="cancelled"), cell, node)
                    inflight.clear()
                    return
                ready, _ = ray.wait(list(inflight), num_returns=1, timeout=0.25)
                drain()
                for ref in ready:
                    cell, node = inflight.pop(ref)
                    on_node[node.node_id].discard(cell.id)
                    try:
                        outcome = ray.get(ref)
                    except TaskCancelledError:
                        outcome = CellOutcome(cell.id, "interrupted", error="cancelled")
                    except Exception as e:  # a worker died (out of memory...): this cell only
                        outcome = CellOutcome(cell.id, "failed", error=_first_line(e))
                    finish(outcome, cell, node)
                fill()
        except BaseException:
            for ref in inflight:  # the driver is going: do not leave cells running
                ray.cancel(ref, force=True)
            raise
        finally:
            if reports is not None:
                with contextlib.suppress(Exception):
                    reports.shutdown()

    def close(self) -> None:
        if self._started_ray:
            import ray

            ray.shutdown()
            self._started_ray = False


def use_cluster_token(address: str | None) -> bool:
    """Send this machine's Ray token to the cluster at address: RAY_AUTH_MODE=token for this
    process, when RAY_AUTH_MODE is unset and a token is at hand (RAY_AUTH_TOKEN,
    RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token, Ray's order). `ray start --head` turns token auth
    on whenever such a token exists (Ray 2.60), and any local ray.init writes one, while
    ray.init(address=...) never turns it on: without this, InvalidAuthToken. A head without
    token auth accepts a token all the same. Ray reads the mode when imported: call before.
    True when it was set here."""
    if not address or address == "auto" or "RAY_AUTH_MODE" in os.environ:
        return False  # "auto": ray.init itself does this for a local head
    given = os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")
    if not given and not (Path.home() / ".ray" / "auth_token").is_file():
        return False  # no token: a head with token auth says so (InvalidAuthToken)
    os.environ["RAY_AUTH_MODE"] = "token"
    return True


def pythonpath(root: Path) -> str:
    """PYTHONPATH with root first: a child process or a local Ray worker imports this bedash."""
    old = os.environ.get("PYTHONPATH", "")
    return os.pathsep.join([str(root), *([old] if old else [])])


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}".strip()


H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def _check_reachable(address: str, timeout: float) -> None:
    """Ray's GCS speaks gRPC: connect, send HTTP/2's preface and expect its SETTINGS frame.
    An unreachable address or another service fails in seconds here; ray.init itself would
    retry for minutes (its C++ client ignores Python's signals meanwhile)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        raise SweepError("address", f"expected HOST:PORT (got {address!r})")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as conn:
            conn.sendall(H2_PREFACE)
            head = conn.recv(9)
    except OSError as e:
        reason = e.strerror or type(e).__name__
        if isinstance(e, TimeoutError | socket.timeout):
            reason = f"no answer within {timeout:.0f} s"
        raise SweepError("address", f"cannot reach a Ray cluster at {address} ({reason})") from None
    if len(head) < 9 or head[3] != 0x04:  # frame type 4: SETTINGS
        raise SweepError(
            "address", f"no Ray cluster at {address} (the port answers, but not as Ray's GCS)"
        )
