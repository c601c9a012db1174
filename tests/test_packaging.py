"""flopbench as a user installs it: `python -m build` makes an sdist and a wheel, and the wheel, installed into a fresh
virtual environment, finds its suites and runs from another directory (no checkout to lean on)."""

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv holding the built wheel; its dependencies come from the project's own environment."""
    tmp = tmp_path_factory.mktemp("wheel")
    dist = tmp / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    wheels, sdists = list(dist.glob("*.whl")), list(dist.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # The project's environment as a plain path: its packages (torch, pandas, ...) without its editable flopbench,
    # whose import hook lives in a .pth file that an added path does not run.
    (site / "project-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", str(wheels[0])],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    return venv, sdists[0], tmp


def test_the_wheel_runs_from_another_directory(installed):
    venv, _, tmp = installed
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import flopbench.workloads.suite as s; print(s.__file__)"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        check=True,
    ).stdout
    assert where.startswith(str(venv)), where  # the wheel's flopbench, not the checkout's
    env = {"FLOPBENCH_CACHE_DIR": str(tmp / "cache"), "PATH": "/usr/bin:/bin"}

    def installed_cli(*args: str, **options) -> subprocess.CompletedProcess:
        """The wheel's flopbench, run from another directory."""
        command = [str(venv / "bin" / "flopbench"), *args]
        return subprocess.run(command, capture_output=True, text=True, cwd=elsewhere, timeout=300, **options)

    quick = ("--device", "cpu", "--rounds", "1", "--min-time", "0.01", "--bandwidth", "1e10")
    count = installed_cli("count", "quick", "--format", "json")
    assert count.returncode == 0, count.stderr
    assert "gemv" in {row["name"] for row in json.loads(count.stdout)}
    run = installed_cli("run", "quick", "--only", "^gemv$", *quick, "--out", "run.jsonl", env=env)
    assert run.returncode == 0, run.stderr
    assert "1 measured, 0 skipped, 0 failed" in run.stdout
    header = json.loads((elsewhere / "run.jsonl").read_text().splitlines()[0])
    assert header["suites"][0]["name"] == "quick" and header["suites"][0]["path"].startswith(str(venv))
    square = ("run", "default", "--only", "^square-m128-n128-k128-float32$", *quick, "--out", "default.jsonl")
    assert installed_cli(*square, env=env).returncode == 0
    # the shipped references travel in the wheel, and compare reads them from there
    atlas = installed_cli("compare", "default.jsonl", "--against", "all", "--format", "markdown", env=env)
    assert atlas.returncode == 0, atlas.stderr
    assert "| reference | all | matmul |" in atlas.stdout and "| cpu-amd-epyc-zen3-2vcpu-vm |" in atlas.stdout


def test_the_sdist_carries_the_package_data(installed):
    import tarfile

    _, sdist, _ = installed
    names = tarfile.open(sdist).getnames()
    for needed in (
        "flopbench/suites/quick.toml",
        "flopbench/machine/peaks.toml",
        "flopbench/results/results.schema.json",
        "flopbench/atlas/cpu-amd-epyc-zen3-2vcpu-vm.jsonl.gz",
    ):
        assert any(name.endswith(needed) for name in names), needed
