"""The release through Git, on real repositories: the commit and its record, the diff, --push, an environment
on its own branch, --rollback, and the gate refusing tampered, failing or mismatched evidence (exit 4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from llmops_cli.errors import ExitCode, PolicyViolation
from llmops_cli.promote.api import PromoteOptions, execute, prepare
from llmops_cli.reporting import RecordingReporter
from tests.helpers import run_cli
from tests.promote.project import git, govern, make_project, set_model_version, settings_of


def promote(project: Path, env: str = "prod", **options: object):  # type: ignore[no-untyped-def]
    loaded = settings_of(project)
    prepared = prepare(
        loaded.settings,
        env,
        base_dir=project,
        options=PromoteOptions(**options),  # type: ignore[arg-type]
        reporter=RecordingReporter(),
        environ={},
    )
    if prepared.options.dry_run:
        return prepared
    try:
        return execute(prepared, reporter=RecordingReporter())
    finally:
        prepared.close()


def trailers(project: Path, rev: str = "HEAD") -> dict[str, str]:
    body = git(project, "log", "-1", "--format=%B", rev)
    parsed = git(project, "interpret-trailers", "--parse", input=body)
    return dict(line.split(": ", 1) for line in parsed.splitlines())


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("template"))


@pytest.fixture
def project(template: Path, tmp_path: Path) -> Path:
    """A private copy of the governed project (and its origin)."""
    import shutil

    shutil.copytree(template.parent, tmp_path / "copy", symlinks=True)
    p = tmp_path / "copy" / "project"
    git(p, "remote", "set-url", "origin", f"file://{tmp_path / 'copy' / 'origin.git'}")
    return p


def test_a_promotion_commits_the_release_with_its_record(project: Path) -> None:
    (project / "notes.txt").write_text("mine, staged, not part of a release\n")
    git(project, "add", "notes.txt")
    report = promote(project, push=True)
    bundle = next((project / "evidence" / "credit-approval" / "1.2.0").iterdir())
    manifest_sha = __import__("hashlib").sha256((bundle / "manifest.json").read_bytes()).hexdigest()
    t = trailers(project)
    assert t["Llmops-Environment"] == "prod"
    assert (t["Llmops-Model"], t["Llmops-Model-Version"]) == ("credit-approval", "1.2.0")
    assert t["Llmops-Evidence-Digest"] == f"sha256:{manifest_sha}"
    assert t["Llmops-Evidence-Run"].startswith(f"{bundle.name} (pass, signature verified")
    risk = json.loads((bundle / "risk.json").read_text())
    assert float(t["Llmops-Risk-Score"]) == risk["max_residual"]
    assert t["Llmops-Risk-Class"] == risk["ai_act"]["classification"] == "high-risk"
    assert t["Llmops-Risk-Level"] == "medium"
    assert t["Llmops-Previous-Release"] == "none"
    assert t["Llmops-Promoted-By"] == "Ada Lovelace <ada@example.test>"
    subject = git(project, "log", "-1", "--format=%s")
    assert subject.strip() == "promote prod: credit-approval 1.2.0 (risk 9 medium, high-risk)"
    # Only the environment's folder is in the commit; the user's staged file stays staged.
    changed = git(project, "show", "--name-only", "--format=", "HEAD").split()
    assert changed and all(p.startswith("manifests/prod/") for p in changed)
    assert "A  notes.txt" in git(project, "status", "--porcelain")
    release = yaml.safe_load((project / "manifests" / "prod" / "release.yaml").read_text())
    assert release["model"] == {"name": "credit-approval", "version": "1.2.0"}
    assert release["evidence"]["digest"] == f"sha256:{manifest_sha}"
    assert any(img.startswith("docker.io/vllm/") or "inference-sim" in img for img in release["images"].values())
    # Pushed: the origin's main holds the commit.
    assert git(project, "rev-parse", "origin/main").strip() == report.commit
    assert report.pushed


def test_the_next_promotion_names_the_previous_release_and_a_rollback_restores_it(project: Path) -> None:
    first = promote(project).commit
    first_tree = git(project, "rev-parse", f"{first}:manifests/prod").strip()
    set_model_version(project, "1.3.0")
    govern(project)
    second = promote(project)
    assert trailers(project)["Llmops-Previous-Release"] == f"{first} (credit-approval 1.2.0)"
    assert trailers(project)["Llmops-Model-Version"] == "1.3.0"
    assert "-  version: 1.2.0" in second.prepared.change.diff() and "+  version: 1.3.0" in second.prepared.change.diff()
    back = promote(project, rollback=True)
    t = trailers(project)
    assert t["Llmops-Rollback-Of"] == second.commit
    assert t["Llmops-Restores"] == first
    assert (t["Llmops-Model-Version"], t["Llmops-Previous-Release"]) == (
        "1.2.0",
        f"{second.commit} (credit-approval 1.3.0)",
    )
    assert t["Llmops-Promoted-By"] == "Ada Lovelace <ada@example.test>"
    assert git(project, "log", "-1", "--format=%s").startswith("rollback prod to credit-approval 1.2.0")
    # The tree is the first release's, exactly.
    assert git(project, "rev-parse", f"{back.commit}:manifests/prod").strip() == first_tree
    # A named revision: roll forward to the second release again.
    promote(project, rollback=True, rollback_to=second.commit)
    assert trailers(project)["Llmops-Model-Version"] == "1.3.0"


def test_a_dry_run_shows_the_diff_and_changes_nothing(project: Path) -> None:
    head = git(project, "rev-parse", "HEAD")
    status = git(project, "status", "--porcelain")
    prepared = promote(project, dry_run=True)
    diff = prepared.change.diff()
    assert "diff --git a/manifests/prod/release.yaml b/manifests/prod/release.yaml" in diff
    assert "new file mode 100644" in diff and "+  version: 1.2.0" in diff
    assert "Llmops-Model-Version: 1.2.0" in prepared.change.message
    assert git(project, "rev-parse", "HEAD") == head and git(project, "status", "--porcelain") == status
    r = run_cli("-c", str(project / "llmops.yaml"), "promote", "prod", "--dry-run")
    assert r.exit_code == 0, r.output
    assert "dry run: nothing was changed" in r.stderr
    assert "+++ b/manifests/prod/release.yaml" in r.stdout and "Llmops-Evidence-Digest: sha256:" in r.stdout
    assert git(project, "rev-parse", "HEAD") == head


def test_an_environment_on_its_own_branch_is_committed_there(project: Path) -> None:
    cfg = yaml.safe_load((project / "llmops.yaml").read_text())
    cfg["environments"]["prod"]["branch"] = "release/prod"
    (project / "llmops.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    git(project, "commit", "-q", "-am", "prod on its own branch")
    main_before = git(project, "rev-parse", "main")
    report = promote(project, push=True)
    assert git(project, "rev-parse", "main") == main_before  # the checkout and its branch are untouched
    assert git(project, "rev-parse", "release/prod").strip() == report.commit
    assert git(project, "rev-parse", "origin/release/prod").strip() == report.commit
    assert git(project, "symbolic-ref", "--short", "HEAD").strip() == "main"
    assert (
        "release/prod"
        in yaml.safe_load(git(project, "show", f"{report.commit}:manifests/prod/apps/application-vllm.yaml"))["spec"][
            "source"
        ]["targetRevision"]
    )
    assert git(project, "worktree", "list").count("\n") == 1  # the temporary worktree is gone


# --------------------------------------------------------------------------------------------------- the gate
def refused(project: Path, **options: object) -> PolicyViolation:
    with pytest.raises(PolicyViolation) as e:
        promote(project, **options)
    assert e.value.exit_code == ExitCode.POLICY_VIOLATION
    return e.value


def test_a_tampered_bundle_is_refused(project: Path) -> None:
    bundle = next((project / "evidence" / "credit-approval" / "1.2.0").iterdir())
    (bundle / "bias.json").write_text((bundle / "bias.json").read_text().replace("0.", "0.9", 1))
    e = refused(project)
    assert "changed: bias.json" in str(e)
    head = git(project, "rev-parse", "HEAD")
    r = run_cli("-c", str(project / "llmops.yaml"), "promote", "prod", "--yes")
    assert r.exit_code == 4, r.output
    assert "promotion to prod refused" in r.stderr and "bias.json" in r.stderr
    assert git(project, "rev-parse", "HEAD") == head


def test_a_failing_bundle_is_refused_naming_its_rules(tmp_path: Path) -> None:
    project = make_project(tmp_path, fria=False)
    e = refused(project)
    assert "rules failed: fundamental-rights-impact-assessment" in str(e)


def test_a_bundle_for_another_version_is_refused(project: Path) -> None:
    old = next((project / "evidence" / "credit-approval" / "1.2.0").iterdir())
    set_model_version(project, "1.3.0")
    e = refused(project)
    assert "no governance bundle for credit-approval 1.3.0" in str(e)
    e = refused(project, evidence=old)
    assert "the bundle is for credit-approval 1.2.0, the release is credit-approval 1.3.0" in str(e)


def test_an_unsigned_bundle_is_refused_when_a_signer_is_trusted(tmp_path: Path) -> None:
    project = make_project(tmp_path, sign=False)
    cfg = yaml.safe_load((project / "llmops.yaml").read_text())
    from llmops_cli.govern.signing import generate_key

    generate_key(tmp_path / "k", tmp_path / "k.pub")
    cfg["governance"]["signing"] = {"public_keys": [str(tmp_path / "k.pub")]}
    (project / "llmops.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    e = refused(project)
    assert "not signed" in str(e)


def test_unsigned_evidence_is_refused_where_the_canary_requires_signed_evidence(tmp_path: Path) -> None:
    """With no signer trusted, an unsigned bundle verifies; but where the environment requires evidence and
    governance.runtime.risk.require_signed_evidence is on (the default), its canary checks `evidence-signed`:
    promote refuses up front rather than ship a release every rollout would abort on. Turned off, it promotes."""
    project = make_project(tmp_path, sign=False)
    e = refused(project)
    assert "signature is none" in str(e) and "require_signed_evidence" in str(e)
    cfg = yaml.safe_load((project / "llmops.yaml").read_text())
    cfg["governance"].setdefault("runtime", {}).setdefault("risk", {})["require_signed_evidence"] = False
    (project / "llmops.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    git(project, "commit", "-q", "-am", "unsigned evidence allowed")
    promote(project)
    assert "Llmops-Evidence-Run" in trailers(project)


def test_an_environment_without_the_requirement_promotes_without_evidence(project: Path) -> None:
    cfg = yaml.safe_load((project / "llmops.yaml").read_text())
    cfg["governance"]["inputs"].pop("model")
    (project / "llmops.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    git(project, "commit", "-q", "-am", "no model metadata")
    e = refused(project)
    assert "set governance.inputs.model" in str(e)
    report = promote(project, env="dev")
    t = trailers(project)
    assert t["Llmops-Environment"] == "dev" and t["Llmops-Evidence-Digest"] == "none"
    assert report.commit


def test_render_leaves_the_release_record_and_agrees_with_the_promoted_tree(project: Path) -> None:
    cfg = yaml.safe_load((project / "llmops.yaml").read_text())
    cfg["environments"]["prod"]["hosts"] = [{"address": "203.0.113.10"}, {"address": "203.0.113.11", "role": "agent"}]
    (project / "llmops.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    git(project, "commit", "-q", "-am", "prod on VMs")
    # `promote` commits render's tree (plus release.yaml) for the environment's settings, which render applies
    # itself: the first server's drop-in names the servers (tls-san), whichever command wrote it.
    from llmops_cli.promote.remote import environment_settings
    from llmops_cli.render.api import render_environment

    loaded = settings_of(project)
    files = render_environment(loaded.settings, "prod", gpu=False)
    assert "203.0.113.10" in files["k3s/50-llmops.yaml"] and "203.0.113.11" not in files["k3s/50-llmops.yaml"]
    assert render_environment(environment_settings(loaded.settings, "prod"), "prod", gpu=False) == files
    (project / "manifests" / "prod").mkdir(parents=True)
    (project / "manifests" / "prod" / "release.yaml").write_text("# generated by llmops promote: x\n")
    r = run_cli("-c", str(project / "llmops.yaml"), "render", "--env", "prod")
    assert r.exit_code == 0, r.output
    assert (project / "manifests" / "prod" / "release.yaml").read_text().startswith("# generated by llmops promote")
    r = run_cli("-c", str(project / "llmops.yaml"), "render", "--env", "prod", "--check")
    assert r.exit_code == 0, r.output


def test_the_gate_refuses_before_any_host_is_contacted(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from llmops_cli.promote import remote

    def never(*a: object, **k: object) -> None:
        raise AssertionError("a host was contacted although the gate refused")

    monkeypatch.setattr(remote, "connect_hosts", never)
    cfg = yaml.safe_load((project / "llmops.yaml").read_text())
    cfg["environments"]["prod"]["hosts"] = [{"address": "vm-never-contacted"}]
    (project / "llmops.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    bundle = next((project / "evidence" / "credit-approval" / "1.2.0").iterdir())
    (bundle / "results.json").write_text((bundle / "results.json").read_text() + " ")
    r = run_cli("-c", str(project / "llmops.yaml"), "promote", "prod", "--yes")
    assert r.exit_code == 4 and "changed: results.json" in r.stderr, r.output
    # -o json: one envelope (status error, the gate's reasons), exit 4.
    monkeypatch.setattr(remote, "connect_hosts", lambda *a, **k: {})
    cfg["environments"]["prod"]["hosts"] = []
    (project / "llmops.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    r = run_cli("-c", str(project / "llmops.yaml"), "promote", "prod", "--dry-run", "-o", "json")
    assert r.exit_code == 4, r.output
    env = json.loads(r.stdout)  # exactly one document
    assert env["status"] == "error" and env["errors"][0]["code"] == "gate"
    assert "results.json" in env["errors"][0]["message"] and env["data"]["gate"]["ok"] is False


def test_a_promoted_tree_carries_the_projects_incident_index_as_render_does(project: Path) -> None:
    """The tree `promote` commits is rendered from the project, as `llmops render` renders it: the incident index
    of `llmops govern incident` reaches the environment's gateway (its incident gauges), and `render --check`
    agrees with the promoted tree (before, promote shipped an empty index)."""
    from tests.riskfixtures import incident_index

    index = incident_index()
    (project / "incidents").mkdir(exist_ok=True)
    (project / "incidents" / "index.json").write_text(index.to_json())
    git(project, "add", "incidents")
    git(project, "commit", "-q", "-m", "an incident")
    promote(project)
    shipped = "".join(p.read_text() for p in (project / "manifests" / "prod" / "gateway").glob("*incidents*"))
    assert all(i.id in shipped for i in index.incidents)
    r = run_cli("-c", str(project / "llmops.yaml"), "render", "--env", "prod", "--check")
    assert r.exit_code == 0, r.output


# ------------------------------------------------------------------------------ the gateway's release record
EVIDENCE_CHECKS = {"evidence-passed", "evidence-fresh", "risk-level", "evidence-signed"}


def gateway_docs(project: Path, rev: str = "HEAD") -> dict[tuple[str, str], dict]:
    """The gateway folder of the committed prod tree at ``rev``: (kind, name) -> object."""
    listing = git(project, "ls-tree", "-r", "--name-only", rev, "manifests/prod/gateway").split()
    out: dict[tuple[str, str], dict] = {}
    for path in listing:
        for doc in yaml.safe_load_all(git(project, "show", f"{rev}:{path}")):
            if isinstance(doc, dict):
                out[(doc["kind"], doc["metadata"]["name"])] = doc
    return out


def pod_template(docs: dict[tuple[str, str], dict]) -> dict:
    """The gateway's pod template: the Rollout's (a canary judges a change of it), else the Deployment's."""
    for kind in ("Rollout", "Deployment"):
        spec = docs.get((kind, "policy-gateway"), {}).get("spec") or {}
        if spec.get("template"):
            return spec["template"]
    raise AssertionError("no gateway pod template in the tree")


