"""Where Argo CD reads the tree from.

**Remote mode** (``gitops.repo_url`` set): an Argo CD repository Secret with an HTTPS token from the
environment (``gitops.token_env``) or an SSH deploy key (``gitops.ssh_key_file``); a public repo needs none.

**Local mode** (no remote, the default on a laptop): an in-cluster Git server (Soft Serve, in the rendered
bootstrap), so no hosted service is needed. The rendered ``manifests/<env>/`` tree travels as a gzip'd tarball
in a ConfigMap; a Job in the server's namespace unpacks it, commits it on top of the previous commit, pushes
it over the in-cluster Service. ``llmops sync`` re-renders and runs the same push; Argo CD follows.

The push goes over SSH with the admin key from the Secret `up` generates (``PlanInputs.git_ssh``), the
server's host key pinned by ``known_hosts``: Soft Serve gives an anonymous user only read access to a
repository that exists, whatever its anon-access setting (``AccessLevelForUser``, pkg/backend/user.go), so an
anonymous push works only the first time. Argo CD keeps reading anonymously over HTTP.
"""

from __future__ import annotations

import base64
import gzip
import io
import tarfile
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from llmops_cli.cluster.model import PlanInputs, Step, UpOptions, fingerprint
from llmops_cli.cluster.poll import wait_for
from llmops_cli.cluster.steps.objects import all_applied, apply_all, remove_job
from llmops_cli.errors import LlmopsError

if TYPE_CHECKING:
    from llmops_cli.cluster.facts import HostFacts
    from llmops_cli.cluster.model import StepContext
    from llmops_cli.config.model import Settings

SEED_KEY = "tree.tar.gz"
SEED_NAME = "llmops-git-seed"
SEED_HASH_ANNOTATION = "llmops.dev/seed-hash"
MAX_SEED_BYTES = 900 * 1024  # per ConfigMap: ConfigMaps are capped at 1 MiB
# The tarball is split across ConfigMaps of MAX_SEED_BYTES (a bundle's chart archives make it bigger than one),
# mounted together in one projected volume; this bounds what a push stores in the cluster's datastore.
MAX_SEED_PARTS = 48
SERVER_READY_TIMEOUT = 300.0
SEED_TIMEOUT = 300.0
LABELS = {"app.kubernetes.io/name": SEED_NAME, "app.kubernetes.io/managed-by": "llmops"}

KEYS_DIR = "/keys"  # the push key and known_hosts, mounted read-only from the SSH key Secret
ID_FILE = "id_ed25519"
KNOWN_HOSTS_FILE = "known_hosts"
# ssh refuses a private key others can read, and a Secret volume's files are group-readable (fsGroup): the
# script copies the key to /tmp/id (0600) first. The host key is pinned: no trust-on-first-use.
GIT_SSH_COMMAND = (
    "ssh -i /tmp/id -o IdentitiesOnly=yes "
    f"-o UserKnownHostsFile={KEYS_DIR}/{KNOWN_HOSTS_FILE} -o StrictHostKeyChecking=yes"
)

# Fixed script (nothing interpolated): URL, branch and hash come in through the environment. Keeps history:
# clone, replace the tree, commit only when something changed, push. The clone checks out the server's default
# branch: an environment's own branch continues from its last commit, or starts empty the first time (never
# from another environment's tree, which its push would not fast-forward).
SEED_SCRIPT = """set -eu
cd /tmp
umask 077
cp /keys/id_ed25519 /tmp/id
chmod 600 /tmp/id
if git clone -q "$REPO_URL" repo; then
  cd repo
  if git rev-parse -q --verify "refs/remotes/origin/$BRANCH" >/dev/null; then
    git checkout -q -B "$BRANCH" "origin/$BRANCH"
  else
    git checkout -q --orphan "$BRANCH"
  fi
else
  mkdir repo && cd repo && git init -q -b "$BRANCH"
fi
find . -mindepth 1 -maxdepth 1 ! -name .git -exec rm -rf {} +
cat /seed/tree.tar.gz > /tmp/seed.tar.gz
i=1
while [ "$i" -lt "$SEED_PARTS" ]; do
  cat "/seed/tree.tar.gz.$i" >> /tmp/seed.tar.gz
  i=$((i + 1))
done
tar -xzf /tmp/seed.tar.gz -C .
rm -f /tmp/seed.tar.gz
git add -A
git -c user.name=llmops -c user.email=llmops@localhost commit -q -m "llmops sync $SEED_HASH" || true
git push -q "$REPO_URL" "HEAD:refs/heads/$BRANCH"
git rev-parse HEAD
"""


