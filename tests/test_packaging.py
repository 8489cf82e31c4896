"""The wheel carries templates/ and policies/ and works outside the repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (whl,) = out.glob("llmops-*.whl")
    return whl


def test_wheel_ships_templates_policies_and_entry_point(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("llmops_cli/_data/templates/") for n in names)
    assert any(n.startswith("llmops_cli/_data/policies/") for n in names)
    eps = next(n for n in names if n.endswith("entry_points.txt"))
    assert "llmops = llmops_cli.__main__:run" in zipfile.ZipFile(wheel).read(eps).decode()


def test_installed_wheel_runs_from_another_directory(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # The installed copy first, then the venv's dependencies; never the source checkout.
    env = dict(os.environ, PYTHONPATH=str(target))

    def run(*a: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "llmops_cli", *a], cwd=elsewhere, env=env, capture_output=True, text=True
        )

    assert run("--help").returncode == 0
    r = run("config", "show", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "ok"
    assert run("config", "validate").returncode == 0
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "from llmops_cli.resources import templates_dir, policies_dir;"
            "print(templates_dir()); print(policies_dir())",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    for line in probe.stdout.split():
        assert line.startswith(str(target)), probe.stdout
