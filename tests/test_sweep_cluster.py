"""The cluster recipe (issue 20): a real `ray start --head`, a subprocess with Ray 2.60's token
auth on, takes `bedash sweep --address`; Ray missing is exit 2 for --address and RAY_ADDRESS,
and the in-process fall-back says so. The head is stopped by its own process group, never by
`ray stop` (which stops every Ray on the machine); HOME points into a temporary folder, so the
user's ~/.ray is neither read nor written."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--dataset", "synthetic", "--train-size", "64", "--test-size", "32", "--epochs", "1",
        "--hidden", "8", "--members", "2", "--device", "cpu", "--quiet"]  # fmt: skip
SMALL = ["--train-size", "64", "--test-size", "32", "--hidden", "8", "--members", "2",
         "--device", "cpu", "--quiet"]  # fmt: skip  # what the README's sweep leaves to defaults
NO_RAY = "import sys; sys.modules['ray'] = None; from bedash.__main__ import main; "
NO_RAY += "sys.exit(main(sys.argv[1:]))"  # Ray as if not installed: import and find_spec fail


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    return {**env, "HOME": str(home), **extra}


def readme_cluster() -> tuple[list[str], list[str]]:
    """The README's cluster recipe: its `ray start --head` and `bedash sweep` command lines."""
    readme = (ROOT / "README.md").read_text().split("<!-- cluster", 1)[1]
    block = re.search(r"```bash\n(.+?)\n```", readme, re.S).group(1).splitlines()
    head, sweep = (shlex.split(line) for line in block)
    assert head[:3] == ["ray", "start", "--head"] and sweep[:2] == ["bedash", "sweep"]
    return head, sweep


