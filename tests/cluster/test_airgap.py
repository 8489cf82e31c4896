"""`up --airgap-bundle` with chart archives: every Application whose chart the bundle carries reads it from the
local Git repository (a Git path source, the chart unpacked there by the push Job), so an offline `up` gets its
charts without the internet; a wrong archive is refused in one line, a missing one is warned about."""

from __future__ import annotations

import base64
import gzip
import io
import os
import re
import shutil
import subprocess
import tarfile
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmops_cli.cluster.airgap import CHARTS, internet_charts
from llmops_cli.cluster.plan import decide_gpu
from llmops_cli.cluster.state import State
from llmops_cli.cluster.steps import gitops
from llmops_cli.cluster.up import airgap_warnings, inspect_airgap_bundle, render_inputs, with_bundled_charts
from llmops_cli.config.model import Settings
from llmops_cli.errors import InputError, LlmopsError
from tests.cluster.bundles import chart_archive, pinned_charts, tgz, write_bundle
from tests.cluster.conftest import LOCAL_URL, Cluster, make_facts
from tests.cluster.test_apply import up_once
from tests.render.test_schemas import crd_schema
from tests.render.upstream.rendered import VARIANT_IDS, variants

GPU_FULL = Settings.model_validate({"gpu": {"mode": "on", "dcgm_exporter": True}})
PROD = "prod"


def _apps(tree: dict[str, str]) -> dict[str, dict]:
    out = {}
    for path, text in tree.items():
        obj = yaml.safe_load(text) if path.startswith("apps/") else None
        if obj and obj.get("kind") == "Application":
            out[obj["metadata"]["name"]] = obj
    return out


def _seed_files(configmaps: list[dict], job: dict) -> dict[str, bytes]:
    """What the push Job unpacks: the parts joined in the order its script joins them."""
    env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    keys = {k: v for cm in configmaps for k, v in cm["binaryData"].items()}
    raw = b"".join(
        base64.b64decode(keys["tree.tar.gz" + (f".{i}" if i else "")]) for i in range(int(env["SEED_PARTS"]))
    )
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(raw))) as tar:
        return {m.name: (tar.extractfile(m) or io.BytesIO()).read() for m in tar.getmembers() if m.isfile()}


# ------------------------------------------------------------------------------------------- the chart table
@pytest.mark.parametrize(("variant", "tree"), variants(), ids=VARIANT_IDS)
def test_the_chart_table_is_what_the_renderer_pins(variant: str, tree: dict[str, str]) -> None:
    """A bundle is checked against CHARTS: every chart a rendered Application or HelmChart names is there, with
    the same repository and version (so a pin bump that misses the table fails here)."""
    for path, text in tree.items():
        obj = yaml.safe_load(text) if not path.startswith("k3s/") else None
        if obj and obj["kind"] == "Application" and "chart" in obj["spec"]["source"]:
            src = obj["spec"]["source"]
            pin = CHARTS[src["chart"]]
            assert (src["repoURL"], src["targetRevision"]) == (pin.repo, pin.version), f"{variant} {path}"
        elif obj and obj["kind"] == "HelmChart":
            pin = CHARTS[obj["spec"]["chart"]]
            assert (obj["spec"]["repo"], obj["spec"]["version"]) == (pin.repo, pin.version), f"{variant} {path}"


