"""The rendered tree against the fact tables of the pinned upstream releases (tests/render/upstream/).

Every flag, environment variable, chart values path, CRD version and config name the render hands to an
upstream program must be in the table of the release its pin names; a pin bumped without its table fails
test_every_pin_has_the_fact_table_of_its_exact_release.
"""

from __future__ import annotations

import re

import pytest
import yaml
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from llmops_cli import versions
from llmops_cli.config.model import Settings
from llmops_cli.render.api import render_environment

from .conftest import objects
from .upstream.model import Release
from .upstream.rendered import (
    CHART_TABLES,
    PINNED,
    VARIANT_IDS,
    alloy_config_names,
    chart_release,
    chart_sources,
    container,
    flags,
    leaf_paths,
    release,
    variants,
    workload,
)
from .upstream.tables import TABLES


def test_every_pin_has_the_fact_table_of_its_exact_release():
    for pin, (table, version) in PINNED.items():
        assert version in TABLES[table], f"{pin} is pinned at {version}: read its facts upstream and add a table"
        rel = TABLES[table][version]
        assert rel.version == version and rel.repo and rel.tag
        assert all(f.file and f.names for f in rel.facts), f"{pin}: every fact names its file"
    assert set(PINNED) <= set(versions.PINS)


def _parts(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.lstrip("v").split("."))


def _is_later_patch(pinned: str, shipped: str) -> bool:
    """``pinned`` is ``shipped`` or a later patch of the same minor."""
    return _parts(pinned)[:2] == _parts(shipped)[:2] and _parts(pinned) >= _parts(shipped)


def test_argocd_runs_a_patch_release_of_the_minor_its_chart_ships():
    """The chart pin's appVersion is recorded as the chart ships it; the Argo CD pin is that release or a later
    patch of the same minor (only those keep the chart's templates and CRDs: see versions.py), and the render asks
    for it through global.image.tag."""
    shipped = release("argo-cd chart").scalars["appVersion"]
    assert versions.ARGOCD_CHART_APP_VERSION == shipped

    assert _is_later_patch(versions.ARGOCD_APP_VERSION, shipped)
    for variant, tree in variants():
        for obj in objects(tree).values():
            if obj.get("kind") == "HelmChart" and obj["spec"]["chart"] == "argo-cd":
                values = yaml.safe_load(obj["spec"]["valuesContent"])
            elif obj.get("kind") == "Application" and obj["spec"].get("source", {}).get("chart") == "argo-cd":
                values = obj["spec"]["source"]["helm"]["valuesObject"]
            else:
                continue
            assert values["global"]["image"]["tag"] == versions.ARGOCD_APP_VERSION, variant


def test_argo_rollouts_runs_a_patch_release_of_the_minor_its_chart_ships():
    """As for Argo CD: the chart's appVersion as it ships, the pinned controller a later patch of the same minor
    (one with the chart's CRDs and RBAC: versions.py), asked for through controller.image.tag."""
    shipped = release("argo-rollouts chart").scalars["appVersion"]
    assert versions.ARGO_ROLLOUTS_CHART_APP_VERSION == shipped

    pinned = versions.ARGO_ROLLOUTS_APP_VERSION
    assert _is_later_patch(pinned, shipped)
    assert release("argo-rollouts").names("crds") == TABLES["argo-rollouts"][shipped].names("crds")
    seen = 0
    for variant, tree in variants():
        for _, chart, _, values in chart_sources(tree):
            if chart == "argo-rollouts":
                seen += 1
                assert values["controller"]["image"]["tag"] == pinned, variant
                assert not values["dashboard"]["enabled"], variant  # its image would still be the chart's
    assert seen


def test_dcgm_exporter_pin_is_the_release_its_chart_ships():
    """The chart's version is the exporter half of the release tag <DCGM>-<exporter>; its image is that release."""
    rel = release("dcgm-exporter chart")
    assert rel.scalars["appVersion"] == versions.DCGM_EXPORTER_VERSION
    assert rel.tag.split(" ")[0] == versions.DCGM_EXPORTER_TAG
    assert rel.scalars["image_tag"].startswith(f"{versions.DCGM_EXPORTER_TAG}-")


