from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmops_cli.errors import InputError
from llmops_cli.gateway.keyfile import create_key, list_keys, revoke_key
from llmops_cli.gateway.policy import load_policy
from llmops_cli.gateway.policy.keys import KeyIndex, hash_key

from .conftest import SHIPPED


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    p = tmp_path / "gateway.yaml"
    p.write_text(SHIPPED.read_text())
    return p


def test_create_stores_only_the_hash_and_keeps_comments(policy: Path) -> None:
    created = create_key(policy, "Team A", ["llama-*"])
    text = policy.read_text()
    assert created.key not in text
    assert hash_key(created.key) in text
    assert "# Policy Gateway policy" in text and "# per key, token bucket" in text
    p = load_policy(policy)
    assert [(k.id, k.models) for k in p.auth.keys] == [("team-a", ["llama-*"])]
    assert KeyIndex(p).lookup(created.key) is not None
    assert KeyIndex(p).lookup(created.key + "x") is None


def test_second_key_same_name_gets_unique_id_and_revoke(policy: Path) -> None:
    a = create_key(policy, "svc")
    b = create_key(policy, "svc")
    assert a.id != b.id
    assert [k.id for k in list_keys(policy)] == [a.id, b.id]
    revoked = revoke_key(policy, a.id)
    assert revoked.key.revoked and not revoked.already
    p = load_policy(policy)
    assert KeyIndex(p).lookup(a.key) is None
    assert KeyIndex(p).lookup(b.key) is not None
    assert "# Policy Gateway policy" in policy.read_text()


def test_block_list_and_missing_section(tmp_path: Path) -> None:
    p = tmp_path / "g.yaml"
    p.write_text(
        "version: 1\nauth:\n  required: true\n  keys:\n    - id: old\n      name: old\n"
        f"      hash: {hash_key('x')}\n# trailing comment\nlimits:\n  max_messages: 5\n"
    )
    create_key(p, "new")
    assert [k.id for k in list_keys(p)] == ["old", "new"]
    assert load_policy(p).limits.max_messages == 5
    revoke_key(p, "old")
    assert [k.revoked for k in list_keys(p)] == [True, False]
    q = tmp_path / "h.yaml"
    q.write_text("version: 1\n")
    create_key(q, "first")
    assert [k.id for k in list_keys(q)] == ["first"]


def test_revoke_unknown_id(policy: Path) -> None:
    with pytest.raises(InputError, match="no key with id"):
        revoke_key(policy, "nope")


# --- concurrent create/revoke: read-modify-write under an exclusive lock --------------------------------------

H = "sha256:" + "0" * 64


def _worker(path: str, i: int, rounds: int, barrier: Any) -> None:
    barrier.wait()
    for r in range(rounds):
        create_key(path, f"w{i}-{r}")
    revoke_key(path, f"pre{i}")


