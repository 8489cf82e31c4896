"""The real render package behind a spy: CLI wiring tests see which render calls `up` makes, and `up` applies
exactly what `render` produces (no hand-written stand-in inputs)."""

from __future__ import annotations

from typing import Any

from llmops_cli.render import api

CALLS: list[tuple[str, Any]] = []


class FakeRenderer:
    def render_environment(self, settings, env, *, stacks=None, gpu=None, project_dir=None, local_charts=None):  # type: ignore[no-untyped-def]
        CALLS.append(("render_environment", (env, gpu)))
        return api.render_environment(
            settings, env, stacks=stacks, gpu=gpu, project_dir=project_dir, local_charts=local_charts
        )

    def k3s_config(self, settings, *, gpu, node_ip=None):  # type: ignore[no-untyped-def]
        CALLS.append(("k3s_config", gpu))
        return api.k3s_config(settings, gpu=gpu, node_ip=node_ip)

    def k3s_registries(self, settings):  # type: ignore[no-untyped-def]
        return api.k3s_registries(settings)

    def bootstrap_objects(self, settings, env, *, repo_url, gpu=None):  # type: ignore[no-untyped-def]
        CALLS.append(("bootstrap_objects", repo_url))
        return api.bootstrap_objects(settings, env, repo_url=repo_url, gpu=gpu)

    def gpu_smoke_job(self, settings):  # type: ignore[no-untyped-def]
        return api.gpu_smoke_job(settings)