def tree_tarball(tree: Mapping[str, str], prefix: str, files: Mapping[str, bytes] | None = None) -> bytes:
    """A deterministic .tar.gz of ``tree`` under ``prefix/``, and ``files`` at their paths from the repository
    root (a bundle's unpacked charts): same input, same bytes, same hash."""
    entries = {f"{prefix.strip('/')}/{rel.lstrip('/')}": text.encode("utf-8") for rel, text in tree.items()}
    entries.update({rel.lstrip("/"): data for rel, data in (files or {}).items()})
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(entries):
            data = entries[name]
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def parse_local_url(url: str) -> tuple[str, str, int, str]:
    """(service, namespace, port, repo path) from ``http://<svc>.<ns>.svc[.cluster.local][:port]/<path>``."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    labels = host.split(".")
    if parts.scheme != "http" or len(labels) < 3 or labels[2] != "svc":
        raise LlmopsError(f"local Git URL {url!r} is not http://<service>.<namespace>.svc/...", code="bug")
    return labels[0], labels[1], parts.port or 80, parts.path.lstrip("/")


def ssh_url(repo_url: str) -> str:
    """The local Git server's SSH URL for the repository ``repo_url`` (its HTTP URL) names."""
    from llmops_cli.render import names

    svc, ns, _, path = parse_local_url(repo_url)
    return f"ssh://{svc}.{ns}.svc:{names.GIT_SERVER_SSH_PORT}/{path}"


def part_name(i: int) -> tuple[str, str]:
    """(ConfigMap name, key) of the seed tarball's part ``i`` (the first keeps the names of a one-part seed)."""
    return (SEED_NAME, SEED_KEY) if i == 0 else (f"{SEED_NAME}-{i}", f"{SEED_KEY}.{i}")