def test_kubernetes_minor_is_the_pinned_k3s_and_supported_by_argocd():
    assert versions.KUBERNETES_MINOR in release("k3s").names("kubernetes")
    assert versions.KUBERNETES_MINOR in release("argo-cd").names("kubernetes")
    assert versions.K3S_VERSION.startswith(f"v{versions.KUBERNETES_MINOR}.")


def test_vllm_images_carry_the_pinned_release():
    assert versions.VLLM_IMAGE.endswith(f":{versions.VLLM_VERSION}")
    assert f":{versions.VLLM_VERSION}-" in versions.VLLM_CPU_IMAGE
    assert versions.INFERENCE_SIM_IMAGE.endswith(f":{versions.INFERENCE_SIM_VERSION}")


def _model_server(tree: dict[str, str]) -> tuple[dict, Release]:
    deploy = workload(tree, "Deployment", "vllm-")
    assert deploy is not None
    backend = deploy["metadata"]["labels"]["llmops.dev/backend"]
    rel = release("inference simulator image") if backend == "simulator" else release("vllm")
    return deploy, rel


@pytest.mark.parametrize(("variant", "tree"), variants(), ids=VARIANT_IDS)
def test_model_server_arguments_and_env_exist_in_the_pinned_release(variant, tree):
    deploy, rel = _model_server(tree)
    c = container(deploy)
    args = c["args"]
    assert flags(args) <= rel.names("flags"), f"{variant}: {flags(args) - rel.names('flags')} unknown to {rel.tag}"
    if "positional" in rel.names("serve_model"):
        # `vllm serve <model> ...`: the model first, never --model.
        assert c["command"] == ["vllm", "serve"]
        assert not args[0].startswith("-") and "--model" not in args
    else:
        assert "command" not in c and "--model" in args
        assert args[args.index("--mode") + 1] in rel.names("modes")
    env = {e["name"] for e in c.get("env", [])} - {"HOME"}
    assert env <= rel.names("env") if env else True, f"{variant}: {env - rel.names('env')}"
    probes = {c[p]["httpGet"]["path"] for p in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert probes <= rel.names("routes")


@given(
    model=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}(/[A-Za-z0-9][A-Za-z0-9._-]{0,20})?", fullmatch=True),
    backend=st.sampled_from(["gpu", "cpu"]),
    extra=st.lists(st.sampled_from(["--enforce-eager", "--dtype=half", "--seed", "7"]), max_size=3),
)
@hsettings(max_examples=40, deadline=None)
def test_vllm_serve_takes_any_model_as_its_first_positional_argument(model, backend, extra):
    s = Settings.model_validate(
        {"gpu": {"mode": "on" if backend == "gpu" else "off"},
         "stacks": {"vllm": {"model": model, "backend": backend, "extra_args": extra}}}
    )  # fmt: skip
    deploy = next(o for p, o in objects(render_environment(s, "dev")).items() if p.startswith("vllm/deployment-"))
    c = container(deploy)
    assert c["command"] == ["vllm", "serve"] and c["args"][0] == model
    assert "--model" not in c["args"]


@pytest.mark.parametrize(("variant", "tree"), variants(), ids=VARIANT_IDS)
def test_every_helm_value_is_a_path_the_pinned_chart_reads(variant, tree):
    seen = set()
    for path, chart, version, values in chart_sources(tree):
        rel = chart_release(chart, version)
        assert rel.values is not None
        for leaf in leaf_paths(values):
            assert rel.values.admits(leaf), f"{variant} {path}: {'.'.join(leaf)} is not read by {chart} {version}"
        seen.add(chart)
    assert {"argo-cd", "kube-prometheus-stack", "loki", "alloy"} <= seen


def test_the_helm_engine_check_exports_every_chart_the_tree_renders():
    # tests/render/test_helm_charts.py (opt-in) loads each chart from chart_sources' export: a chart missing there
    # fails that check with "no such file" instead of rendering it (argo-rollouts was, until 2026-12-08).
    from .upstream.chart_sources import CHART_PATHS

    rendered = {chart for _, tree in variants() for _, chart, _, _ in chart_sources(tree)}
    assert rendered <= set(CHART_PATHS) == set(CHART_TABLES)