# ------------------------------------------------------------------------------------------- local sources
@pytest.mark.parametrize(("settings_", "env"), [(Settings(), "dev"), (Settings(), PROD), (GPU_FULL, "dev")])
def test_with_every_chart_bundled_no_application_points_at_a_chart_repository(
    tmp_path: Path, settings_: Settings, env: str
) -> None:
    bundle = inspect_airgap_bundle(write_bundle(tmp_path / "b", pinned_charts()))
    facts = make_facts(gpu=settings_.gpu.mode == "on")
    gpu = decide_gpu(settings_, facts)
    plain = render_inputs(settings_, facts, env, gpu=gpu)
    inputs = with_bundled_charts(render_inputs(settings_, facts, env, gpu=gpu, airgap=bundle), bundle)
    assert internet_charts(plain.tree or {}), "the default render pulls charts from their repositories"
    assert internet_charts(inputs.tree or {}) == []
    assert airgap_warnings(settings_, inputs) == []
    configmaps, job = gitops.seed_objects(settings_, inputs)
    pushed = _seed_files(configmaps, job)
    before, after = _apps(plain.tree or {}), _apps(inputs.tree or {})
    assert set(before) == set(after)
    schema = crd_schema("Application")
    changed = 0
    for name, app in after.items():
        errors = list(jsonschema.Draft202012Validator(schema).iter_errors(app))
        assert not errors, f"{name}: {errors[0].message}"
        src, old = app["spec"]["source"], before[name]["spec"]["source"]
        assert src["repoURL"] == LOCAL_URL and "chart" not in src
        if "chart" not in old:
            assert src == old
            continue
        changed += 1
        # Same release name and values; the chart is the pinned one, unpacked where the path points.
        assert src["helm"] == old["helm"] and src["targetRevision"] == "main"
        assert src["path"] == f"charts/{old['chart']}/{old['targetRevision']}"
        meta = yaml.safe_load(pushed[f"{src['path']}/Chart.yaml"])
        assert (meta["name"], meta["version"]) == (old["chart"], old["targetRevision"])
        assert f"{src['path']}/charts/sub-1.0.0.tgz" in pushed  # vendored dependencies travel as they are
        # Everything else of the Application is unchanged.
        assert {**app, "spec": {**app["spec"], "source": None}} == {
            **before[name],
            "spec": {**before[name]["spec"], "source": None},
        }
    assert changed >= (4 if env == "dev" else 5)
    # The bootstrap HelmChart installs Argo CD from the same archive.
    helmchart = next(o for o in inputs.bootstrap if o["kind"] == "HelmChart")
    assert base64.b64decode(helmchart["spec"]["chartContent"]) == bundle.charts["argo-cd"].archive.read_bytes()


def test_the_default_render_is_unchanged_without_a_bundle(tmp_path: Path) -> None:
    bundle = inspect_airgap_bundle(write_bundle(tmp_path / "b", {}))
    facts = make_facts()
    assert render_inputs(Settings(), facts, "dev", airgap=bundle).tree == render_inputs(Settings(), facts, "dev").tree


def test_a_missing_chart_is_a_warning_naming_it_and_its_repository(tmp_path: Path) -> None:
    charts = pinned_charts()
    del charts[f"loki-{CHARTS['loki'].version}.tgz"]
    bundle = inspect_airgap_bundle(write_bundle(tmp_path / "b", charts))
    inputs = render_inputs(Settings(), make_facts(), "dev", gpu=False, airgap=bundle)
    assert internet_charts(inputs.tree or {}) == [("loki", CHARTS["loki"].version, CHARTS["loki"].repo)]
    (warning,) = airgap_warnings(Settings(), inputs)
    assert f"no archive of loki {CHARTS['loki'].version} ({CHARTS['loki'].repo})" in warning
    assert "\n" not in warning


def test_a_remote_repository_says_the_bundled_charts_are_not_used(tmp_path: Path) -> None:
    bundle = inspect_airgap_bundle(write_bundle(tmp_path / "b", pinned_charts()))
    remote = Settings.model_validate({"gitops": {"repo_url": "https://github.com/acme/p.git"}})
    inputs = render_inputs(remote, make_facts(), "dev", gpu=False, airgap=bundle)
    assert inputs.charts == () and inputs.tree is None
    assert "used only in local GitOps mode" in airgap_warnings(remote, inputs)[0]


