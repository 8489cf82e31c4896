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


def test_local_git_server_takes_pushes_over_ssh_and_reads_anonymously():
    objs = bootstrap_objects(settings(), "dev", repo_url=names.LOCAL_GIT_URL)
    by_kind = {o["kind"]: o for o in objs if o["metadata"]["name"] == names.GIT_SERVER_NAME}
    pod = by_kind["Deployment"]["spec"]["template"]["spec"]
    c = pod["containers"][0]
    env = {e["name"]: e["value"] for e in c["env"]}
    # Argo CD reads anonymously; the push authenticates with the admin key (anonymous users only ever get
    # read access to an existing repository in Soft Serve).
    assert env["SOFT_SERVE_ANON_ACCESS"] == "read-only"
    assert env["SOFT_SERVE_SSH_LISTEN_ADDR"] == f":{names.GIT_SERVER_SSH_PORT}"
    assert env["SOFT_SERVE_SSH_KEY_PATH"] == f"/keys/{names.GIT_SSH_HOST_KEY}"
    # A file path, not key text: the key stays out of the environment.
    assert env["SOFT_SERVE_INITIAL_ADMIN_KEYS"] == f"/keys/{names.GIT_SSH_ADMIN_PUB}"
    assert {"name": "ssh", "containerPort": names.GIT_SERVER_SSH_PORT} in c["ports"]
    mount = next(m for m in c["volumeMounts"] if m["mountPath"] == "/keys")
    assert mount["readOnly"] is True
    vol = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert vol["secret"]["secretName"] == names.GIT_SSH_SECRET
    assert {i["key"] for i in vol["secret"]["items"]} == {
        names.GIT_SSH_HOST_KEY,
        names.GIT_SSH_HOST_PUB,
        names.GIT_SSH_ADMIN_PUB,
    }
    svc_ports = {p["name"]: p for p in by_kind["Service"]["spec"]["ports"]}
    assert svc_ports["ssh"]["port"] == names.GIT_SERVER_SSH_PORT and svc_ports["ssh"]["targetPort"] == "ssh"
    assert svc_ports["http"]["port"] == names.GIT_SERVER_PORT
    # SSH only from the server's own namespace (the push Job); HTTP from Argo CD's too.
    rules = by_kind["NetworkPolicy"]["spec"]["ingress"]

    def sources(port: int) -> set[str]:
        return {
            f["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            for r in rules
            if any(p["port"] == port for p in r["ports"])
            for f in r["from"]
        }

    assert sources(names.GIT_SERVER_SSH_PORT) == {names.SYSTEM_NAMESPACE}
    assert sources(names.GIT_SERVER_HTTP_PORT) == {names.SYSTEM_NAMESPACE, names.ARGOCD_NAMESPACE}


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
    # Lists append to what config.yaml and other drop-ins set (k3s's `key+:` form); no default-runtime: GPU pods
    # ask for runtimeClassName nvidia, and the default runtime would expose every GPU to any pod.
    assert cfg == {
        "write-kubeconfig-mode": "0600",
        "tls-san+": ["api.example.com", "10.200.0.2"],
        "node-ip": "10.200.0.2",
        "node-label+": ["nvidia.com/gpu.present=true", "tier=edge"],
        "disable+": ["traefik", "servicelb"],
    }
    plain = yaml.safe_load(k3s_config(settings(), gpu=False))
    assert plain == {"write-kubeconfig-mode": "0600", "disable+": ["traefik"]}


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
