"""`llmops verify`: the offline checks CI runs before anything reaches a cluster.

Each check is independent and reports ok / warn / fail with a detail; one failing check never hides the
others. Nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llmops_cli.config.load import LoadedSettings
from llmops_cli.errors import LlmopsError


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str  # ok | warn | fail
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "detail": self.detail}


def _config(loaded: LoadedSettings, envs: list[str]) -> CheckResult:
    where = str(loaded.file) if loaded.file else "built-in defaults"
    return CheckResult("config", "ok", f"{where} is valid ({len(loaded.settings.environments)} environments)")


def _governance_policies(loaded: LoadedSettings, envs: list[str]) -> CheckResult:
    from llmops_cli.govern.api import display_path, inputs_from_settings
    from llmops_cli.govern.policy import load_policies

    inputs = inputs_from_settings(loaded.settings.governance, loaded.base_dir)
    if inputs.policies is None or not inputs.policies.is_file():
        return CheckResult("governance policies", "fail", f"{inputs.policies} not found")
    shown = display_path(inputs, inputs.policies)
    policies = load_policies(inputs.policies, display_name=shown)
    return CheckResult("governance policies", "ok", f"{shown}: {len(policies.rules)} rules load")


def _gateway_policy(loaded: LoadedSettings, envs: list[str]) -> CheckResult:
    from llmops_cli.gateway.policy.loader import load_policy
    from llmops_cli.resources import policies_dir

    gw = loaded.settings.stacks.gateway
    if not gw.enabled:
        return CheckResult("gateway policy", "ok", "gateway stack disabled")
    path = loaded.resolve(gw.policies_file)
    if not path.is_file() and gw.policies_file == "policies/gateway.yaml":
        path = policies_dir() / "gateway.yaml"
    if not path.is_file():
        return CheckResult("gateway policy", "fail", f"{path} not found")
    load_policy(path)
    return CheckResult("gateway policy", "ok", f"{path} loads")


def _rendered_tree(loaded: LoadedSettings, envs: list[str]) -> CheckResult:
    from llmops_cli.render.tree import render_tree

    out = loaded.resolve(loaded.settings.gitops.path)
    if not out.is_dir():
        return CheckResult("rendered tree", "warn", f"{out} does not exist yet: run `llmops render` and commit it")
    result = render_tree(loaded.settings, envs, out, check=True)
    if result.drift:
        s = result.summary()
        first = ", ".join(c.path for c in result.changes[:3])
        return CheckResult(
            "rendered tree",
            "fail",
            f"{out} is stale ({s['added']} added, {s['changed']} changed, {s['removed']} removed: {first}…); "
            "run `llmops render` and commit",
        )
    return CheckResult("rendered tree", "ok", f"{out} matches `llmops render` ({result.files} files)")


CHECKS: list[Callable[[LoadedSettings, list[str]], CheckResult]] = [
    _config,
    _governance_policies,
    _gateway_policy,
    _rendered_tree,
]
NAMES = ["config", "governance policies", "gateway policy", "rendered tree"]


def run_checks(loaded: LoadedSettings, envs: list[str] | None = None) -> list[CheckResult]:
    """Run every check; an LlmopsError in one becomes that check's failure."""
    chosen = envs or list(loaded.settings.environments)
    results = []
    for name, check in zip(NAMES, CHECKS, strict=True):
        try:
            results.append(check(loaded, chosen))
        except LlmopsError as e:
            results.append(CheckResult(name, "fail", str(e)))
    return results


def failed(results: list[CheckResult]) -> bool:
    return any(r.status == "fail" for r in results)


__all__ = ["CheckResult", "Path", "failed", "run_checks"]
