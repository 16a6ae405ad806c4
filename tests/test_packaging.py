"""The package installs, and every requirements file asks for the same versions.

The hosted demo's Pipfile takes torch from PyTorch's CPU index, which these machines cannot
reach: its contents are tested here, the install itself is not.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;#]+)")


def _pins(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        m = PIN.match(line.strip())
        if m:
            out[m.group(1).lower()] = m.group(2)
    return out


def _requirements(name: str) -> dict[str, str]:
    return _pins((ROOT / name).read_text().splitlines())


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _pipfile() -> dict:
    return tomllib.loads((ROOT / "Pipfile").read_text())


def _ranges(lines: list[str]) -> dict[str, SpecifierSet]:
    reqs = [Requirement(line) for line in lines]
    return {r.name.lower(): r.specifier for r in reqs}


def test_every_requirements_file_pins_the_same_versions_and_the_package_admits_them() -> None:
    """requirements*.txt and the Pipfile pin exact versions (CI, the app, the demo);
    pyproject.toml gives the library compatible ranges, never a pin, that admit those pins:
    `pip install bedash "pandas<3.1"` must resolve."""
    runtime = _requirements("requirements.txt")
    dev = _requirements("requirements-dev.txt")
    project = _pyproject()["project"]
    declared = _ranges(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared.update(_ranges(extra))
    pipfile = {
        name.lower(): (spec if isinstance(spec, str) else spec["version"]).removeprefix("==")
        for name, spec in _pipfile()["packages"].items()
    }
    assert runtime["torch"] == "2.14.1" and runtime["torchvision"] == "0.29.1"
    everything = {**runtime, **dev}
    for name, version in pipfile.items():
        assert everything.get(name) == version, f"Pipfile pins {name}=={version}"
    assert set(declared) == set(everything), set(declared) ^ set(everything)
    for name, spec in declared.items():
        assert not any(s.operator in ("==", "===") for s in spec), f"{name}{spec} is a pin"
        assert any(s.operator == ">=" for s in spec), f"{name}{spec} has no lower bound"
        assert everything[name] in spec, f"pyproject's {name}{spec} refuses {everything[name]}"
    assert Version("3.0.6") in declared["pandas"]  # tested: an older pandas resolves
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text()


def test_the_extras_are_what_the_readme_installs() -> None:
    extras = _pyproject()["project"]["optional-dependencies"]
    assert set(extras["ray"]) == {"ray>=2.60,<3"} and set(extras["ray"]) <= set(extras["dev"])
    assert set(extras["tensorboard"]) <= set(extras["dev"])
    assert [Requirement(r).name for r in extras["tensorboard"]] == ["tensorboard"]


def test_the_hosted_demo_installs_a_cpu_only_torch_and_nothing_cuda() -> None:
    pipfile = _pipfile()
    sources = {s["name"]: s["url"] for s in pipfile["source"]}
    packages = pipfile["packages"]
    for name in ("torch", "torchvision"):
        assert sources[packages[name]["index"]] == "https://download.pytorch.org/whl/cpu"
    text = (ROOT / "Pipfile").read_text().lower()
    assert not re.search(r"nvidia|triton|cuda", text.split("[packages]", 1)[1])
    assert "ray" not in packages  # the demo runs sweeps in-process, within its memory
    assert pipfile["requires"]["python_version"] == "3.11"


def test_no_unused_dependency_is_pinned() -> None:
    imported = set()
    for path in [*ROOT.glob("bedash/**/*.py"), *ROOT.glob("pages/*.py"), ROOT / "app.py"]:
        imported |= set(re.findall(r"^\s*(?:import|from) (\w+)", path.read_text(), re.M))
    runtime = set(_requirements("requirements.txt"))
    assert runtime - imported == set(), runtime - imported  # psutil was pinned and unused


def test_the_package_metadata_is_complete() -> None:
    project = _pyproject()["project"]
    assert project["requires-python"] == ">=3.11"
    assert project["scripts"]["bedash"] == "bedash.__main__:main"
    setuptools = _pyproject()["tool"]["setuptools"]
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts) for init in ROOT.glob("bedash/**/__init__.py")
    }
    # every package on disk, and the pages shipped beside the dashboard's entry script
    assert set(setuptools["packages"]) == on_disk | {"bedash.dashboard.pages"}
    assert setuptools["package-dir"] == {"bedash.dashboard.pages": "pages"}
    assert (ROOT / ".streamlit" / "config.toml").resolve() == ROOT / "bedash/dashboard/config.toml"


@pytest.mark.slow  # a fresh virtual environment, a build and a training run
def test_pip_install_into_a_fresh_environment_gives_a_working_bedash_command(
    tmp_path: Path,
) -> None:
    """`pip install .` into a new venv; the dependencies (gigabytes of torch) come from this
    environment through a .pth file instead of a second download, so pip resolves them as
    installed. Then the `bedash` command trains from a folder outside the checkout."""
    venv = tmp_path / "venv"
    # without pip: a venv's own bundled setuptools would shadow this environment's
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--no-build-isolation",
         "--no-index", "-q", str(ROOT)],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    installed = Path(site) / "bedash"
    assert (installed / "cli.py").is_file() and (installed / "dashboard" / "jobs.py").is_file()
    assert not (Path(site) / "pages").exists() and not (Path(site) / "tests").exists()
    shipped = installed / "dashboard"  # `bedash dashboard` runs the entry script beside its pages
    assert {p.name for p in (shipped / "pages").glob("*.py")} == {
        p.name for p in (ROOT / "pages").glob("*.py")
    }
    for name in ("app.py", "config.toml", "favicon.png"):
        assert (shipped / name).is_file(), name
    run = subprocess.run(
        [str(venv / "bin" / "bedash"), "train", "--dataset", "synthetic", "--epochs", "1",
         "--train-size", "256", "--test-size", "64", "--hidden", "16", "--members", "2",
         "--device", "cpu", "--quiet", "--out", str(tmp_path / "run")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert "run finished" in run.stdout
    assert (tmp_path / "run" / "results.csv").read_text().count("\n") == 4  # header + 3 kinds
    for argv, first in (
        (["--version"], f"bedash {_pyproject()['project']['version']}"),
        (["--help"], "usage: bedash [-h] [--version] {train,sweep,runs,bench,"),
    ):
        done = subprocess.run([str(venv / "bin" / "bedash"), *argv], capture_output=True,
                              text=True, env=env, cwd=tmp_path, timeout=120)  # fmt: skip
        assert done.returncode == 0 and done.stdout.startswith(first), done.stdout[:200]
