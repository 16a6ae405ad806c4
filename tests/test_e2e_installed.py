"""The dashboard from an installed package, as a user without a clone gets it: `pip install`
into a fresh venv, `bedash dashboard` started in another folder, opened in a real browser. The
packaged Streamlit settings apply there (the favicon is served from the package, nothing is
fetched from another host, no sideways scrolling), and a sweep run from the command line shows
on the Sweeps page (list and detail) and its cells on the Runs page. Runs with `-m e2e`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_e2e import ARGS, CHROMIUM, free_port, need_browser
from tests.test_e2e_reading import check

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]
ROOT = Path(__file__).resolve().parents[1]
TINY_SWEEP = ["--dataset", "synthetic", "--train-size", "64", "--test-size", "32", "--epochs",
              "1", "--hidden", "8", "--members", "2", "--models", "batchensemble,single",
              "--device", "cpu", "--engine", "local", "--quiet", "--seeds", "0-1"]  # fmt: skip


def install(tmp: Path) -> Path:
    """`pip install .` into a new venv whose dependencies come from this environment (a .pth
    file: no second download of torch); returns the venv's bin folder."""
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    r = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--no-build-isolation",
         "--no-index", "-q", str(ROOT)],
        capture_output=True, text=True, cwd=tmp, env=_env(),
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return venv / "bin"


def _env() -> dict[str, str]:
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "BEDASH_RUNS_DIR", "BEDASH_PROFILE")
    return {k: v for k, v in os.environ.items() if k not in drop}


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, Path, int]]:
    need_browser()
    tmp = Path(tempfile.mkdtemp(prefix="bedash-e2e-installed-"))
    bin_dir = install(tmp)
    elsewhere = tmp / "elsewhere"  # no app.py, no pages/, no .streamlit/ here
    elsewhere.mkdir()
    # a sweep from the command line, as a user runs it, into the home the dashboard opens
    sweep = subprocess.run(
        [str(bin_dir / "bedash"), "sweep", *TINY_SWEEP, "--runs-dir", str(tmp / "home")],
        capture_output=True, text=True, cwd=elsewhere, env=_env(), timeout=300,
    )  # fmt: skip
    assert sweep.returncode == 0, sweep.stderr[-2000:]
    port = free_port()
    log = open(tmp / "server.log", "w")  # noqa: SIM115  (closed with the process)
    proc = subprocess.Popen(
        [str(bin_dir / "bedash"), "dashboard", "--port", str(port), "--host", "127.0.0.1",
         "--runs-dir", str(tmp / "home")],
        cwd=elsewhere, env={**_env(), "OMP_NUM_THREADS": "1"}, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.2)
    else:
        pytest.fail(f"bedash dashboard did not start: {(tmp / 'server.log').read_text()[-2000:]}")
    yield url, tmp, proc.pid
    os.killpg(proc.pid, signal.SIGTERM)  # exec'd: the pid is Streamlit's
    proc.wait(30)
    log.close()
    shutil.rmtree(tmp, ignore_errors=True)


def test_bedash_dashboard_from_an_installed_package_opens_in_a_browser(served) -> None:
    url, tmp, pid = served
    log = (tmp / "server.log").read_text()
    assert f"runs: {tmp / 'home'}" in log  # the one home, named by --runs-dir
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(60_000)
        outside: list[str] = []
        page.on("request", lambda r: None if r.url.startswith((url, "data:", "blob:", "about:"))
                else outside.append(r.url))  # fmt: skip
        page.goto(url)
        page.get_by_role("heading", name="Experiment").first.wait_for()
        check(page, outside, 1280)  # the packaged favicon, nothing from outside, no scroll
        for title in ("Runs", "Sweeps"):
            page.get_by_role("link", name=title).first.click()
            page.get_by_role("heading", name=title).first.wait_for()
        # the CLI's sweep in the list of sweeps, its page, and its cells on the Runs page
        (name,) = [p.name for p in (tmp / "home").iterdir()]
        page.get_by_role("heading", name="Every sweep").wait_for()
        page.get_by_text("1 sweep in").wait_for()
        page.goto(f"{url}/sweeps?sweep={name}")
        page.get_by_role("heading", name="Paired over seeds").wait_for()
        page.get_by_role("heading", name="Cells").wait_for()
        page.get_by_role("link", name="Runs").first.click()
        page.get_by_text("2 of 2 runs in").wait_for()  # the two cells, nothing else
        browser.close()
    # the packaged settings reached the server although it started in a bare folder
    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as r:
        assert r.status == 200
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")  # exec'd: same pid
    assert argv[2:4] == ["streamlit", "run"] and argv[4].endswith("bedash/dashboard/app.py")
    assert "--server.maxUploadSize=50" in argv and "--server.fileWatcherType=none" in argv
