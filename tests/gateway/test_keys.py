from __future__ import annotations

from pathlib import Path

import pytest

from llmops_cli.errors import InputError
from llmops_cli.gateway.policy import load_policy
from llmops_cli.gateway.policy.keys import KeyIndex, create_key, hash_key, list_keys, revoke_key

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
    assert revoked.revoked
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
