"""The gateway's optional prompt-injection classifier: Hugging Face Text Embeddings Inference (TEI) serving a
sequence classifier (Llama Prompt Guard 2 by default), and the gateway policy's ``content.injection.classifier``
pointing at it.

Rendered when ``stacks.gateway.injection_classifier.enabled`` (default off) and the gateway is. Every TEI fact
below is from huggingface/text-embeddings-inference v1.9.3 (the pinned ``versions.TEI_CPU_IMAGE``; facts in
tests/render/upstream/tables.py):

- ``router/src/main.rs`` (clap ``Args``): ``--model-id``, ``--revision``, ``--port``, ``--max-client-batch-size``
  (default 32), ``--huggingface-hub-cache``, ``--json-output``. The image sets ``PORT=80`` and
  ``HUGGINGFACE_HUB_CACHE=/data`` (``Dockerfile``, stage ``base``); a non-root container cannot bind port 80, so
  ``--port`` is always given.
- The Hub token: ``--hf-token``/``HF_TOKEN``, else the file ``$HF_HOME/token`` (``router/src/lib.rs`` builds its
  client with ``hf_hub::api::tokio::ApiBuilder::from_env``, which reads ``HF_HOME`` and ``$HF_HOME/token``:
  huggingface/hf-hub v0.4.x ``src/lib.rs`` ``Cache::from_env``, ``token_path``). The Secret is mounted as that
  file (a secret in a file, not in the environment); the download cache stays ``--huggingface-hub-cache``.
- Routes (``router/src/http/server.rs``): ``POST /predict``; ``GET /health`` answers 200 once the model is
  loaded and healthy, 503 otherwise. TEI listens only after the model is downloaded and loaded, so the
  startup probe allows that long.
"""

from __future__ import annotations

from typing import Any

from llmops_cli import versions as versions_view
from llmops_cli.config.model import InjectionClassifierSettings
from llmops_cli.errors import UsageError
from llmops_cli.render import names
from llmops_cli.render.engine import render_objects
from llmops_cli.render.stacks.common import (
    COMMON_SKIPS,
    WAVE_DATA,
    Files,
    RenderContext,
    Res,
    add,
    app,
    res,
    tree_path,
)

NAME = "injection-classifier"
PORT = 8080
FOLDER = "injection-classifier"
CACHE_DIR = "/data"
TOKEN_DIR = "/var/run/secrets/huggingface"  # noqa: S105 - where the Secret is mounted, not a secret
# Sized for Llama Prompt Guard 2 86M on CPU (about 280M parameters with its multilingual embeddings: 1.1 GB of
# float32 weights); per profile.
RESOURCES = {
    "dev": Res("500m", "1536Mi", "2", "3Gi"),
    "prod": Res("1", "2Gi", "4", "4Gi"),
}


def enabled(ctx: RenderContext) -> bool:
    gw = ctx.settings.stacks.gateway
    return gw.enabled and gw.injection_classifier.enabled


def service_url() -> str:
    return f"http://{NAME}.{names.APPS_NAMESPACE}.svc:{PORT}"


def policy_classifier(cfg: InjectionClassifierSettings) -> dict[str, Any]:
    """The policy's ``content.injection.classifier`` for the rendered server (policies/gateway.schema.md)."""
    return {
        "url": service_url(),
        "api": "tei",
        "labels": cfg.attack_labels,
        "threshold": cfg.threshold,
        "timeout_ms": cfg.timeout_ms,
        "on_error": cfg.on_error,
        "max_chunks": cfg.max_chunks,
    }


