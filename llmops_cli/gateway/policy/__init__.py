"""Gateway policy: model, loader, keys, limits, and the content checks (PII, blocked patterns, injection)."""

from llmops_cli.gateway.policy.engine import CompiledPolicy, Decision, Denied
from llmops_cli.gateway.policy.loader import load_policy, parse_policy
from llmops_cli.gateway.policy.model import Policy

__all__ = ["CompiledPolicy", "Decision", "Denied", "Policy", "load_policy", "parse_policy"]