@pytest.mark.parametrize(("variant", "tree"), variants(), ids=VARIANT_IDS)
def test_argocd_settings_are_argocd_settings(variant, tree):
    argocd = release("argo-cd")
    for path, chart, _, values in chart_sources(tree):
        if chart != "argo-cd":
            continue
        assert set(values["configs"]["cm"]) <= argocd.names("cm"), path
        assert set(values["configs"]["params"]) <= argocd.names("cmd_params"), path


@pytest.mark.parametrize(("variant", "tree"), variants(), ids=VARIANT_IDS)
def test_custom_resources_are_versions_the_pinned_crds_serve(variant, tree):
    served = release("argo-cd").names("crds") | release("k3s").names("crds")
    served |= release("prometheus-operator-crds chart").names("crds")
    served |= release("argo-rollouts").names("crds")
    served |= release("cloudnative-pg chart").names("crds")
    served |= release("barman-cloud plugin chart").names("crds")
    for path, obj in objects(tree).items():
        if "/" in obj["apiVersion"] and not obj["apiVersion"].startswith(
            ("apps/", "networking.k8s.io/", "policy/", "autoscaling/", "batch/")
        ):
            assert f"{obj['apiVersion']}/{obj['kind']}" in served, f"{variant} {path}"
        if obj["kind"] == "HelmChart":
            assert set(obj["spec"]) <= release("k3s").names("helmchart_spec"), path


@pytest.mark.parametrize(("variant", "tree"), variants(), ids=VARIANT_IDS)
def test_git_server_database_and_exporter_env_exist_upstream(variant, tree):
    git = workload(tree, "Deployment", "llmops-git")
    if git is not None:
        soft = release("git server image")
        env = {e["name"]: e.get("value") for e in container(git)["env"]}
        assert set(env) - {"HOME"} <= soft.names("env")
        assert env["SOFT_SERVE_ANON_ACCESS"] in soft.names("access_levels")
    pg = workload(tree, "StatefulSet", "pgvector")
    if pg is not None:
        assert {e["name"] for e in container(pg, "postgres")["env"]} <= release("pgvector image").names("env")
    else:  # prod: CloudNativePG runs PostgreSQL; the exporter is its own Deployment
        pg = workload(tree, "Deployment", "pgvector-exporter")
        assert pg is not None, variant
    exporter = container(pg, "exporter")
    exp = release("postgres exporter image")
    assert {e["name"] for e in exporter["env"]} <= exp.names("env")
    assert {str(p["containerPort"]) for p in exporter["ports"]} <= exp.names("ports")


@pytest.mark.parametrize(("variant", "tree"), variants(), ids=VARIANT_IDS)
def test_alloy_config_uses_components_and_arguments_of_the_pinned_alloy(variant, tree):
    alloy = release("alloy chart")
    for _, chart, _, values in chart_sources(tree):
        if chart != "alloy":
            continue
        assert values["controller"]["type"] in alloy.names("controller_types")
        components, attrs, env = alloy_config_names(values["alloy"]["configMap"]["content"])
        assert components <= alloy.names("components")
        assert attrs <= alloy.names("attributes"), attrs - alloy.names("attributes")
        assert env <= alloy.names("node_name_env")
        assert "sys.env" in alloy.names("stdlib")


@pytest.mark.parametrize(("variant", "tree"), variants(), ids=VARIANT_IDS)
def test_time_slicing_config_is_the_device_plugins_format(variant, tree):
    plugin = release("nvidia-device-plugin chart")
    for _, chart, _, values in chart_sources(tree):
        if chart != "nvidia-device-plugin" or "config" not in values:
            continue
        cfg = yaml.safe_load(values["config"]["map"][values["config"]["default"]])
        assert cfg["version"] in plugin.names("config_versions")
        keys = set(cfg) | set(cfg["sharing"]) | set(cfg["sharing"]["timeSlicing"])
        keys |= {k for r in cfg["sharing"]["timeSlicing"]["resources"] for k in r}
        assert keys <= plugin.names("sharing_config")