def with_classifier(ctx: RenderContext, policy_text: str) -> str:
    """``policy_text`` with ``content.injection`` calling the rendered classifier; unchanged when it is off.

    The gateway's policy file is rewritten as YAML (its comments are not kept): ``action`` and ``classifier``
    under ``content.injection`` come from ``llmops.yaml``, everything else from the file. A file that configures
    a classifier itself is refused: two sources for one setting would silently disagree."""
    if not enabled(ctx):
        return policy_text
    import yaml

    cfg = ctx.settings.stacks.gateway.injection_classifier
    try:
        data = yaml.safe_load(policy_text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise UsageError(
            f"{ctx.settings.stacks.gateway.policies_file}{where}: not valid YAML",
            hint="fix it (`llmops verify` checks the whole policy)",
        ) from e
    content = data.get("content") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(content if content is not None else {}, dict):
        raise UsageError(
            "the gateway policy file is not a mapping with a `content` mapping",
            hint="fix policies/gateway.yaml (see policies/gateway.schema.md)",
        )
    injection = dict((content or {}).get("injection") or {})
    if "classifier" in injection:
        raise UsageError(
            "the gateway policy file sets content.injection.classifier and "
            "stacks.gateway.injection_classifier.enabled is true",
            hint="remove one of them: llmops.yaml renders the classifier and sets the policy's classifier itself",
        )
    injection["action"] = cfg.action
    injection["classifier"] = policy_classifier(cfg)
    data["content"] = {**(content or {}), "injection": injection}
    head = "# policies/gateway.yaml with content.injection set by stacks.gateway.injection_classifier (llmops.yaml).\n"
    return head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)


def _view(ctx: RenderContext) -> dict[str, Any]:
    cfg = ctx.settings.stacks.gateway.injection_classifier
    args = ["--model-id", cfg.model]
    if cfg.revision:
        args += ["--revision", cfg.revision]
    args += [
        "--port",
        str(PORT),
        "--max-client-batch-size",
        str(cfg.max_chunks),
        "--huggingface-hub-cache",
        CACHE_DIR,
        "--json-output",
    ]
    env: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = [
        {"name": "cache", "mountPath": CACHE_DIR},
        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir in the container
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "cache", "persistentVolumeClaim": {"claimName": f"{NAME}-cache"}},
        {"name": "tmp", "emptyDir": {}},
    ]
    if cfg.hf_token_secret:
        env.append({"name": "HF_HOME", "value": TOKEN_DIR})
        mounts.append({"name": "hf-token", "mountPath": TOKEN_DIR, "readOnly": True})
        volumes.append(
            {
                "name": "hf-token",
                "secret": {"secretName": cfg.hf_token_secret, "items": [{"key": names.HF_TOKEN_KEY, "path": "token"}]},
            }
        )
    return {
        "name": NAME,
        "namespace": names.APPS_NAMESPACE,
        "labels": {**ctx.app_labels(NAME, "gateway"), "llmops.dev/classifier-model": _label_value(cfg.model)},
        "selector": {"app.kubernetes.io/name": NAME},
        "gateway_selector": {"app.kubernetes.io/name": names.GATEWAY_NAME},
        "uid": 10003,  # any non-root uid: TEI writes only to its cache volume and /tmp
        "image": versions_view.TEI_CPU_IMAGE,
        "args": args,
        "env": env,
        "port": PORT,
        "cache_size": cfg.cache_size,
        "resources": res(RESOURCES[ctx.profile.name]),
        "volume_mounts": mounts,
        "volumes": volumes,
        "checkov_skips": dict(COMMON_SKIPS),
    }


def _label_value(model: str) -> str:
    """The model id as a label value (``/`` is not allowed there)."""
    return model.replace("/", ".")[:63].strip("-_.")


def stack_injection_classifier(ctx: RenderContext) -> Files:
    if not enabled(ctx):
        return {}
    files: Files = {}
    add(files, FOLDER, render_objects("injection-classifier/deployment.yaml.j2", tei=_view(ctx)))
    # Wave "data": synced and healthy before the gateway (wave "apps") that calls it.
    add(files, "apps", app(ctx, NAME, names.APPS_NAMESPACE, WAVE_DATA, path=tree_path(ctx, FOLDER)))
    return files