def test_concurrent_creates_and_revokes_all_survive(tmp_path: Path) -> None:
    import multiprocessing

    n, rounds = 6, 4
    p = tmp_path / "gateway.yaml"
    pre = "".join(f'    - {{id: pre{i}, name: pre{i}, hash: "{H}"}}\n' for i in range(n))
    p.write_text(f"version: 1\nauth:\n  keys:\n{pre}limits:\n  max_messages: 5\n")
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(n)
    procs = [ctx.Process(target=_worker, args=(str(p), i, rounds, barrier)) for i in range(n)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert [proc.exitcode for proc in procs] == [0] * n
    keys = {k.id: k for k in load_policy(p).auth.keys}
    assert set(keys) == {f"pre{i}" for i in range(n)} | {f"w{i}-{r}" for i in range(n) for r in range(rounds)}
    assert all(keys[f"pre{i}"].revoked for i in range(n))
    assert sum(k.revoked for k in keys.values()) == n
    assert [f.name for f in tmp_path.iterdir()] == ["gateway.yaml"]  # no temp or lock files left behind


def test_cli_creates_in_parallel_processes_all_survive(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    p = tmp_path / "gateway.yaml"
    p.write_text(SHIPPED.read_text())
    env = dict(os.environ, PYTHONPATH=str(SHIPPED.parents[1]))
    cmd = [sys.executable, "-m", "llmops_cli", "gateway", "keys", "create", "--policies", str(p)]
    procs = [subprocess.Popen([*cmd, f"user{i}"], env=env, stdout=subprocess.PIPE, text=True) for i in range(4)]
    printed = [proc.communicate(timeout=60)[0].strip() for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 4
    policy = load_policy(p)
    assert sorted(k.id for k in policy.auth.keys) == [f"user{i}" for i in range(4)]
    assert all(KeyIndex(policy).lookup(key) is not None for key in printed)


# --- symlinked policy file: write through the link, keep it and the target's mode -----------------------------


def test_create_and_revoke_through_a_symlink_keep_the_link(tmp_path: Path) -> None:
    import os

    real = tmp_path / "real" / "gateway.yaml"
    real.parent.mkdir()
    real.write_text(SHIPPED.read_text())
    real.chmod(0o600)
    link = tmp_path / "gateway.yaml"
    link.symlink_to(os.path.relpath(real, link.parent))
    ino = os.stat(link).st_ino
    created = create_key(link, "via-link")
    assert link.is_symlink() and os.readlink(link) == os.path.join("real", "gateway.yaml")
    assert os.stat(link).st_ino != ino  # the target was replaced atomically...
    assert [k.id for k in load_policy(real).auth.keys] == ["via-link"]  # ...and has the key
    assert KeyIndex(load_policy(real)).lookup(created.key) is not None
    assert real.stat().st_mode & 0o777 == 0o600
    revoke_key(link, "via-link")
    assert link.is_symlink() and [k.revoked for k in load_policy(real).auth.keys] == [True]
    assert sorted(f.name for f in tmp_path.iterdir()) == ["gateway.yaml", "real"]
    assert [f.name for f in real.parent.iterdir()] == ["gateway.yaml"]


# --- revoke replaces exactly the entry: every other byte (comments, blank lines, CRLF, no final EOL) stays ---

BLOCK = 'id: {id}\n      name: {id}\n      hash: "{h}"'
BLOCK_NESTED = (
    "id: {id}\n      # inside\n      name: {id}\n      hash: {h}\n      models:\n        - m-*\n        - other"
)
BLOCK_SCALAR = "id: {id}\n      hash: {h}\n      name: |-\n        {id}"
FLOW = '{{id: "{id}", name: "{id}", hash: "{h}"}}'


# These tests edit policy text on purpose: the key editor must keep each entry's style, the comments and the line
# endings, which a policy built from the model (tests/gateway/conftest.py:policy_with) would not have.
def _with_revoked(text: str, span: str, style: str) -> str:
    """``text`` with only ``revoked: true`` added to the entry ``span``: last in a flow entry, else a line of its
    own under the entry's last line (without a final line break where the entry ends the file)."""
    if style == "flow":
        return text.replace(span, span[:-1] + ", revoked: true}")
    eol = "\r\n" if "\r\n" in text else "\n"
    end = text.index(span) + len(span)
    nl = text.find("\n", end)
    if nl == -1:
        return text + f"{eol}      revoked: true"
    return text[: nl + 1] + f"      revoked: true{eol}" + text[nl + 1 :]


def _policy(spans: list[str], *, tail: str) -> str:
    # A comment cannot follow a block scalar's text on its line (it would be part of the text).
    same_line = ["" if "|-" in span else f"   # after {i} on the same line" for i, span in enumerate(spans)]
    items = "".join(
        f"    # before {i}\n    - {span}{same_line[i]}\n    # between {i}\n\n" for i, span in enumerate(spans)
    )
    return f"# head\r\nversion: 1\nauth:\n  required: true   # keep\n  keys:\n{items}{tail}"


TAILS = {
    "limits-after": "# Limits tuned for prod -- do not lower (OPS-123)\nlimits:\n  requests_per_minute: 5\n",
    "keys-last-in-file": "# last comment\n",
    "no-final-newline": "# last comment, no newline",
}


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
@pytest.mark.parametrize("tail", list(TAILS))
@pytest.mark.parametrize("style", ["block", "nested", "scalar", "flow"])
@pytest.mark.parametrize("pos", [0, 1, 2], ids=["first", "middle", "last"])
def test_revoke_changes_only_the_entry(tmp_path: Path, pos: int, style: str, tail: str, crlf: bool) -> None:
    fmt = {"block": BLOCK, "nested": BLOCK_NESTED, "scalar": BLOCK_SCALAR, "flow": FLOW}[style]
    other = FLOW if style != "flow" else BLOCK
    ids = ["k-a", "k-b", "k-c"]
    spans = [(fmt if i == pos else other).format(id=k, h=H) for i, k in enumerate(ids)]
    text = _policy(spans, tail=TAILS[tail]).replace("\r\n", "\n")
    if crlf:
        text = text.replace("\n", "\r\n")
        spans = [s.replace("\n", "\r\n") for s in spans]
    if tail == "no-final-newline" and pos == 2:  # the entry itself ends the file
        text = text[: text.index(spans[2]) + len(spans[2])]
    p = tmp_path / "gateway.yaml"
    p.write_bytes(text.encode())
    revoke_key(p, ids[pos])
    assert text.count(spans[pos]) == 1
    assert p.read_bytes().decode() == _with_revoked(text, spans[pos], style)
    keys = load_policy(p).auth.keys
    assert [(k.id, k.hash, k.revoked) for k in keys] == [(k, H, i == pos) for i, k in enumerate(ids)]


@pytest.mark.parametrize(
    ("entry", "revoked"),
    [
        (
            f'{{id: k-a, name: a, hash: "{H}", revoked: false}}   # leaked?',
            f'{{id: k-a, name: a, hash: "{H}", revoked: true}}   # leaked?',
        ),
        (f'{{id: k-a, name: a, hash: "{H}",}}', f'{{id: k-a, name: a, hash: "{H}", revoked: true}}'),
        (f"{{id: k-a, name: a,\n       hash: {H}}}", f"{{id: k-a, name: a,\n       hash: {H}, revoked: true}}"),
        (
            f"id: k-a\n      revoked: no   # 1.1 false\n      name: a\n      hash: {H}",
            f"id: k-a\n      revoked: true   # 1.1 false\n      name: a\n      hash: {H}",
        ),
    ],
    ids=["flag-set-false", "flow-trailing-comma", "flow-two-lines", "block-flag"],
)
def test_revoke_edits_only_the_flag(tmp_path: Path, entry: str, revoked: str) -> None:
    text = f"version: 1\nauth:\n  keys:\n    # the CI key\n    - {entry}\nlimits: {{max_messages: 3}}\n"
    p = tmp_path / "gateway.yaml"
    p.write_text(text)
    assert not list_keys(p)[0].revoked
    assert revoke_key(p, "k-a").key.revoked
    assert p.read_text() == text.replace(entry, revoked)


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
@pytest.mark.parametrize("tail", list(TAILS))
@pytest.mark.parametrize("style", ["block", "nested", "flow"])
def test_create_inserts_one_line_and_keeps_every_other_byte(tmp_path: Path, style: str, tail: str, crlf: bool) -> None:
    fmt = {"block": BLOCK, "nested": BLOCK_NESTED, "flow": FLOW}[style]
    last = fmt.format(id="k-b", h=H)
    text = _policy([FLOW.format(id="k-a", h=H), last], tail=TAILS[tail]).replace("\r\n", "\n")
    if tail == "no-final-newline":
        text = text[: text.index(last) + len(last)]
    nl = "\r\n" if crlf else "\n"
    text, last = text.replace("\n", nl), last.replace("\n", nl)
    end = text.index(last) + len(last)
    after_last_entry = text[: text.find(nl, end) + len(nl)] if nl in text[end:] else text + nl
    p = tmp_path / "gateway.yaml"
    p.write_bytes(text.encode())
    created = create_key(p, "new one")
    new = p.read_bytes().decode()
    assert new.count("\n") == new.count(nl)  # no mixed line breaks
    lines = new.splitlines(keepends=True)
    added = [i for i, line in enumerate(lines) if created.id in line]
    assert len(added) == 1 and lines[added[0]].startswith("    - {")
    rest = "".join(lines[: added[0]] + lines[added[0] + 1 :])
    assert rest in (text, text + nl)  # only a line break may be added to a file that lacked a final one
    assert rest == text or not text.endswith(nl)
    assert "".join(lines[: added[0]]) == after_last_entry  # right after the last entry's line
    assert [k.id for k in load_policy(p).auth.keys] == ["k-a", "k-b", created.id]


def test_create_keeps_crlf_when_adding_keys_and_auth_sections(tmp_path: Path) -> None:
    p = tmp_path / "g.yaml"
    p.write_bytes(b"version: 1\r\nauth:\r\n  required: true\r\n# c\r\nlimits:\r\n  max_messages: 3\r\n")
    create_key(p, "first")
    create_key(p, "second")
    raw = p.read_bytes()
    assert raw.count(b"\n") == raw.count(b"\r\n")
    assert raw.startswith(b"version: 1\r\nauth:\r\n  required: true\r\n  keys:\r\n    - {")
    assert raw.endswith(b"# c\r\nlimits:\r\n  max_messages: 3\r\n")
    q = tmp_path / "h.yaml"
    q.write_bytes(b"version: 1\r\nlimits:\r\n  max_messages: 3")
    create_key(q, "first")
    raw = q.read_bytes()
    assert raw.startswith(b"version: 1\r\nlimits:\r\n  max_messages: 3\r\nauth:\r\n  keys:\r\n    - {")
    assert raw.count(b"\n") == raw.count(b"\r\n")
    assert [k.id for k in list_keys(q)] == ["first"]


# --- errors: one line, exit 2 ---------------------------------------------------------------------------------


def test_cli_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    from tests.helpers import run_cli

    p = tmp_path / "gateway.yaml"
    p.write_text(SHIPPED.read_text())
    before = p.read_bytes()
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"version: 1\n# caf\xe9\n")
    cases = {
        ("revoke", "nope", str(p)): "no key with id 'nope'",
        ("revoke", "nope", str(tmp_path)): "cannot read",
        ("create", "x", str(tmp_path)): "cannot read",
        ("create", "x", str(bad)): "not UTF-8",
        ("create", "x", str(tmp_path / "missing.yaml")): "policy file not found",
    }
    for (cmd, arg, path), msg in cases.items():
        r = run_cli("gateway", "keys", cmd, arg, "--policies", path)
        assert r.exit_code == 2, (cmd, path, r.output)
        assert msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = run_cli("gateway", "keys", "list", "--policies", str(bad))
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1
    assert p.read_bytes() == before