# ------------------------------------------------------------------------------------------- refused archives
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    chart=st.sampled_from(sorted(CHARTS)),
    version=st.from_regex(r"\A[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\Z"),
)
def test_a_chart_of_another_version_is_refused_naming_the_pin(tmp_path: Path, chart: str, version: str) -> None:
    pin = CHARTS[chart]
    if version == pin.version:
        return
    root = tmp_path / f"b-{os.urandom(4).hex()}"
    write_bundle(root, {f"{chart}-{version}.tgz": chart_archive(chart, version)})
    with pytest.raises(InputError, match=rf"is {re.escape(chart)} {re.escape(version)}, not the pinned") as e:
        inspect_airgap_bundle(root)
    assert "\n" not in e.value.message and pin.version in e.value.message


def test_a_chart_whose_hash_is_not_the_listed_one_is_refused(tmp_path: Path) -> None:
    name = f"loki-{CHARTS['loki'].version}.tgz"
    good = chart_archive("loki", CHARTS["loki"].version)
    root = write_bundle(tmp_path / "b", {name: good + b"tampered"}, listed={name: good})
    with pytest.raises(InputError, match=rf"{re.escape(name)} has sha256 .* refusing it"):
        inspect_airgap_bundle(root)


def test_a_chart_archive_not_listed_in_sha256sums_is_refused(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", pinned_charts(["loki"]))
    extra = f"alloy-{CHARTS['alloy'].version}.tgz"
    (root / "charts" / extra).write_bytes(chart_archive("alloy", CHARTS["alloy"].version))
    with pytest.raises(InputError, match=f"{re.escape(extra)} is not listed"):
        inspect_airgap_bundle(root)


LOKI = CHARTS["loki"].version
LOKI_YAML = f"name: loki\nversion: {LOKI}\n".encode()


@pytest.mark.parametrize(
    ("archive", "match"),
    [
        (tgz({"loki/Chart.yaml": LOKI_YAML, "../evil": b"x"}), "'../evil', which a chart archive never does"),
        (tgz({"loki/Chart.yaml": LOKI_YAML, "/etc/x": b"x"}), "'/etc/x', which a chart archive never does"),
        (tgz({"loki/Chart.yaml": LOKI_YAML, "other/x": b"x"}), "'other/x', which a chart archive never does"),
        (tgz({"loki/Chart.yaml": LOKI_YAML}, links=[("loki/l", "/etc")]), "'loki/l', which a chart archive never"),
        (tgz({"loki/values.yaml": b"a: 1\n"}), "no <chart>/Chart.yaml"),
        (tgz({"loki/Chart.yaml": b"name: [loki\n"}), "Chart.yaml is not valid YAML"),
        (tgz({"loki/Chart.yaml": b"name: loki\n"}), "Chart.yaml has no name and version"),
        (b"not a tarball", "not a readable chart archive"),
        (chart_archive("loki", LOKI, top="grafana-loki"), f"is not named loki-{LOKI}.tgz with the folder loki/"),
        (chart_archive("my-chart", "1.0.0"), "'my-chart', which llmops does not deploy"),
        (
            chart_archive("loki", LOKI, dependencies=["minio", "sub"], vendored=False),
            "does not carry its dependencies minio, sub under charts/",
        ),
        (
            tgz(
                {
                    "loki/Chart.yaml": LOKI_YAML + b"dependencies: [{name: minio}, {name: rollout}]\n",
                    "loki/charts/minio/Chart.yaml": b"name: minio\nversion: 1.0.0\n",
                    "loki/charts/rollout-1.0.0.tgz": tgz({"other/Chart.yaml": b"name: other\nversion: 1\n"}),
                }
            ),
            "does not carry its dependencies rollout under charts/",
        ),
    ],
)
def test_a_malformed_chart_archive_is_refused_in_one_line(tmp_path: Path, archive: bytes, match: str) -> None:
    root = write_bundle(tmp_path / "b", {f"loki-{LOKI}.tgz": archive})
    with pytest.raises(InputError, match=re.escape(match)) as e:
        inspect_airgap_bundle(root)
    assert "\n" not in e.value.message


def test_an_archive_changed_after_the_check_is_refused_when_pushed(tmp_path: Path) -> None:
    bundle = inspect_airgap_bundle(write_bundle(tmp_path / "b", pinned_charts(["loki"])))
    inputs = render_inputs(Settings(), make_facts(), "dev", gpu=False, airgap=bundle)
    bundle.charts["loki"].archive.write_bytes(chart_archive("loki", CHARTS["loki"].version, dependencies=["x"]))
    with pytest.raises(InputError, match="changed since it was checked"):
        gitops.seed_objects(Settings(), inputs)


# ------------------------------------------------------------------------------------------- the push
def test_a_seed_bigger_than_one_configmap_is_split_and_joined_in_order(tmp_path: Path) -> None:
    version = CHARTS["kube-prometheus-stack"].version
    big = tgz(
        {
            "kube-prometheus-stack/Chart.yaml": f"name: kube-prometheus-stack\nversion: {version}\n".encode(),
            "kube-prometheus-stack/crds/blob.bin": os.urandom(2_000_000),  # incompressible
        }
    )
    bundle = inspect_airgap_bundle(write_bundle(tmp_path / "b", {f"kube-prometheus-stack-{version}.tgz": big}))
    inputs = render_inputs(Settings(), make_facts(), "dev", gpu=False, airgap=bundle)
    configmaps, job = gitops.seed_objects(Settings(), inputs)
    assert len(configmaps) == 3
    for cm in configmaps:
        assert len(base64.b64decode(next(iter(cm["binaryData"].values())))) <= gitops.MAX_SEED_BYTES
    sources = job["spec"]["template"]["spec"]["volumes"][0]["projected"]["sources"]
    assert [s["configMap"]["name"] for s in sources] == [cm["metadata"]["name"] for cm in configmaps]
    files = _seed_files(configmaps, job)
    assert len(files[f"charts/kube-prometheus-stack/{version}/crds/blob.bin"]) == 2_000_000
    # The seed hash covers the charts: another archive is another push.
    assert (
        job["metadata"]["annotations"]
        != gitops.seed_objects(Settings(), replace(inputs, charts=()))[1]["metadata"]["annotations"]
    )


def test_a_seed_over_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gitops, "MAX_SEED_PARTS", 1)
    inputs = render_inputs(Settings(), make_facts(), "dev", gpu=False)
    inputs = replace(inputs, tree={"blob.yaml": base64.b64encode(os.urandom(1_200_000)).decode()})
    with pytest.raises(LlmopsError, match="over the local Git server's limit"):
        gitops.seed_objects(Settings(), inputs)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_push_script_commits_the_tree_and_the_unpacked_charts(tmp_path: Path) -> None:
    """The Job's fixed script, run by a real sh, git and tar, against a local bare repository: it joins the
    parts, unpacks the tree and the charts, commits and pushes; a second push of the same seed adds nothing."""
    version = CHARTS["loki"].version
    big = tgz(
        {
            "loki/Chart.yaml": f"name: loki\nversion: {version}\n".encode(),
            "loki/charts/sub-1.0.0.tgz": os.urandom(1_000_000),
        }
    )
    bundle = inspect_airgap_bundle(write_bundle(tmp_path / "b", {f"loki-{version}.tgz": big}))
    inputs = render_inputs(Settings(), make_facts(), "dev", gpu=False, airgap=bundle)
    configmaps, job = gitops.seed_objects(Settings(), inputs)
    assert len(configmaps) == 2
    seed, keys, work = tmp_path / "seed", tmp_path / "keys", tmp_path / "work"
    for d in (seed, keys, work):
        d.mkdir()
    for cm in configmaps:
        for k, v in cm["binaryData"].items():
            (seed / k).write_bytes(base64.b64decode(v))
    (keys / "id_ed25519").write_text("not used for a local path\n")
    bare = tmp_path / "repo.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    # The pod's paths, here: /tmp (its emptyDir) first, as the others may lie under /tmp on this machine.
    script = gitops.SEED_SCRIPT.replace("/tmp", str(work)).replace("/seed/", f"{seed}/").replace("/keys/", f"{keys}/")
    env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    env.update(REPO_URL=str(bare), HOME=str(work), PATH=os.environ["PATH"], GIT_CONFIG_NOSYSTEM="1")
    env.pop("GIT_SSH_COMMAND")
    first = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    listed = subprocess.run(
        ["git", "--git-dir", str(bare), "ls-tree", "-r", "--name-only", "main"], capture_output=True, text=True
    ).stdout.split()
    assert f"charts/loki/{version}/Chart.yaml" in listed and "manifests/dev/apps/application-loki.yaml" in listed
    blob = subprocess.run(
        ["git", "--git-dir", str(bare), "show", f"main:charts/loki/{version}/charts/sub-1.0.0.tgz"],
        capture_output=True,
        check=True,
    ).stdout
    assert blob == tarfile.open(fileobj=io.BytesIO(big)).extractfile("loki/charts/sub-1.0.0.tgz").read()  # type: ignore[union-attr]
    shutil.rmtree(work)
    work.mkdir()
    again = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stderr
    count = subprocess.run(
        ["git", "--git-dir", str(bare), "rev-list", "--count", "main"], capture_output=True, text=True
    )
    assert count.stdout.strip() == "1"