def _field_selector(content: str, env: dict[str, str]) -> tuple[str, str]:
    """Evaluate the pod selector's field expression (a string literal plus sys.env(...)) under ``env``."""
    m = re.search(r'field\s*=\s*"([^"]*)"\s*\+\s*sys\.env\("([A-Za-z_]+)"\)', content)
    assert m, "discovery.kubernetes must select pods by a field of this node"
    key, _, value = (m.group(1) + env[m.group(2)]).partition("=")
    return key, value


@given(st.lists(st.integers(0, 7), min_size=1, max_size=40), st.integers(1, 8))
@hsettings(max_examples=60, deadline=None)
def test_alloy_reads_every_pod_exactly_once_on_any_number_of_nodes(pod_nodes, nodes):
    """One Alloy per node (a DaemonSet), each with the environment the chart gives it (HOSTNAME = the pod's
    node): whatever the placement of pods on nodes, every pod is read, and none twice."""
    from llmops_cli.render.stacks.common import make_ctx
    from llmops_cli.render.stacks.observability import alloy_values

    values = alloy_values(make_ctx(Settings(), "dev"))
    assert values["controller"]["type"] == "daemonset"
    content = values["alloy"]["configMap"]["content"]
    pods = [{"metadata.name": f"pod-{i}", "spec.nodeName": f"node-{n % nodes}"} for i, n in enumerate(pod_nodes)]
    read = []
    for node in range(nodes):
        env = dict.fromkeys(release("alloy chart").names("node_name_env"), f"node-{node}")
        key, value = _field_selector(content, env)
        read += [p["metadata.name"] for p in pods if p[key] == value]
    assert sorted(read) == sorted(p["metadata.name"] for p in pods)


@given(share=st.integers(1, 64), util=st.none() | st.floats(0.01, 1.0))
@hsettings(max_examples=40, deadline=None)
def test_vllm_leaves_room_for_every_pod_time_slicing_puts_on_its_gpu(share, util):
    """With gpu.share N every pod on the GPU sees all of its memory (no isolation) and vLLM will not start when
    less than its share is free: vLLM's share is at most 1/N, or the settings are refused with the fix."""
    from pydantic import ValidationError

    raw = {"gpu": {"mode": "on", "share": share}, "stacks": {"vllm": {"gpu_memory_utilization": util}}}
    try:
        s = Settings.model_validate(raw)
    except ValidationError as e:
        assert util is not None and util * share > 1
        assert "gpu.share" in str(e) and f"{1 / share:.2f}" in str(e)
        return
    deploy = next(o for p, o in objects(render_environment(s, "dev")).items() if p.startswith("vllm/deployment-"))
    args = container(deploy)["args"]
    used = float(args[args.index("--gpu-memory-utilization") + 1])
    assert used * share <= 1.0 + 1e-9
    assert used == (util if util is not None else int(0.9 / share * 100) / 100)


