"""API keys at request time: the key format, its hash, and the hash → key index the policy engine looks keys up in.

Keys are ``llmops-<32 random bytes, urlsafe>``; only ``sha256:<hex>`` of the whole key is stored. A fast
hash is right here (unlike passwords) because the secret has 256 bits of entropy. Creating and revoking keys in
a policy file is ``llmops_cli.gateway.keyfile``'s job (the CLI's, never the serving gateway's).
"""

from __future__ import annotations

import hashlib
import secrets

from llmops_cli.gateway.policy.model import ApiKey, Policy

KEY_PREFIX = "llmops-"


def hash_key(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class KeyIndex:
    """Hash → key lookup built once per policy (O(1) per request, no secret-dependent branching)."""

    def __init__(self, policy: Policy) -> None:
        self._by_hash = {k.hash: k for k in policy.auth.keys if not k.revoked}

    def lookup(self, presented: str) -> ApiKey | None:
        return self._by_hash.get(hash_key(presented))
