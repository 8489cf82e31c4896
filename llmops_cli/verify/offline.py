"""The offline checks CI runs before anything reaches a cluster: config, governance and gateway policies, and
the rendered tree against `llmops render`. Nothing is written and nothing is contacted."""

from __future__ import annotations

from collections.abc import Callable

from llmops_cli.config.load import LoadedSettings
from llmops_cli.verify.model import Outcome, Runner, fail, ok, warn


def _config(loaded: LoadedSettings, envs: list[str]) -> Outcome:
    where = str(loaded.file) if loaded.file else "built-in defaults"
    return ok(f"{where} is valid ({len(loaded.settings.environments)} environments)")


def _governance_policies(loaded: LoadedSettings, envs: list[str]) -> Outcome:
    from llmops_cli.govern.api import display_path, inputs_from_settings
    from llmops_cli.govern.policy import load_policies

    inputs = inputs_from_settings(loaded.settings.governance, loaded.base_dir)
    if inputs.policies is None or not inputs.policies.is_file():
        return fail(f"{inputs.policies} not found", "run `llmops init` or set governance.policies_dir")
    shown = display_path(inputs, inputs.policies)
    policies = load_policies(inputs.policies, display_name=shown)
    return ok(f"{shown}: {len(policies.rules)} rules load")


def _gateway_policy(loaded: LoadedSettings, envs: list[str]) -> Outcome:
    from llmops_cli.gateway.policy.loader import load_policy
    from llmops_cli.resources import policies_dir

    gw = loaded.settings.stacks.gateway
    if not gw.enabled:
        return ok("gateway stack disabled")
    path = loaded.resolve(gw.policies_file)
    if not path.is_file() and gw.policies_file == "policies/gateway.yaml":
        path = policies_dir() / "gateway.yaml"
    if not path.is_file():
        return fail(f"{path} not found", "run `llmops init` or fix stacks.gateway.policies_file")
    load_policy(path)
    return ok(f"{path} loads")


def _rendered_tree(loaded: LoadedSettings, envs: list[str]) -> Outcome:
    from llmops_cli.render.tree import render_tree

    out = loaded.resolve(loaded.settings.gitops.path)
    if not out.is_dir():
        return warn(f"{out} does not exist yet", "run `llmops render` and commit it")
    result = render_tree(loaded.settings, envs, out, check=True, project_dir=loaded.base_dir)
    if result.drift:
        s = result.summary()
        first = ", ".join(c.path for c in result.changes[:3])
        return fail(
            f"{out} is stale ({s['added']} added, {s['changed']} changed, {s['removed']} removed: {first}…)",
            "run `llmops render` and commit",
        )
    return ok(f"{out} matches `llmops render` ({result.files} files)")


OFFLINE_CHECKS: tuple[tuple[str, Callable[[LoadedSettings, list[str]], Outcome]], ...] = (
    ("config", _config),
    ("governance policies", _governance_policies),
    ("gateway policy", _gateway_policy),
    ("rendered tree", _rendered_tree),
)


def run_offline(runner: Runner, loaded: LoadedSettings, envs: list[str]) -> None:
    """Every offline check; one failing never hides the others."""
    for name, check in OFFLINE_CHECKS:
        runner.run("offline", name, lambda check=check: check(loaded, envs))  # type: ignore[misc]