@pytest.mark.parametrize(("variant", "tree"), variants(), ids=VARIANT_IDS)
def test_injection_classifier_flags_env_and_routes_exist_in_the_pinned_tei(variant, tree):
    """TEI's arguments, environment, token file and probes are TEI v1.9.3's; --port overrides the image's PORT=80
    (a non-root pod cannot bind it), and the batch limit is the one the gateway's policy sends at most."""
    deploy = workload(tree, "Deployment", "injection-classifier")
    if deploy is None:
        assert variant in {"dev", "prod", "dev-gpu-plain", "dev-cpu", "prod-backup"}  # off by default
        return
    tei = release("injection classifier image")
    c = container(deploy)
    args = c["args"]
    assert flags(args) <= tei.names("flags"), flags(args) - tei.names("flags")
    assert "command" not in c  # the image's entrypoint is text-embeddings-router
    port = int(args[args.index("--port") + 1])
    assert f"PORT={port}" not in tei.names("image_env") and port > 1024
    assert {p["containerPort"] for p in c["ports"]} == {port}
    env = {e["name"]: e["value"] for e in c["env"]}
    assert set(env) <= tei.names("env")
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in deploy["spec"]["template"]["spec"]["volumes"]}
    if "HF_HOME" in env:  # the Secret's HF_TOKEN key is the file $HF_HOME/token
        secret = volumes[mounts[env["HF_HOME"]]]["secret"]
        assert [i["path"] for i in secret["items"]] == list(tei.names("token_file"))
    cache = args[args.index("--huggingface-hub-cache") + 1]
    assert "persistentVolumeClaim" in volumes[mounts[cache]]
    probes = {c[p]["httpGet"]["path"] for p in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert probes <= tei.names("routes")
    policy = yaml.safe_load(
        next(o for o in objects(tree).values() if o["metadata"]["name"] == "policy-gateway-policies")["data"][
            "gateway.yaml"
        ]
    )
    clf = policy["content"]["injection"]["classifier"]
    assert int(args[args.index("--max-client-batch-size") + 1]) == clf["max_chunks"]


@pytest.mark.parametrize(("variant", "tree"), variants(), ids=VARIANT_IDS)
def test_postgres_through_cloudnative_pg_uses_what_the_pinned_operator_and_image_provide(variant, tree):
    cluster = workload(tree, "Cluster", "pgvector")
    if not variant.startswith("prod"):
        assert cluster is None
        return
    assert cluster is not None
    chart, image = release("cloudnative-pg chart"), release("cloudnative-pg postgres image")
    spec = cluster["spec"]
    assert set(spec) <= chart.names("cluster_spec")
    assert set(spec["bootstrap"]["initdb"]) <= chart.names("initdb")
    # The operand image carries pgvector (a standard image), at the PostgreSQL the single-node image runs.
    assert "pgvector" in image.names("extensions") and spec["imageName"].endswith(f":{image.version}")
    assert image.version.split("-")[0] in image.names("postgres")
    assert spec["imageName"].split(":")[1].split(".")[0] == versions.PGVECTOR_IMAGE.rsplit("pg", 1)[1]
    assert "CREATE EXTENSION IF NOT EXISTS vector;" in spec["bootstrap"]["initdb"]["postInitApplicationSQL"]
    # The platform's Service selects the primary by the labels the operator sets; its policy admits the operator.
    svc = next(o for o in objects(tree).values() if o["kind"] == "Service" and o["metadata"]["name"] == "pgvector")
    assert set(svc["spec"]["selector"]) <= chart.names("pod_labels")
    policy = next(
        o for o in objects(tree).values() if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "pgvector"
    )
    ports = {str(p["port"]) for rule in policy["spec"]["ingress"] for p in rule["ports"]}
    assert ports == chart.names("ports")
    # Argo CD judges the Cluster's health itself (no custom Lua needed).
    assert "postgresql.cnpg.io/Cluster" in release("argo-cd").names("health")


def test_the_barman_cloud_plugin_runs_with_the_crds_and_rbac_of_its_chart():
    """The plugin's chart may run a later plugin release by its image tags only where that release keeps the
    chart's ObjectStore CRD, needs no more RBAC and reads the sidecar image from the same variable; the pinned
    CloudNativePG is one it supports."""
    chart, plugin = release("barman-cloud plugin chart"), release("barman-cloud plugin")
    assert plugin.names("crds") == chart.names("crds")
    assert plugin.names("crd_spec") == {f"identical to {chart.tag.split(' ')[0]}"}
    assert plugin.names("rbac") == {f"covered by {chart.tag.split(' ')[0]}"}
    assert plugin.names("plugin_parameters") == chart.names("plugin_parameters")
    assert plugin.names("sidecar_image_env") == chart.names("sidecar_image_env")
    (least,) = plugin.names("min_cloudnative_pg")
    assert _parts(versions.CNPG_APP_VERSION) >= _parts(least)


@pytest.mark.parametrize(("variant", "tree"), variants(), ids=VARIANT_IDS)
def test_backups_use_what_the_pinned_operator_plugin_and_cert_manager_provide(variant, tree):
    """Backups go through the Barman Cloud plugin (in-tree barman-cloud is deprecated at the pinned CNPG): the
    Cluster names the plugin and its ObjectStore, the ScheduledBackup uses method plugin with a six-field schedule,
    and the plugin's chart runs beside the operator with cert-manager, whose CRDs it needs, in an earlier wave."""
    by_kind: dict[str, list[dict]] = {}
    for obj in objects(tree).values():
        by_kind.setdefault(obj["kind"], []).append(obj)
    charts = {
        src["chart"]: (obj, src) for obj in by_kind.get("Application", []) if "chart" in (src := obj["spec"]["source"])
    }
    if variant != "prod-backup":
        assert not {"ObjectStore", "ScheduledBackup"} & set(by_kind)
        assert not {"plugin-barman-cloud", "cert-manager"} & set(charts)
        assert all("plugins" not in c["spec"] for c in by_kind.get("Cluster", []))
        return
    cnpg, plugin, cm = (
        release("cloudnative-pg chart"),
        release("barman-cloud plugin chart"),
        release("cert-manager chart"),
    )
    plugin_app = release("barman-cloud plugin")
    assert "plugin:barman-cloud.cloudnative-pg.io" in cnpg.names("object_store_backups")
    (cluster,), (store,), (scheduled,) = by_kind["Cluster"], by_kind["ObjectStore"], by_kind["ScheduledBackup"]
    (entry,) = cluster["spec"]["plugins"]
    assert set(entry) <= cnpg.names("cluster_plugins") and entry["isWALArchiver"] is True
    assert {entry["name"]} == plugin.names("plugin_name")
    assert set(entry["parameters"]) <= plugin.names("plugin_parameters")
    assert entry["parameters"]["barmanObjectName"] == store["metadata"]["name"]
    assert store["metadata"]["namespace"] == cluster["metadata"]["namespace"]
    spec = store["spec"]
    assert set(spec) <= plugin.names("objectstore_spec")
    assert set(spec["configuration"]) <= plugin.names("objectstore_configuration")
    assert set(spec["configuration"]["s3Credentials"]) <= plugin.names("s3_credentials")
    assert spec["configuration"]["endpointCA"] == {"name": "minio-ca", "key": "ca.crt"}
    assert spec["configuration"]["wal"]["compression"] in plugin.names("wal_compression")
    assert spec["configuration"]["data"]["compression"] in plugin.names("data_compression")
    (pattern,) = plugin.names("retention_pattern")
    assert re.fullmatch(pattern, spec["retentionPolicy"])
    sb = scheduled["spec"]
    assert set(sb) <= cnpg.names("scheduledbackup_spec")
    assert sb["method"] == "plugin" and sb["method"] in cnpg.names("backup_methods")
    assert sb["pluginConfiguration"]["name"] == entry["name"] and sb["cluster"]["name"] == cluster["metadata"]["name"]
    assert str(len(sb["schedule"].split())) in cnpg.names("schedule_fields")
    # The plugin's chart: in the operator's namespace, from the operator's chart repository; cert-manager serves the
    # CRDs its templates use, in an earlier sync wave.
    app, src = charts["plugin-barman-cloud"]
    assert app["spec"]["destination"]["namespace"] in plugin.names("namespace")
    assert src["repoURL"] == charts["cloudnative-pg"][1]["repoURL"]
    # The chart ships its appVersion; the pinned plugin (its operator and its sidecar) runs through the image tags.
    assert versions.BARMAN_CLOUD_CHART_APP_VERSION == plugin.scalars["appVersion"]
    values = src["helm"]["valuesObject"]
    assert values["image"]["tag"] == values["sidecarImage"]["tag"] == versions.BARMAN_CLOUD_VERSION
    assert {versions.BARMAN_CLOUD_VERSION} == plugin_app.names("image_tag")
    cm_app, cm_src = charts["cert-manager"]
    assert plugin.names("needs_crds") <= cm.names("crds")
    assert {cm_src["repoURL"]} == cm.names("chart_repo")
    wave = lambda a: int(a["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])  # noqa: E731
    assert wave(cm_app) < wave(app) <= wave(charts["cloudnative-pg"][0])
    assert "dynamic" in cnpg.names("plugin_discovery")  # the plugin may arrive after the operator started
    # The project admits both (repository, namespace); cert-manager's namespace enforces the restricted level.
    (project,) = by_kind["AppProject"]
    assert {cm_src["repoURL"], src["repoURL"]} <= set(project["spec"]["sourceRepos"])
    destinations = {d["namespace"] for d in project["spec"]["destinations"]}
    assert {cm_app["spec"]["destination"]["namespace"], app["spec"]["destination"]["namespace"]} <= destinations
    (ns,) = [n for n in by_kind["Namespace"] if n["metadata"]["name"] == cm_app["spec"]["destination"]["namespace"]]
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