def _on_port(argv: list[str], port: int) -> list[str]:
    """argv with the README's port (6379) replaced by port."""
    return [a.replace("6379", str(port)) for a in argv]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(head: subprocess.Popen[bytes]) -> None:
    """The head's own process group: SIGTERM, then SIGKILL what is left after 3 s."""
    for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(head.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(head.pid, 0)
            except ProcessLookupError:
                return
            head.poll()  # reap the group leader
            time.sleep(0.2)


@pytest.fixture
def token_head() -> Iterator[tuple[int, Path, Path]]:
    """(port, home, log) of the README's one-node head with token auth on, as Ray 2.60 sets it up:
    a token in ~/.ray/auth_token (any earlier local ray.init writes one) and RAY_AUTH_MODE
    unset. A short folder in /tmp: Ray's socket paths must fit in 107 bytes."""
    pytest.importorskip("ray")
    home = Path(tempfile.mkdtemp(prefix="bedash-ray-", dir="/tmp"))
    ray = Path(sys.executable).parent / "ray"
    subprocess.run([ray, "get-auth-token", "--generate"], env=_env(home), check=True,
                   capture_output=True, timeout=60)  # fmt: skip
    assert (home / ".ray" / "auth_token").is_file()
    port, log = _free_port(), home / "head.log"
    with log.open("wb") as out:
        head = subprocess.Popen(
            [ray, *_on_port(readme_cluster()[0], port)[1:], "--num-cpus=2",
             "--include-dashboard=false", f"--object-store-memory={100 * 2**20}",
             f"--temp-dir={home}/t", "--block", "--disable-usage-stats"],
            env=_env(home), stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while "Ray runtime started" not in log.read_text(errors="replace"):
            assert head.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "the head did not start in 90 s"
            time.sleep(0.3)
        yield port, home, log
    finally:
        _stop(head)
        leftover = subprocess.run(["pgrep", "-g", str(head.pid)], capture_output=True, text=True)
        shutil.rmtree(home, ignore_errors=True)
        assert leftover.stdout == "", leftover.stdout


@pytest.mark.timeout(240)
def test_a_sweep_runs_on_a_ray_start_head_with_token_auth(
    token_head: tuple[int, Path, Path], tmp_path: Path
) -> None:
    """The README's recipe, on a free port: two cells on the head, the token sent."""
    port, home, log = token_head
    assert "Token authentication is enabled for this Ray cluster" in log.read_text()
    out, address = tmp_path / "sw", f"127.0.0.1:{port}"
    sweep = _on_port(readme_cluster()[1], port)
    assert sweep[sweep.index("--address") + 1] == address
    done = subprocess.run(
        [sys.executable, "-m", "bedash", *sweep[1:], *SMALL, "--out", str(out)],
        env=_env(home), cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "InvalidAuthToken" not in done.stderr
    state = json.loads((out / "sweep.json").read_text())
    assert state["status"] == "finished" and state["engine"]["address"] == address
    assert [c["status"] for c in state["cells"]] == ["finished", "finished"]
    # each cell's progress reached the driver through the queue (an actor, with token auth)
    assert all(c["progress"]["model"] and c["progress"]["epoch"] >= 1 for c in state["cells"])
    assert "sweep finished: 2/2 cells done" in done.stdout
    # the cells ran in that head's workers: their logs are in its session folder
    assert list((home / "t").glob("session_*/logs/worker-*"))


def test_the_cluster_token_is_sent_only_where_ray_would_not_send_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bedash.sweep.engines import use_cluster_token

    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        # set, then removed: the undo removes what use_cluster_token sets below (a delenv of
        # an absent name records nothing, and RAY_AUTH_MODE=token then leaks into later tests:
        # a Ray head they start demands a token their imported ray never sends)
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    assert not use_cluster_token("10.0.0.1:6379")  # no token here: nothing to send
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("t" * 32)
    assert not use_cluster_token(None) and not use_cluster_token("auto")  # ray.init does it
    assert "RAY_AUTH_MODE" not in os.environ
    assert use_cluster_token("10.0.0.1:6379") and os.environ["RAY_AUTH_MODE"] == "token"
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # the user's word stands
    assert not use_cluster_token("10.0.0.1:6379") and os.environ["RAY_AUTH_MODE"] == "disabled"


def _no_ray(argv: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", NO_RAY, "sweep", *TINY, "--seeds", "0", *argv,
         "--out", str(tmp_path / "sw")],
        env=_env(tmp_path, **env), cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


HINT = "Ray is not installed (pip install 'bedash[ray]')"


@pytest.mark.parametrize(
    ("argv", "env", "line"),
    [(["--address", "10.0.0.1:6379"], {},
      f"bedash sweep: error: --address: {HINT}; or leave --address out to run here"),
     ([], {"RAY_ADDRESS": "10.0.0.1:6379"},
      f"bedash sweep: error: RAY_ADDRESS=10.0.0.1:6379: {HINT}; or unset RAY_ADDRESS")],
)  # fmt: skip
def test_a_cluster_asked_for_without_ray_is_one_line_exit_2(
    argv: list[str], env: dict[str, str], line: str, tmp_path: Path
) -> None:
    done = _no_ray(argv, tmp_path, **env)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [line]
    assert not (tmp_path / "sw").exists()


def test_without_ray_the_in_process_fall_back_is_announced_in_one_line(tmp_path: Path) -> None:
    done = _no_ray([], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.strip().splitlines() == [
        f"bedash sweep: {HINT}: the cells run in this process, one at a time"
    ]
    assert json.loads((tmp_path / "sw" / "sweep.json").read_text())["engine"]["name"] == "local"


def test_a_sweep_run_in_process_leaves_ray_auth_mode_as_it_found_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The token rule sets RAY_AUTH_MODE for the sweep; `main` called in-process (a test, a
    notebook) must not leave it behind, or a Ray head started later in that process demands a
    token from a driver whose imported ray sends none (the two-node tests failed so)."""
    from bedash.sweep import cli as sweep_cli
    from bedash.sweep.engines import RayEngine
    from bedash.sweep.grid import SweepError

    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("t" * 32)
    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    seen = {}

    def connect(self: RayEngine) -> None:
        seen["mode"] = os.environ.get("RAY_AUTH_MODE")
        raise SweepError("address", "no cluster here (this test)")

    monkeypatch.setattr(RayEngine, "connect", connect)
    out = str(tmp_path / "sw")
    argv = ["--dataset", "synthetic", "--train-size", "64", "--test-size", "32",
            "--engine", "ray", "--address", "127.0.0.1:1", "--out", out]  # fmt: skip
    with pytest.raises(SystemExit):  # exit 2: the address named
        sweep_cli.main(argv)
    assert seen["mode"] == "token"  # set for the sweep...
    assert "RAY_AUTH_MODE" not in os.environ  # ...and gone after it