# ------------------------------------------------------------------------------------------- offline up
def _offline_up(tmp_path: Path, charts: dict[str, bytes], settings_: Settings | None = None):  # type: ignore[no-untyped-def]
    s = settings_ or Settings()
    bundle = inspect_airgap_bundle(write_bundle(tmp_path / "b", charts))
    cluster = Cluster()
    cluster.sim.offline = True
    facts = cluster.facts()
    inputs = with_bundled_charts(render_inputs(s, facts, "dev", gpu=decide_gpu(s, facts), airgap=bundle), bundle)
    from llmops_cli.cluster.model import UpOptions

    env = {"HOME": str(Path.home()), "KUBECONFIG": str(Path.home() / ".kube" / "config")}
    report, _ = up_once(cluster, s, State.load("llmops", env), UpOptions(airgap=bundle, timeout=60), inputs=inputs)
    return report, cluster, env


def test_an_offline_up_with_every_chart_bundled_gets_every_application_healthy(tmp_path: Path) -> None:
    report, cluster, env = _offline_up(tmp_path, pinned_charts())
    apps = report.results["applications"]
    assert {"loki", "alloy", "kube-prometheus-stack", "argo-cd", "argo-rollouts"} <= set(apps)
    assert all(v == "Synced/Healthy" for v in apps.values()), apps
    assert any(p.startswith("charts/loki/") for p in cluster.sim.git_files)
    # `sync` reuses the bundle `up` took charts from: the same local sources, nothing pushed again.
    assert State.load("llmops", env).choices["airgap"] == str(tmp_path / "b")
    out = cluster.sync(environ=env)
    assert out["changed"] is False


def test_an_offline_up_without_a_chart_names_the_application_that_cannot_fetch_it(tmp_path: Path) -> None:
    charts = pinned_charts()
    del charts[f"loki-{CHARTS['loki'].version}.tgz"]
    with pytest.raises(LlmopsError) as e:
        _offline_up(tmp_path, charts)
    text = f"{e.value.message} {e.value.hint or ''}"
    assert "loki" in text and "grafana-community.github.io" in text


def test_sync_refuses_when_the_recorded_bundle_is_gone(tmp_path: Path) -> None:
    _report, cluster, env = _offline_up(tmp_path, pinned_charts())
    shutil.rmtree(tmp_path / "b")
    with pytest.raises(InputError, match="took charts from the airgap bundle .* which is gone"):
        cluster.sync(environ=env)