def seed_objects(settings: Settings, inputs: PlanInputs) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(ConfigMaps with the tree, Job that pushes it into the in-cluster Git server).

    The tree (and the unpacked charts of an airgap bundle, ``inputs.charts``) travel as one .tar.gz split
    across ConfigMaps; the Job mounts them in one projected volume and joins the parts in order. It runs in
    the Git server's namespace, which its NetworkPolicy admits; no port-forward is needed, so the same works
    on a remote host.
    """
    from llmops_cli.cluster.airgap import repo_files

    _, ns, _, _ = parse_local_url(inputs.repo_url)
    if inputs.git_ssh is None:
        raise LlmopsError("local GitOps mode without the Git server's SSH key Secret", code="bug")
    keys = inputs.git_ssh
    seed = tree_tarball(inputs.tree or {}, f"{settings.gitops.path}/{inputs.env}", repo_files(inputs.charts))
    parts = [seed[i : i + MAX_SEED_BYTES] for i in range(0, len(seed), MAX_SEED_BYTES)] or [b""]
    if len(parts) > MAX_SEED_PARTS:
        raise LlmopsError(
            f"the rendered tree{' and the bundled charts' if inputs.charts else ''} are {len(seed) >> 20} MiB "
            f"compressed, over the local Git server's limit of {MAX_SEED_PARTS * MAX_SEED_BYTES >> 20} MiB",
            hint="use a remote Git repository (gitops.repo_url)",
            code="tree_too_large",
        )
    seed_hash = fingerprint(base64.b64encode(seed).decode())
    meta = {"namespace": ns, "labels": dict(LABELS), "annotations": {SEED_HASH_ANNOTATION: seed_hash}}
    configmaps: list[dict[str, Any]] = []
    for i, part in enumerate(parts):
        name, key = part_name(i)
        configmaps.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, **meta},
                "binaryData": {key: base64.b64encode(part).decode()},
            }
        )
    drop_all = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": SEED_NAME, **meta},
        "spec": {
            "backoffLimit": 6,  # retried while the Git server is still starting
            "template": {
                "metadata": {"labels": dict(LABELS)},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65534,
                        "runAsGroup": 65534,
                        "fsGroup": 65534,  # reads the key Secret's files (mode 0440)
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "push",
                            "image": inputs.git_client_image,
                            "command": ["/bin/sh", "-c", SEED_SCRIPT],
                            "env": [
                                {"name": "HOME", "value": "/tmp"},  # noqa: S108 - a path inside the pod (an emptyDir)
                                {"name": "REPO_URL", "value": ssh_url(inputs.repo_url)},
                                {"name": "GIT_SSH_COMMAND", "value": GIT_SSH_COMMAND},
                                {
                                    "name": "BRANCH",
                                    "value": settings.environments[inputs.env].branch or settings.gitops.branch,
                                },
                                {"name": "SEED_HASH", "value": seed_hash},
                                {"name": "SEED_PARTS", "value": str(len(parts))},
                            ],
                            "resources": {
                                "requests": {"cpu": "50m", "memory": "32Mi"},
                                "limits": {"memory": "128Mi"},
                            },
                            "securityContext": drop_all,
                            "volumeMounts": [
                                {"name": "seed", "mountPath": "/seed", "readOnly": True},
                                {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - the pod's own emptyDir
                                {"name": "ssh-keys", "mountPath": KEYS_DIR, "readOnly": True},
                            ],
                        }
                    ],
                    "volumes": [
                        {
                            "name": "seed",
                            "projected": {
                                "sources": [{"configMap": {"name": cm["metadata"]["name"]}} for cm in configmaps]
                            },
                        },
                        {"name": "tmp", "emptyDir": {}},
                        {
                            "name": "ssh-keys",
                            "secret": {
                                "secretName": keys.name,
                                "defaultMode": 0o440,
                                # Only what the push needs: never the server's host key.
                                "items": [
                                    {"key": keys.admin_key, "path": ID_FILE},
                                    {"key": keys.known_hosts, "path": KNOWN_HOSTS_FILE},
                                ],
                            },
                        },
                    ],
                },
            },
        },
    }
    # No ttlSecondsAfterFinished: the finished Job (with its seed hash) is the record of the last push.
    return configmaps, job


def seeded(ctx: StepContext, job: dict[str, Any]) -> bool:
    meta = job["metadata"]
    live = ctx.kube().get("batch/v1", "Job", meta["name"], meta["namespace"])
    if live is None:
        return False
    same = ((live.get("metadata") or {}).get("annotations") or {}).get(SEED_HASH_ANNOTATION) == meta["annotations"][
        SEED_HASH_ANNOTATION
    ]
    return same and bool((live.get("status") or {}).get("succeeded"))


def _server_available(ctx: StepContext, ns: str, name: str) -> bool | None:
    d = ctx.kube().get("apps/v1", "Deployment", name, ns)
    return True if d is not None and ((d.get("status") or {}).get("availableReplicas") or 0) >= 1 else None


def push_tree(ctx: StepContext, configmaps: list[dict[str, Any]], job: dict[str, Any]) -> str:
    """Replace the seed ConfigMaps and run the push Job; return the commit it pushed."""
    kube = ctx.kube()
    svc, ns, _, _ = parse_local_url(ctx.inputs.repo_url)
    wait_for(
        lambda: _server_available(ctx, ns, svc),
        timeout=min(SERVER_READY_TIMEOUT, ctx.options.timeout),
        what=f"the local Git server {ns}/{svc}",
        clock=ctx.clock,
        sleep=ctx.sleep,
        describe=lambda: (
            [f"pod {p['metadata']['name']}: {(p.get('status') or {}).get('phase')}" for p in kube.list("v1", "Pod", ns)]
            + kube.events_for(ns, svc, "Deployment")
        ),
    )
    name = job["metadata"]["name"]
    remove_job(ctx, name, ns)
    for cm in configmaps:
        kube.apply(cm)
    # Parts a bigger earlier seed left behind.
    current = {cm["metadata"]["name"] for cm in configmaps}
    for old in kube.list("v1", "ConfigMap", ns, label_selector=f"app.kubernetes.io/name={SEED_NAME}"):
        if old["metadata"]["name"] not in current:
            kube.delete("v1", "ConfigMap", old["metadata"]["name"], ns)
    kube.apply(job)

    def finished() -> dict[str, Any] | None:
        live = kube.get("batch/v1", "Job", name, ns) or {}
        st = live.get("status") or {}
        return (
            live
            if st.get("succeeded")
            or any(c.get("type") == "Failed" and c.get("status") == "True" for c in st.get("conditions", []))
            else None
        )

    def pod_log() -> str:
        pods = kube.list("v1", "Pod", ns, label_selector=f"job-name={name}")
        return kube.logs(pods[-1]["metadata"]["name"], ns, tail=20) if pods else ""

    done = wait_for(
        finished,
        timeout=min(SEED_TIMEOUT, ctx.options.timeout),
        what=f"the Job {ns}/{name} that pushes the tree",
        clock=ctx.clock,
        sleep=ctx.sleep,
        describe=lambda: kube.events_for(ns, name, "Job") + pod_log().splitlines()[-5:],
    )
    log = pod_log()
    if not (done.get("status") or {}).get("succeeded"):
        raise LlmopsError(f"pushing the tree to the local Git server failed: {log.strip()[-400:]}", code="git_seed")
    return log.strip().splitlines()[-1] if log.strip() else ""


def local_steps(settings: Settings, inputs: PlanInputs) -> list[Step]:
    configmaps, job = seed_objects(settings, inputs)
    _, ns, _, _ = parse_local_url(inputs.repo_url)
    charts = f" and {len(inputs.charts)} bundled chart(s) under charts/" if inputs.charts else ""

    def apply(ctx: StepContext) -> None:
        ctx.results["git_commit"] = push_tree(ctx, configmaps, job)

    return [
        Step(
            id="seed_local_git",
            phase="gitops",
            description=f"push the rendered tree to the in-cluster Git server ({inputs.repo_url})",
            changes=f"ConfigMap {ns}/{SEED_NAME}{f' (and {len(configmaps) - 1} more)' if len(configmaps) > 1 else ''} "
            f"({len(inputs.tree or {})} files of {settings.gitops.path}/{inputs.env}{charts}), "
            f"Job {ns}/{SEED_NAME} that commits and pushes them",
            check=lambda ctx: seeded(ctx, job),
            apply=apply,
            fingerprint=job["metadata"]["annotations"][SEED_HASH_ANNOTATION],
        )
    ]


def repo_secret(settings: Settings, inputs: PlanInputs, options: UpOptions, namespace: str) -> dict[str, Any] | None:
    url = inputs.repo_url
    data: dict[str, str] = {"type": "git", "url": url}
    if url.startswith("https://"):
        if not options.git_token:
            return None
        data.update(username=options.git_username, password=options.git_token)
    else:
        if not options.ssh_key:
            return None
        data["sshPrivateKey"] = options.ssh_key
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "llmops-repo",
            "namespace": namespace,
            "labels": {
                "argocd.argoproj.io/secret-type": "repository",
                "app.kubernetes.io/managed-by": "llmops",
            },
        },
        "type": "Opaque",
        "stringData": data,
    }


def remote_steps(
    settings: Settings, inputs: PlanInputs, options: UpOptions, warnings: list[str], namespace: str
) -> list[Step]:
    secret = repo_secret(settings, inputs, options, namespace)
    if secret is None:
        if inputs.repo_url.startswith("https://"):
            warnings.append(
                f"no token in ${settings.gitops.token_env}: Argo CD will read {inputs.repo_url} anonymously "
                "(fine for a public repository)"
            )
            return []
        raise LlmopsError(
            f"{inputs.repo_url} is an SSH URL but no deploy key is configured",
            hint="set gitops.ssh_key_file in llmops.yaml",
            code="config",
        )
    how = "HTTPS token" if "password" in secret["stringData"] else "SSH deploy key"
    return [
        Step(
            id="create_repo_secret",
            phase="gitops",
            description=f"give Argo CD access to {inputs.repo_url} ({how})",
            changes=f"Secret {namespace}/llmops-repo labelled argocd.argoproj.io/secret-type=repository",
            check=lambda ctx: all_applied(ctx, [secret]),
            apply=lambda ctx: apply_all(ctx, [secret]),
            # The credential itself is not part of the fingerprint: the state file must not hash secrets.
            fingerprint=fingerprint(inputs.repo_url, how),
        )
    ]


def steps(
    settings: Settings, facts: HostFacts, inputs: PlanInputs, options: UpOptions, warnings: list[str]
) -> list[Step]:
    from llmops_cli.cluster.steps.argocd import argocd_namespace

    if settings.gitops.local:
        return local_steps(settings, inputs)
    return remote_steps(settings, inputs, options, warnings, argocd_namespace(inputs.bootstrap))
