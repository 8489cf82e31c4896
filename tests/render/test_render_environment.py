"""render_environment: structure, determinism, stacks, environments and backends."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from llmops_cli import versions
from llmops_cli.errors import UsageError
from llmops_cli.render import names
from llmops_cli.render.api import render_environment
from llmops_cli.render.stacks import STACKS
from llmops_cli.versions import INFERENCE_SIM_IMAGE, VLLM_CPU_IMAGE, VLLM_IMAGE

from .conftest import default_tree, gpu_tree, objects, settings


def _kind(objs: dict, kind: str) -> list[dict]:
    return [o for o in objs.values() if o["kind"] == kind]


def _one(objs: dict, kind: str, name: str | None = None) -> dict:
    found = [o for o in _kind(objs, kind) if name is None or o["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name, [o["metadata"]["name"] for o in _kind(objs, kind)])
    return found[0]


def _container(deploy: dict, name: str | None = None) -> dict:
    cs = deploy["spec"]["template"]["spec"]["containers"]
    return cs[0] if name is None else next(c for c in cs if c["name"] == name)


def test_rendering_twice_gives_byte_identical_files():
    a = render_environment(settings(), "prod")
    b = render_environment(settings(), "prod")
    assert a == b
    assert list(a) == sorted(a)


def test_every_file_has_the_header_and_one_object_named_after_it():
    for path, text in default_tree("dev").items():
        assert text.startswith(names.HEADER_MARK + "\n"), path
        if path.startswith("k3s/"):
            continue
        docs = list(yaml.safe_load_all(text))
        assert len(docs) == 1, path
        obj = docs[0]
        assert path.endswith(f"/{obj['kind'].lower()}-{obj['metadata']['name']}.yaml")


def test_no_secret_is_ever_rendered():
    for _, text in [*default_tree("dev").items(), *gpu_tree("prod").items()]:
        if "kind:" in text:
            assert "kind: Secret\n" not in text


def test_dev_defaults_suit_a_laptop_without_gpu():
    objs = objects(default_tree("dev"))
    deploy = _one(objs, "Deployment", "vllm-qwen2-5-0-5b-instruct")
    c = _container(deploy)
    assert c["image"] == INFERENCE_SIM_IMAGE
    assert "nvidia.com/gpu" not in c["resources"]["limits"]
    assert "runtimeClassName" not in deploy["spec"]["template"]["spec"]
    assert not any(p.startswith("gpu/") for p in default_tree("dev"))
    assert "default-runtime" not in default_tree("dev")["k3s/50-llmops.yaml"]


def test_gpu_backend_args_come_from_settings():
    s = settings(
        gpu={"mode": "on"},
        stacks={
            "vllm": {
                "model": "org/My-Model_7B",
                "max_model_len": 8192,
                "gpu_memory_utilization": 0.85,
                "max_num_seqs": 32,
                "extra_args": ["--enforce-eager"],
            }
        },
    )
    objs = objects(render_environment(s, "dev"))
    deploy = _one(objs, "Deployment", "vllm-my-model-7b")
    spec = deploy["spec"]["template"]["spec"]
    c = _container(deploy)
    assert c["image"] == VLLM_IMAGE
    assert c["command"] == ["vllm", "serve"]
    args = c["args"]
    assert args[0] == "org/My-Model_7B"  # `vllm serve <model>`: positional
    pairs = dict(zip(args[1::2], args[2::2], strict=False))
    assert pairs["--served-model-name"] == "my-model-7b"
    assert pairs["--max-model-len"] == "8192"
    assert pairs["--gpu-memory-utilization"] == "0.85"
    assert pairs["--max-num-seqs"] == "32"
    assert args[-1] == "--enforce-eager"
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert spec["runtimeClassName"] == "nvidia"
    assert c["startupProbe"]["httpGet"]["path"] == "/health"
    assert c["startupProbe"]["failureThreshold"] * c["startupProbe"]["periodSeconds"] >= 1200
    assert {"readinessProbe", "livenessProbe"} <= set(c)
    vols = {v["name"]: v for v in spec["volumes"]}
    assert vols["dshm"]["emptyDir"]["medium"] == "Memory"
    assert vols["cache"]["persistentVolumeClaim"]["claimName"] == "vllm-my-model-7b-cache"
    # the served name is reused for labels, Service, ServiceMonitor and the dashboard
    assert deploy["metadata"]["labels"]["llmops.dev/served-model-name"] == "my-model-7b"
    svc = _one(objs, "Service", "vllm-my-model-7b")
    assert svc["spec"]["selector"] == deploy["spec"]["selector"]["matchLabels"]
    _one(objs, "ServiceMonitor", "vllm-my-model-7b")
    dash = _one(objs, "ConfigMap", "dashboard-llmops-vllm")
    assert '"query": "my-model-7b"' in dash["data"]["llmops-vllm.json"]


def test_gpu_override_keyword_beats_gpu_mode():
    on = objects(render_environment(settings(), "dev", gpu=True))
    assert _container(_one(on, "Deployment", "vllm-qwen2-5-0-5b-instruct"))["image"] == VLLM_IMAGE
    off = objects(render_environment(settings(gpu={"mode": "on"}), "dev", gpu=False))
    assert _container(_one(off, "Deployment", "vllm-qwen2-5-0-5b-instruct"))["image"] == INFERENCE_SIM_IMAGE


def test_an_environment_host_with_a_gpu_turns_auto_on():
    s = settings(environments={"edge": {"hosts": [{"address": "10.200.0.2", "gpu": True}]}})
    tree = render_environment(s, "edge")
    assert "gpu/job-llmops-gpu-smoke.yaml" in tree


def test_cpu_backend_uses_the_cpu_image_without_gpu():
    objs = objects(render_environment(settings(stacks={"vllm": {"backend": "cpu"}}), "dev"))
    c = _container(_one(objs, "Deployment", "vllm-qwen2-5-0-5b-instruct"))
    assert c["image"] == VLLM_CPU_IMAGE
    assert "--gpu-memory-utilization" not in c["args"]
    assert "nvidia.com/gpu" not in c["resources"]["limits"]


def test_hf_token_secret_is_referenced_not_rendered():
    objs = objects(gpu_tree("dev"))
    deploy = _one(objs, "Deployment", "vllm-qwen2-5-0-5b-instruct")
    vols = {v["name"]: v for v in deploy["spec"]["template"]["spec"]["volumes"]}
    assert vols["hf-token"]["secret"]["secretName"] == "hf-token"


def test_prod_has_replicas_pdb_hpa_and_bigger_storage():
    dev, prod = objects(default_tree("dev")), objects(default_tree("prod"))
    # Argo Rollouts runs the pods: the Deployment is the Rollout's template at zero replicas; under an HPA the
    # Rollout leaves replicas to the autoscaler (else Argo CD and the HPA fight), which scales the Rollout
    assert _one(prod, "Deployment", names.GATEWAY_NAME)["spec"]["replicas"] == 0
    assert "replicas" not in _one(prod, "Rollout", names.GATEWAY_NAME)["spec"]
    assert _one(dev, "Rollout", names.GATEWAY_NAME)["spec"]["replicas"] == 1
    assert _one(prod, "HorizontalPodAutoscaler", names.GATEWAY_NAME)["spec"]["scaleTargetRef"] == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "name": names.GATEWAY_NAME,
    }
    plain = objects(render_environment(settings(stacks={"rollouts": {"enabled": False}}), "prod"))
    assert "replicas" not in _one(plain, "Deployment", names.GATEWAY_NAME)["spec"]
    assert not _kind(plain, "Rollout")
    assert _one(plain, "HorizontalPodAutoscaler", names.GATEWAY_NAME)["spec"]["scaleTargetRef"]["kind"] == "Deployment"
    assert _one(prod, "PodDisruptionBudget", names.GATEWAY_NAME)["spec"]["minAvailable"] == 1
    hpa = _one(prod, "HorizontalPodAutoscaler", names.GATEWAY_NAME)
    assert hpa["spec"]["minReplicas"] == 2 and hpa["spec"]["maxReplicas"] > 2
    assert not _kind(dev, "PodDisruptionBudget") and not _kind(dev, "HorizontalPodAutoscaler")
    fixed = objects(render_environment(settings(stacks={"gateway": {"replicas": 3}}), "prod"))
    hpa3 = _one(fixed, "HorizontalPodAutoscaler", names.GATEWAY_NAME)["spec"]
    assert hpa3["minReplicas"] == 3 and hpa3["maxReplicas"] >= 3

    def kps(objs: dict) -> dict:
        return _one(objs, "Application", "kube-prometheus-stack")["spec"]["source"]["helm"]["valuesObject"]

    def storage(v: dict) -> dict:
        return v["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]

    assert storage(kps(dev))["requests"]["storage"] == "5Gi"
    assert storage(kps(prod))["requests"]["storage"] == "100Gi"
    # Retention sized per profile, and Prometheus capped below its volume in prod.
    assert kps(dev)["prometheus"]["prometheusSpec"]["retention"] == "7d"
    assert "retentionSize" not in kps(dev)["prometheus"]["prometheusSpec"]
    assert kps(prod)["prometheus"]["prometheusSpec"]["retention"] == "30d"
    assert kps(prod)["prometheus"]["prometheusSpec"]["retentionSize"] == "90GiB"
    loki = _one(prod, "Application", "loki")["spec"]["source"]["helm"]["valuesObject"]
    assert loki["loki"]["limits_config"]["retention_period"] == "30d"
    assert loki["singleBinary"]["persistence"]["size"] == "100Gi"
    kept = objects(render_environment(settings(stacks={"observability": {"retention": "90d"}}), "prod"))
    assert kps(kept)["prometheus"]["prometheusSpec"]["retention"] == "90d"


def test_gateway_wiring():
    objs = objects(default_tree("dev"))
    deploy = _one(objs, "Deployment", names.GATEWAY_NAME)
    c = _container(deploy)
    assert c["image"].startswith("ghcr.io/llmops/policy-gateway:")
    assert c["command"] == ["llmops", "gateway", "serve"]
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["PAC_UPSTREAM_URL"] == "http://vllm-qwen2-5-0-5b-instruct.llmops.svc:8000"
    assert env["PAC_LLM_PROVIDER"] == "http"
    assert c["image"] == versions.GATEWAY_IMAGE
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    cm = _one(objs, "ConfigMap", "policy-gateway-policies")
    from llmops_cli.resources import policies_dir

    assert cm["data"]["gateway.yaml"] == (policies_dir() / "gateway.yaml").read_text()
    np = _one(objs, "NetworkPolicy", "vllm-qwen2-5-0-5b-instruct-from-gateway")
    assert (
        np["spec"]["podSelector"]["matchLabels"]
        == _one(objs, "Deployment", "vllm-qwen2-5-0-5b-instruct")["spec"]["selector"]["matchLabels"]
    )
    froms = np["spec"]["ingress"][0]["from"]
    assert {"podSelector": {"matchLabels": deploy["spec"]["selector"]["matchLabels"]}} in froms
    endpoint = _one(objs, "ServiceMonitor", names.GATEWAY_NAME)["spec"]["endpoints"][0]
    assert (endpoint["path"], endpoint["port"]) == ("/metrics", "metrics")
    # /metrics on its own port, which the Service names and only the monitoring namespace may reach
    assert c["args"][c["args"].index("--metrics-port") + 1] == str(names.GATEWAY_METRICS_PORT)
    assert {"name": "metrics", "containerPort": names.GATEWAY_METRICS_PORT} in c["ports"]
    svc_ports = {p["name"]: p["targetPort"] for p in _one(objs, "Service", names.GATEWAY_NAME)["spec"]["ports"]}
    assert svc_ports["metrics"] == "metrics"
    rules = _one(objs, "NetworkPolicy", names.GATEWAY_NAME)["spec"]["ingress"]
    metrics_rule = next(r for r in rules if r["ports"][0]["port"] == names.GATEWAY_METRICS_PORT)
    assert metrics_rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": names.MONITORING_NAMESPACE}}}
    ]
    api_rule = next(r for r in rules if r["ports"][0]["port"] == names.GATEWAY_PORT)
    assert "from" not in api_rule


def test_pgvector_init_sql_and_secret_reference():
    s = settings(stacks={"pgvector": {"database": "vectors", "schema": "docs", "storage": "25Gi"}})
    objs = objects(render_environment(s, "dev"))
    sql = _one(objs, "ConfigMap", "pgvector-init")["data"]["10-llmops.sql"]
    assert "CREATE EXTENSION IF NOT EXISTS vector;" in sql
    assert 'CREATE SCHEMA IF NOT EXISTS "docs";' in sql
    sts = _one(objs, "StatefulSet", "pgvector")
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "25Gi"
    vols = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    assert vols["credentials"]["secret"]["secretName"] == names.PGVECTOR_SECRET
    pg = _container(sts, "postgres")
    env = {e["name"]: e.get("value") for e in pg["env"]}
    assert env["POSTGRES_DB"] == "vectors"
    assert env["POSTGRES_PASSWORD_FILE"].startswith(f"/var/run/secrets/{names.PGVECTOR_SECRET}/")
    assert pg["image"].startswith("docker.io/pgvector/pgvector:")


def test_every_container_is_non_root_with_limits():
    for variant, tree in [("dev", default_tree("dev")), ("prod-gpu", gpu_tree("prod"))]:
        for path, obj in objects(tree).items():
            if obj["kind"] not in {"Deployment", "StatefulSet", "Job"}:
                continue
            pod = obj["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True, (variant, path)
            assert pod["securityContext"]["runAsUser"] >= 10000
            for c in pod["containers"]:
                assert c["securityContext"]["allowPrivilegeEscalation"] is False
                assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
                assert {"cpu", "memory"} <= set(c["resources"]["limits"]), (variant, path)


def test_argocd_bootstrap_and_app_of_apps():
    tree = default_tree("dev")
    objs = objects(tree)
    root = _one(objs, "Application", "llmops-dev")
    assert root["spec"]["source"]["repoURL"] == names.LOCAL_GIT_URL
    assert root["spec"]["source"]["path"] == "manifests/dev/apps"
    for app in _kind(objs, "Application"):
        sp = app["spec"]["syncPolicy"]
        assert sp["automated"] == {"prune": True, "selfHeal": True}
        assert sp["retry"]["backoff"]["factor"] == 2
        assert app["spec"]["project"] == names.PROJECT
    # every child app lives in apps/ and the path ones point at a folder of this tree
    for path, app in objs.items():
        if path.startswith("apps/") and "path" in app["spec"]["source"]:
            folder = app["spec"]["source"]["path"].removeprefix("manifests/dev/")
            assert any(p.startswith(folder + "/") for p in tree), folder
    self_app = _one(objs, "Application", names.ARGOCD_RELEASE)
    helmchart = _one(objs, "HelmChart", names.ARGOCD_RELEASE)
    assert self_app["spec"]["source"]["chart"] == helmchart["spec"]["chart"] == "argo-cd"
    assert self_app["spec"]["source"]["targetRevision"] == helmchart["spec"]["version"]
    assert yaml.safe_load(helmchart["spec"]["valuesContent"]) == self_app["spec"]["source"]["helm"]["valuesObject"]
    project = _one(objs, "AppProject", names.PROJECT)
    assert names.LOCAL_GIT_URL in project["spec"]["sourceRepos"]
    assert "*" not in project["spec"]["sourceRepos"]
    assert {d["namespace"] for d in project["spec"]["destinations"]} >= {"llmops", "monitoring", "argocd"}


def test_sync_waves_order_crds_operators_data_apps():
    objs = objects(default_tree("dev"))
    wave = {
        a["metadata"]["name"]: int(a["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
        for a in _kind(objs, "Application")
    }
    assert wave["prometheus-operator-crds"] < wave["kube-prometheus-stack"] < wave["pgvector"] < wave["vllm"]
    assert wave["pgvector"] < wave["gateway"] and wave["loki"] < wave["observability"]
    # waves only wait for child Applications when Argo CD assesses their health
    cm = _one(objs, "Application", names.ARGOCD_RELEASE)["spec"]["source"]["helm"]["valuesObject"]["configs"]["cm"]
    assert "st.health.status" in cm["resource.customizations.health.argoproj.io_Application"]


def test_remote_repo_url_replaces_the_local_git_server():
    s = settings(
        gitops={
            "repo_url": "https://git.example.com/org/platform.git",
            "branch": "release",
            "path": "deploy/tree",
        }
    )
    tree = render_environment(s, "prod")
    objs = objects(tree)
    root = _one(objs, "Application", "llmops-prod")
    assert root["spec"]["source"] == {
        "repoURL": "https://git.example.com/org/platform.git",
        "targetRevision": "release",
        "path": "deploy/tree/prod/apps",
    }
    assert not any("llmops-git" in p for p in tree)


def test_gpu_stack_device_plugin_time_slicing_and_dcgm():
    tree = gpu_tree("dev")
    objs = objects(tree)
    plugin = _one(objs, "Application", "nvidia-device-plugin")["spec"]["source"]
    values = plugin["helm"]["valuesObject"]
    assert values["runtimeClassName"] == "nvidia"
    term = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert term[0]["matchExpressions"][0] == {
        "key": "nvidia.com/gpu.present",
        "operator": "In",
        "values": ["true"],
    }
    slicing = yaml.safe_load(values["config"]["map"]["default"])
    assert slicing["sharing"]["timeSlicing"]["resources"] == [{"name": "nvidia.com/gpu", "replicas": 4}]
    _one(objs, "Application", "dcgm-exporter")
    k3s = yaml.safe_load(tree["k3s/50-llmops.yaml"])
    assert "default-runtime" not in k3s
    assert "nvidia.com/gpu.present=true" in k3s["node-label+"]
    assert k3s["tls-san+"] == ["k3s.example.com"]
    assert yaml.safe_load(tree["k3s/registries.yaml"]) == {
        "mirrors": {"docker.io": {"endpoint": ["https://mirror.example.com"]}}
    }


def test_stack_filter_and_disabled_stacks():
    only = render_environment(settings(), "dev", stacks=["vllm"])
    assert only and all(p.startswith(("vllm/", "apps/application-vllm")) for p in only)
    off = render_environment(
        settings(stacks={"pgvector": {"enabled": False}, "observability": {"enabled": False}}), "dev"
    )
    assert not any(p.startswith(("pgvector/", "observability/")) for p in off)
    assert not any("ServiceMonitor" in t for t in off.values())


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"env": "staging"}, "known environments: dev, prod"),
        ({"env": "dev", "stacks": ["nope"]}, "known stacks: " + ", ".join(STACKS)),
    ],
)
def test_unknown_env_or_stack_is_a_usage_error(kwargs, needle):
    with pytest.raises(UsageError) as e:
        render_environment(settings(), **kwargs)
    assert needle in str(e.value)


def test_user_defined_environment_renders():
    s = settings(environments={"staging": {"profile": "prod"}})
    tree = render_environment(s, "staging")
    assert "bootstrap/application-llmops-staging.yaml" in tree


def test_busy_polling_gateway_gets_one_whole_core_and_no_cpu_autoscaler():
    for env, replicas in (("dev", 1), ("prod", 2)):
        objs = objects(render_environment(settings(stacks={"gateway": {"busy_poll_ms": 25}}), env))
        deploy = _one(objs, "Deployment", names.GATEWAY_NAME)
        c = _container(deploy)
        assert {e["name"]: e["value"] for e in c["env"]}["PAC_BUSY_POLL_MS"] == "25"
        # Guaranteed class with an integer CPU: what the kubelet's static CPU manager pins to a core
        assert c["resources"]["requests"] == c["resources"]["limits"]
        assert c["resources"]["limits"]["cpu"] == "1"
        # the polling would read as load to a CPU autoscaler: fixed replicas instead
        assert not _kind(objs, "HorizontalPodAutoscaler")
        assert _one(objs, "Rollout", names.GATEWAY_NAME)["spec"]["replicas"] == replicas
    prod = objects(default_tree("prod"))
    c = _container(_one(prod, "Deployment", names.GATEWAY_NAME))
    assert "PAC_BUSY_POLL_MS" not in {e["name"] for e in c["env"]}  # off by default
    assert c["resources"]["requests"]["cpu"] != c["resources"]["limits"]["cpu"]
    assert _kind(prod, "HorizontalPodAutoscaler")
    fixed = objects(render_environment(settings(stacks={"gateway": {"busy_poll_ms": 5, "replicas": 4}}), "prod"))
    assert _one(fixed, "Rollout", names.GATEWAY_NAME)["spec"]["replicas"] == 4


def test_a_litellm_gateway_runs_the_image_that_has_litellm():
    tree = render_environment(settings(stacks={"gateway": {"provider": "litellm"}}), "dev")
    c = _container(_one(objects(tree), "Deployment", names.GATEWAY_NAME))
    assert c["image"] == versions.GATEWAY_LITELLM_IMAGE and c["image"].endswith("-litellm")
    assert {e["name"]: e["value"] for e in c["env"]}["PAC_LLM_PROVIDER"] == "litellm"


def test_shared_rate_limits_run_a_store_for_environments_with_several_gateway_pods():
    """prod (an autoscaler, 2-6 pods) keeps the per-key buckets in one Valkey that all gateway pods share; dev
    (one pod) needs none. The gateway gets the store's URL and the password file from the Secret `up` creates,
    and the store reads the same Secret's config file: no password in any manifest or argument."""
    prod = objects(default_tree("prod"))
    store = _one(prod, "Deployment", names.GATEWAY_REDIS_NAME)
    valkey = _container(store)
    assert valkey["image"] == versions.VALKEY_IMAGE
    conf = f"/var/run/secrets/{names.GATEWAY_REDIS_SECRET}/{names.GATEWAY_REDIS_SECRET_CONF_KEY}"
    args = valkey["args"]
    assert args[args.index("--include") + 1] == conf
    assert args[args.index("--save") + 1] == "" and args[args.index("--appendonly") + 1] == "no"
    assert store["spec"]["replicas"] == 1
    volumes = {v["name"]: v for v in store["spec"]["template"]["spec"]["volumes"]}
    assert volumes["secret"]["secret"]["secretName"] == names.GATEWAY_REDIS_SECRET
    assert store["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert valkey["securityContext"]["readOnlyRootFilesystem"] is True and valkey["resources"]["limits"]

    svc = _one(prod, "Service", names.GATEWAY_REDIS_NAME)
    assert svc["spec"]["selector"] == store["spec"]["selector"]["matchLabels"]
    netpol = _one(prod, "NetworkPolicy", names.GATEWAY_REDIS_NAME)
    assert netpol["spec"]["podSelector"]["matchLabels"] == store["spec"]["selector"]["matchLabels"]
    (rule,) = netpol["spec"]["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": names.GATEWAY_NAME}}}]
    assert rule["ports"] == [{"port": names.GATEWAY_REDIS_PORT, "protocol": "TCP"}]

    gw = _one(prod, "Deployment", names.GATEWAY_NAME)
    env = {e["name"]: e.get("value") for e in _container(gw)["env"]}
    assert env["PAC_REDIS_URL"] == f"redis://{names.GATEWAY_REDIS_NAME}.{names.APPS_NAMESPACE}.svc:6379/0"
    assert env["PAC_REDIS_PASSWORD_FILE"] == f"/var/run/secrets/{names.GATEWAY_REDIS_SECRET}/password"
    assert "PAC_REDIS_PASSWORD" not in env
    gw_volumes = {v["name"]: v for v in gw["spec"]["template"]["spec"]["volumes"]}
    assert gw_volumes["redis-secret"]["secret"] == {
        "secretName": names.GATEWAY_REDIS_SECRET,
        "items": [{"key": "password", "path": "password"}],  # the gateway does not get the store's config
    }
    assert not [o for o in prod.values() if o["kind"] == "Secret"]  # `up` creates it; never rendered

    dev = objects(default_tree("dev"))
    assert not [o for o in dev.values() if o["metadata"]["name"] == names.GATEWAY_REDIS_NAME]
    assert "PAC_REDIS_URL" not in {e["name"] for e in _container(_one(dev, "Deployment", names.GATEWAY_NAME))["env"]}
    # either way by hand: dev with 3 replicas gets it (auto), prod can turn it off
    for gateway, env_name, has in (
        ({"replicas": 3}, "dev", True),
        ({"shared_rate_limits": True}, "dev", True),
        ({"shared_rate_limits": False}, "prod", False),
    ):
        objs = objects(render_environment(settings(stacks={"gateway": gateway}), env_name))
        assert (
            bool(
                _kind(
                    {p: o for p, o in objs.items() if o["metadata"]["name"] == names.GATEWAY_REDIS_NAME}, "Deployment"
                )
            )
            is has
        )


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_gateway_pod_hashes_the_audit_log_with_the_key_up_creates(env: str, tmp_path: Path) -> None:
    """Audit hashes of prompts compare across pods and restarts only with one key: the gateway reads it from the
    file of the Secret `up` creates (never rendered, never in Git), and the value `up` generates is one the
    gateway accepts as a key (read the way the gateway reads it, at the path the manifest mounts)."""
    from llmops_cli.cluster.steps.secrets import generate
    from llmops_cli.cluster.up import platform_secrets
    from llmops_cli.config.model import Settings
    from llmops_cli.gateway.audit import HMAC_KEY_FILE_ENV, hmac_key

    tree = objects(default_tree(env))
    gw = _one(tree, "Deployment", names.GATEWAY_NAME)
    c = _container(gw)
    path = {e["name"]: e.get("value") for e in c["env"]}[HMAC_KEY_FILE_ENV]
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in gw["spec"]["template"]["spec"]["volumes"]}
    (mount,) = [m for m in mounts.values() if path.startswith(m["mountPath"] + "/")]
    assert mount["readOnly"] is True
    source = volumes[mount["name"]]["secret"]
    (item,) = source["items"]
    assert path == f"{mount['mountPath']}/{item['path']}"
    (spec,) = [s for s in platform_secrets(Settings()) if s.name == source["secretName"]]
    assert spec.namespace == gw["metadata"]["namespace"] and item["key"] in spec.keys
    assert not [o for o in tree.values() if o["kind"] == "Secret"]

    key_file = tmp_path / item["path"]
    key_file.write_text(generate())
    assert hmac_key({HMAC_KEY_FILE_ENV: str(key_file)}) == key_file.read_bytes()