def test_a_promotion_ships_the_gateway_release_record_the_canary_analysis_reads(project: Path, tmp_path: Path) -> None:
    """Before, promote committed only its own release.yaml: the gateway exported no llmops_model_* gauges, so the
    evidence checks of the gateway canary (empty result) failed every later canary and ModelServedWithoutEvidence
    fired. The tree now carries the record `llmops govern release` would write for the promoted bundle."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from llmops_cli.gateway.governance import GovernanceGauges
    from llmops_cli.riskdata import Release

    promote(project)
    bundle = next((project / "evidence" / "credit-approval" / "1.2.0").iterdir())
    manifest_sha = __import__("hashlib").sha256((bundle / "manifest.json").read_bytes()).hexdigest()
    docs = gateway_docs(project)
    text = docs[("ConfigMap", "policy-gateway-release")]["data"]["release.json"]
    record = Release.from_json(text, where="release.json")
    assert (record.model, record.version, record.env, record.run) == ("credit-approval", "1.2.0", "prod", bundle.name)
    assert record.manifest_sha256 == manifest_sha
    assert trailers(project)["Llmops-Evidence-Digest"] == f"sha256:{record.manifest_sha256}"
    assert (record.status, record.signature) == ("pass", "verified")
    template = pod_template(docs)
    env = {e["name"]: e.get("value") for c in template["spec"]["containers"] for e in c.get("env") or []}
    assert env["PAC_RELEASE_FILE"] == "/etc/llmops-release/release.json"
    assert template["metadata"]["annotations"]["llmops.dev/release-sha256"]
    # Every gauge the rendered analysis queries for evidence is one the gateway exports from that record.
    analysis = docs[("AnalysisTemplate", "llmops-gateway-risk")]
    queries = {
        m["name"]: m["provider"]["prometheus"]["query"]
        for m in analysis["spec"]["metrics"]
        if m["name"] in EVIDENCE_CHECKS
    }
    assert set(queries) == EVIDENCE_CHECKS
    (tmp_path / "release.json").write_text(text)
    reg = CollectorRegistry()
    GovernanceGauges(reg, release_file=str(tmp_path / "release.json"), incidents_file=None, interval=0).load()
    exported = {
        s.name: s.value for fam in text_string_to_metric_families(generate_latest(reg).decode()) for s in fam.samples
    }
    import re

    for check, query in queries.items():
        gauges = set(re.findall(r"\bllmops_model_[a-z_]+", query))
        assert gauges and gauges <= set(exported), (check, gauges - set(exported))
    assert exported["llmops_model_evidence_passed"] == 1
    assert exported["llmops_model_evidence_signature_verified"] == 1
    # `llmops render` keeps the promoted record: --check agrees, and a render does not drop it.
    r = run_cli("-c", str(project / "llmops.yaml"), "render", "--env", "prod", "--check")
    assert r.exit_code == 0, r.output


def test_a_new_model_version_changes_the_gateway_pod_template_so_a_canary_judges_it(project: Path) -> None:
    """Promoting 1.3.0 after 1.2.0 changed no pod template before (the same tree): no canary ran for it."""
    first = promote(project).commit
    assert promote(project).commit is None  # the same release again: nothing to commit, no restart
    set_model_version(project, "1.3.0")
    govern(project)
    second = promote(project).commit
    before, after = pod_template(gateway_docs(project, first)), pod_template(gateway_docs(project, second))
    assert before != after
    sha = "llmops.dev/release-sha256"
    assert before["metadata"]["annotations"][sha] != after["metadata"]["annotations"][sha]
    record = gateway_docs(project, second)[("ConfigMap", "policy-gateway-release")]["data"]["release.json"]
    assert json.loads(record)["version"] == "1.3.0"
    # A rollback restores the first release's tree, its gateway record included.
    back = promote(project, rollback=True).commit
    assert gateway_docs(project, back) == gateway_docs(project, first)


def test_the_promoted_bundles_record_replaces_the_projects_release_file(project: Path) -> None:
    """stacks.gateway.release_file names a record `llmops govern release` wrote earlier (for another version):
    promote is the release, so the tree carries the promoted bundle's record."""
    from tests.riskfixtures import release_record

    (project / "releases").mkdir(exist_ok=True)
    (project / "releases" / "prod.json").write_text(release_record(version="0.9.0").to_json())
    cfg = yaml.safe_load((project / "llmops.yaml").read_text())
    cfg["stacks"] = {**(cfg.get("stacks") or {}), "gateway": {"release_file": "releases/prod.json"}}
    (project / "llmops.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "an older release record")
    promote(project)
    record = gateway_docs(project)[("ConfigMap", "policy-gateway-release")]["data"]["release.json"]
    assert json.loads(record)["version"] == "1.2.0"


def test_an_environment_without_evidence_ships_no_gateway_release_record(project: Path) -> None:
    cfg = yaml.safe_load((project / "llmops.yaml").read_text())
    cfg["governance"]["inputs"].pop("model")
    (project / "llmops.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    git(project, "commit", "-q", "-am", "no model metadata")
    promote(project, env="dev")
    listing = git(project, "ls-tree", "-r", "--name-only", "HEAD", "manifests/dev/gateway")
    assert listing and "release" not in listing


def test_review_time_reads_the_promotions_promote_committed(project: Path) -> None:
    """`govern review-time` measures release cycles from promote's commits too (no `govern release` history
    needed): two promotions of the model to prod give one measured cycle, the second version's, whose
    governance runs from its first check to its promotion; a rollback is no new promotion."""
    import time

    promote(project)
    time.sleep(1.1)  # commit times have a resolution of one second: the cycle must not be 0
    set_model_version(project, "1.3.0")
    govern(project)
    promote(project)
    promote(project, rollback=True)
    assert not (project / "releases" / "history.jsonl").exists()
    r = run_cli("govern", "review-time", "--project", str(project), "--env", "prod", "-o", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)["data"]
    versions = {v["version"]: v for v in data["versions"]}
    assert set(versions) == {"1.2.0", "1.3.0"}
    assert versions["1.2.0"]["share"] is None  # a first promotion has no cycle
    assert versions["1.3.0"]["cycle_hours"] is not None and versions["1.3.0"]["governance_hours"] is not None
    assert data["measured_versions"] == 1
