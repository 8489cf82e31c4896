"""The interface `up` and `promote` use: bootstrap_objects, k3s_config, k3s_registries, gpu_smoke_job."""

from __future__ import annotations

import yaml

from llmops_cli.render import names
from llmops_cli.render.api import bootstrap_objects, gpu_smoke_job, k3s_config, k3s_registries

from .conftest import settings


def test_bootstrap_objects_come_in_apply_order():
    objs = bootstrap_objects(settings(), "dev", repo_url=names.LOCAL_GIT_URL)
    kinds = [o["kind"] for o in objs]
    last_ns = max(i for i, k in enumerate(kinds) if k == "Namespace")
    assert kinds.index("HelmChart") > last_ns
    assert kinds.index("Deployment") > kinds.index("HelmChart")  # the git server after Argo CD's install
    assert kinds[-2:] == ["AppProject", "Application"]
    assert {o["metadata"]["name"] for o in objs if o["kind"] == "Namespace"} >= {
        names.ARGOCD_NAMESPACE,
        names.APPS_NAMESPACE,
        names.SYSTEM_NAMESPACE,
    }
    root = objs[-1]
    assert root["metadata"]["name"] == "llmops-dev"
    assert root["spec"]["source"]["repoURL"] == names.LOCAL_GIT_URL


def test_bootstrap_objects_use_the_given_repo_url():
    url = "ssh://git@git.example.com/org/platform.git"
    objs = bootstrap_objects(settings(gitops={"repo_url": url}), "prod", repo_url=url)
    assert objs[-1]["spec"]["source"]["repoURL"] == url
    assert url in objs[-2]["spec"]["sourceRepos"]
    assert not any(o["metadata"]["name"] == names.GIT_SERVER_NAME for o in objs)


def test_bootstrap_objects_equal_the_rendered_bootstrap_folder():
    from llmops_cli.render.api import render_environment

    tree = render_environment(settings(), "dev", stacks=["argocd"])
    rendered = [yaml.safe_load(t) for p, t in tree.items() if p.startswith("bootstrap/")]
    objs = bootstrap_objects(settings(), "dev", repo_url=names.LOCAL_GIT_URL)
    key = lambda o: (o["kind"], o["metadata"]["name"])  # noqa: E731
    assert sorted(rendered, key=key) == sorted(objs, key=key)


def test_local_git_server_is_reachable_at_local_git_url():
    objs = bootstrap_objects(settings(), "dev", repo_url=names.LOCAL_GIT_URL)
    svc = next(o for o in objs if o["kind"] == "Service" and o["metadata"]["name"] == names.GIT_SERVER_NAME)
    assert svc["metadata"]["namespace"] == names.SYSTEM_NAMESPACE
    assert svc["spec"]["ports"][0]["port"] == names.GIT_SERVER_PORT
    assert names.LOCAL_GIT_URL.startswith(
        f"http://{names.GIT_SERVER_NAME}.{names.SYSTEM_NAMESPACE}.svc:{names.GIT_SERVER_PORT}/"
    )
    deploy = next(o for o in objs if o["kind"] == "Deployment")
    pod = deploy["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["containers"][0]["ports"][0]["containerPort"] == names.GIT_SERVER_HTTP_PORT


def test_k3s_config_drop_in():
    s = settings(
        cluster={
            "tls_san": ["api.example.com", "10.200.0.2"],
            "node_labels": {"tier": "edge"},
            "disable": ["traefik", "servicelb"],
        }
    )
    text = k3s_config(s, gpu=True, node_ip="10.200.0.2")
    assert text.startswith(names.HEADER_MARK)
    cfg = yaml.safe_load(text)
    assert cfg == {
        "write-kubeconfig-mode": "0600",
        "tls-san": ["api.example.com", "10.200.0.2"],
        "node-ip": "10.200.0.2",
        "node-label": ["nvidia.com/gpu.present=true", "tier=edge"],
        "disable": ["traefik", "servicelb"],
        "default-runtime": "nvidia",
    }
    plain = yaml.safe_load(k3s_config(settings(), gpu=False))
    assert plain == {"write-kubeconfig-mode": "0600", "disable": ["traefik"]}


def test_k3s_registries_only_with_a_mirror():
    assert k3s_registries(settings()) is None
    text = k3s_registries(settings(cluster={"registry_mirror": "http://10.200.0.1:5000"}))
    assert text is not None
    assert yaml.safe_load(text) == {"mirrors": {"docker.io": {"endpoint": ["http://10.200.0.1:5000"]}}}


def test_gpu_smoke_job():
    job = gpu_smoke_job(settings())
    assert job["kind"] == "Job" and job["metadata"]["name"] == names.GPU_SMOKE_JOB
    pod = job["spec"]["template"]["spec"]
    assert pod["runtimeClassName"] == "nvidia"
    c = pod["containers"][0]
    assert c["command"][0] == "nvidia-smi"
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert job["spec"]["backoffLimit"] == 0
