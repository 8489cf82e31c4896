"""Evidence an auditor can trust: signatures, tampering, replays, status derived from signed content, CRLF,
dirty trees, fresh clones."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from llmops_cli.config.load import load_settings
from llmops_cli.errors import InputError
from llmops_cli.govern.api import governance_flags, inputs_from, run_check, trust_from_settings, verify
from llmops_cli.govern.evidence import MANIFEST, EvidenceMismatch, Trust, git_state, read_manifest, statement_for
from llmops_cli.govern.signing import (
    KEY_ENVELOPE,
    PAYLOAD_TYPE,
    SignatureError,
    generate_key,
    load_public_key,
    load_signer,
    pae,
    verify_envelope,
)
from llmops_cli.reporting import NullReporter

ENV = {"SOURCE_DATE_EPOCH": "1700000000"}


def check(project: Path, signer=None, environ=ENV, **flags):
    loaded = load_settings(project / "llmops.yaml", environ={}, flags=governance_flags(**flags))
    inputs = inputs_from(loaded.settings, project, config_file=project / "llmops.yaml")
    return run_check(inputs, evidence_dir=project / "evidence", environ=environ, signer=signer, reporter=NullReporter())


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    private, public = tmp_path / "keys" / "signing.key", tmp_path / "keys" / "signing.key.pub"
    generate_key(private, public)
    return private, public


def trusted(public: Path, **kw) -> Trust:
    return trust_from_settings(None, None, keys=[public], **kw)


def signed_bundle(project: Path, keys) -> Path:
    return check(project, signer=load_signer(keys[0], {})).bundle


# ----------------------------------------------------------------------------------------- DSSE / keys
def test_pae_matches_the_dsse_spec_example() -> None:
    # secure-systems-lab/dsse v1.0.0 protocol.md: PAE("http://example.com/HelloWorld", "hello world")
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_keygen_writes_0600_private_key_and_refuses_to_overwrite(keys) -> None:
    private, public = keys
    assert private.stat().st_mode & 0o777 == 0o600
    kid, _ = load_public_key(public)
    assert load_signer(private, {}).keyid == kid
    with pytest.raises(Exception, match="exists"):
        generate_key(private, public)


def test_encrypted_key_needs_its_passphrase(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "ec.key"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"s3cret"),
        )
    )
    with pytest.raises(Exception, match="LLMOPS_SIGNING_KEY_PASSWORD"):
        load_signer(path, {})
    signer = load_signer(path, {"LLMOPS_SIGNING_KEY_PASSWORD": "s3cret"})
    env = signer.sign(b'{"x":1}')
    public = {signer.keyid: key.public_key()}
    assert verify_envelope(json.dumps(env).encode(), public) == (b'{"x":1}', f"key:{signer.keyid}")


def test_the_signed_statement_is_an_in_toto_v1_statement_sigstore_accepts(project: Path, keys) -> None:
    from sigstore.dsse import Statement  # sigstore-python's own model of in-toto Statement v1

    bundle = signed_bundle(project, keys)
    env = json.loads((bundle / KEY_ENVELOPE).read_text())
    assert env["payloadType"] == PAYLOAD_TYPE
    body = base64.b64decode(env["payload"])
    stmt = Statement(body)
    names = {s.name for s in stmt._inner.subjects}
    manifest = read_manifest(bundle)
    assert {MANIFEST, *manifest["artefacts"], "data/loans.csv", "llmops.yaml", "model.yaml"} <= names
    assert {"fria.yaml", "ci/governance.yml", "docs/ai-literacy.md", "docs/credit-review-procedure.md"} <= names
    assert body == statement_for(manifest, (bundle / MANIFEST).read_bytes())


# ----------------------------------------------------------------------------------------- verify: signed bundles
def test_signed_bundle_verifies_with_its_key_and_names_the_signer(project: Path, keys) -> None:
    bundle = signed_bundle(project, keys)
    report = verify(bundle, project, trusted(keys[1], require_signature=True))
    assert report.ok, report.problem()
    assert report.signature == "verified" and report.signed_by == "key:" + load_public_key(keys[1])[0]
    assert report.status == "pass" and report.model == {"name": "credit-approval", "version": "1.2.0"}


def test_unsigned_bundles_are_reported_and_fail_require_signature(project: Path) -> None:
    bundle = check(project).bundle
    assert verify(bundle).ok and verify(bundle).signature == "none"
    report = verify(bundle, trust=Trust(require_signature=True))
    assert not report.ok and "not signed" in report.problem()


def test_a_signature_by_an_untrusted_key_is_rejected(project: Path, keys, tmp_path: Path) -> None:
    bundle = signed_bundle(project, keys)
    other = tmp_path / "other.key"
    generate_key(other, tmp_path / "other.pub")
    report = verify(bundle, trust=trusted(tmp_path / "other.pub"))
    assert not report.ok and "not a trusted key" in report.problem()
    assert not verify(bundle, trust=Trust()).ok  # signed, but nobody to trust: not a pass


TAMPERS = {
    "one byte in an artefact": lambda b, p: _flip(b / "bias.json"),
    # one byte that keeps it valid JSON (the date): only the signature can tell
    "one byte in the manifest": lambda b, p: (b / MANIFEST).write_text(
        (b / MANIFEST).read_text().replace("2023-11-14", "2023-11-15", 1)
    ),
    "one byte that breaks the manifest": lambda b, p: _flip(b / MANIFEST),
    "one byte in an input": lambda b, p: _flip(p / "data" / "loans.csv"),
    "one byte in llmops.yaml": lambda b, p: (p / "llmops.yaml").write_text(
        (p / "llmops.yaml").read_text().replace("min_group_size: 30", "min_group_size: 31")
    ),
    # files named by the risk register and the AI Act answers decide the verdict too (evidenced controls,
    # evidenced obligations, a complete FRIA): re-hashed with --project like any input
    "one byte in a control's evidence file": lambda b, p: _flip(p / "ci" / "governance.yml"),
    "one byte in an article's evidence file": lambda b, p: _flip(p / "docs" / "ai-literacy.md"),
    "one byte in the FRIA": lambda b, p: _flip(p / "fria.yaml"),
    "a deleted control evidence file": lambda b, p: (p / "docs" / "credit-review-procedure.md").unlink(),
    "a deleted artefact": lambda b, p: (b / "summary.md").unlink(),
    "an added file": lambda b, p: (b / "extra.txt").write_text("x"),
    "a consistent rewrite of artefact and hash": lambda b, p: _rewrite_consistently(b),
    "a rewritten status in manifest and results": lambda b, p: _flip_status(b),
}


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    i = len(data) // 2
    data[i] = data[i] ^ 0x01
    path.write_bytes(bytes(data))


def _rewrite_consistently(bundle: Path) -> None:
    """What an attacker with write access does: change an artefact and fix its hash in the manifest."""
    from llmops_cli.govern.io import sha256_file

    (bundle / "bias.json").write_text("{}\n")
    m = json.loads((bundle / MANIFEST).read_text())
    m["artefacts"]["bias.json"] = {"sha256": sha256_file(bundle / "bias.json"), "bytes": 3}
    (bundle / MANIFEST).write_text(json.dumps(m, indent=2, sort_keys=True) + "\n")


def _flip_status(bundle: Path) -> None:
    """Turn a FAIL into a PASS everywhere it is written, hashes fixed: only the signature can tell."""
    from llmops_cli.govern.io import sha256_file

    results = json.loads((bundle / "results.json").read_text())
    for r in results["results"]:
        r["outcome"] = "pass"
    results["status"] = "pass"
    (bundle / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    m = json.loads((bundle / MANIFEST).read_text())
    m["status"] = "pass"
    m["artefacts"]["results.json"]["sha256"] = sha256_file(bundle / "results.json")
    (bundle / MANIFEST).write_text(json.dumps(m, indent=2, sort_keys=True) + "\n")


@pytest.mark.parametrize("how", list(TAMPERS))
def test_verify_rejects_every_tamper_case(project: Path, keys, how: str) -> None:
    if how == "a rewritten status in manifest and results":
        (project / "policies").mkdir()
        (project / "policies" / "governance.yaml").write_text(
            "rules:\n  - id: strict\n    stage: bias\n    expr: bias.worst.demographic_parity_ratio >= 0.99\n"
            "    message: parity\n"
        )
    bundle = signed_bundle(project, keys)
    assert verify(bundle, project, trusted(keys[1])).ok
    TAMPERS[how](bundle, project)
    try:
        report = verify(bundle, project, trusted(keys[1], require_signature=True))
    except EvidenceMismatch as e:  # exit 1 too, naming the file
        assert "manifest.json" in str(e)
        return
    assert not report.ok, how
    assert report.problem()


def test_status_is_derived_from_the_results_not_the_manifest(project: Path) -> None:
    """Unsigned: a manifest that claims pass over failing results is caught, the status shown is the derived one."""
    (project / "policies").mkdir()
    (project / "policies" / "governance.yaml").write_text(
        "rules:\n  - id: strict\n    stage: bias\n    expr: bias.worst.demographic_parity_ratio >= 0.99\n"
        "    message: parity\n"
    )
    bundle = check(project).bundle
    from llmops_cli.govern.io import sha256_file

    m = json.loads((bundle / MANIFEST).read_text())
    m["status"] = "pass"
    (bundle / MANIFEST).write_text(json.dumps(m))
    report = verify(bundle)
    assert report.status == "fail" and not report.ok
    assert "status 'pass' in the manifest contradicts the rule results (fail)" in report.problem()
    assert sha256_file(bundle / "results.json") == m["artefacts"]["results.json"]["sha256"]


def test_a_replayed_older_bundle_for_a_newer_model_version_is_rejected(project: Path, keys) -> None:
    old = signed_bundle(project, keys)  # credit-approval 1.2.0, passing, signed
    model = project / "model.yaml"
    model.write_text(model.read_text().replace("version: 1.2.0", "version: 1.3.0"))
    # the attacker files the old, signed, passing bundle where 1.3.0's evidence belongs
    replay = project / "evidence" / "credit-approval" / "1.3.0" / old.name
    shutil.copytree(old, replay)
    report = verify(replay, project, trusted(keys[1], require_signature=True))
    assert not report.ok
    assert "the bundle is for credit-approval 1.2.0 but is filed under credit-approval/1.3.0" in report.problem()
    assert "the project's model is credit-approval 1.3.0" in report.problem()
    # also when renamed into a folder of its own: the content address no longer matches
    renamed = replay.parent / ("0" * 16)
    replay.rename(renamed)
    assert "is not this manifest's content address" in verify(renamed, project, trusted(keys[1])).problem()


def test_crlf_policy_files_verify(project: Path) -> None:
    """A policy file with CRLF line ends: the manifest records the file's bytes, as verify hashes them."""
    from llmops_cli.resources import policies_dir

    (project / "policies").mkdir()
    text = (policies_dir() / "governance.yaml").read_text()
    (project / "policies" / "governance.yaml").write_bytes(text.replace("\n", "\r\n").encode())
    bundle = check(project).bundle
    report = verify(bundle, project)
    assert report.ok, report.problem()


def test_label_values_given_as_numbers_are_text(project: Path) -> None:
    """`positive: 1` in llmops.yaml and LLMOPS_GOVERNANCE__INPUTS__POSITIVE=1 name a label value."""
    cfg = yaml.safe_load((project / "llmops.yaml").read_text())
    cfg["governance"]["inputs"]["positive"] = 1
    cfg["governance"]["inputs"]["privileged"] = {"sex": "male", "ethnicity": "group_a"}
    (project / "llmops.yaml").write_text(yaml.safe_dump(cfg))
    assert load_settings(project / "llmops.yaml", environ={}).settings.governance.inputs.positive == "1"
    env = load_settings(project / "llmops.yaml", environ={"LLMOPS_GOVERNANCE__INPUTS__POSITIVE": "1"})
    assert env.settings.governance.inputs.positive == "1"
    assert (
        load_settings(None, environ={"LLMOPS_GOVERNANCE__INPUTS__POSITIVE": "true"}).settings.governance.inputs.positive
        == "true"
    )
    assert check(project).status == "pass"


def test_a_label_map_in_llmops_yaml_gates_three_raw_classes_and_is_signed(project: Path) -> None:
    """Decisions written `approved`/`declined`/`withdrawn`: refused by default (exit 2 naming the values), gated
    as two classes with `label_map: {withdrawn: declined}`, and the mapping recorded in the manifest's
    settings; the bias metrics equal those of the 0/1 data."""
    import pandas as pd

    reference = json.loads((check(project).bundle / "bias.json").read_text())
    data = project / "data" / "loans.csv"
    df = pd.read_csv(data)
    for col in ("approved", "predicted"):
        df[col] = ["approved" if v == 1 else ("withdrawn" if i % 3 == 0 else "declined") for i, v in enumerate(df[col])]
    df.to_csv(data, index=False)
    cfg = yaml.safe_load((project / "llmops.yaml").read_text())
    cfg["governance"]["inputs"]["positive"] = "approved"
    (project / "llmops.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(InputError, match="'withdrawn'") as e:
        check(project)
    assert "governance.inputs.label_map" in (e.value.hint or "")
    cfg["governance"]["inputs"]["label_map"] = {"withdrawn": "declined"}
    (project / "llmops.yaml").write_text(yaml.safe_dump(cfg))
    report = check(project)
    assert json.loads((report.bundle / "bias.json").read_text()) == reference
    assert read_manifest(report.bundle)["settings"]["label_map"] == {"withdrawn": "declined"}
    balance = json.loads((report.bundle / "data_quality.json").read_text())["label_balance"]
    assert set(balance["classes"]) == {"approved", "declined"}  # counted as the scan counts them
    assert balance["positive_ratio"] == pytest.approx((df.approved == "approved").mean())


# ----------------------------------------------------------------------------------------- git
def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
        env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
             "GIT_COMMITTER_EMAIL": "t@example.com", "HOME": str(cwd), "PATH": "/usr/bin:/bin"},
    ).stdout  # fmt: skip


def test_git_commit_records_a_dirty_tree_as_dirty(project: Path) -> None:
    _git(project, "init", "-q")
    _git(project, "add", "-A")
    _git(project, "commit", "-qm", "init")
    head = _git(project, "rev-parse", "HEAD").strip()
    clean = read_manifest(check(project).bundle)
    assert clean["git_commit"] == head and clean["git"] == {"commit": head, "dirty": False}
    assert git_state(project, exclude=[project / "evidence"]).dirty is False  # its own evidence does not count
    with (project / "model.yaml").open("a") as fh:
        fh.write("# local edit\n")
    dirty = read_manifest(check(project).bundle)
    assert dirty["git_commit"] == f"{head}-dirty" and dirty["git"]["dirty"] is True


def test_verify_accepts_a_signed_bundle_from_a_fresh_clone(project: Path, keys, tmp_path: Path) -> None:
    """The evidence and the public key are committed; a fresh clone verifies with the project's settings."""
    shutil.copy(keys[1], project / "signing.pub")
    cfg = yaml.safe_load((project / "llmops.yaml").read_text())
    cfg["governance"]["signing"] = {"public_keys": ["signing.pub"]}
    (project / "llmops.yaml").write_text(yaml.safe_dump(cfg))
    _git(project, "init", "-q")
    _git(project, "add", "-A")
    _git(project, "commit", "-qm", "project")
    report = check(project, signer=load_signer(keys[0], {}))
    _git(project, "add", "-A")
    _git(project, "commit", "-qm", "evidence")
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", str(project), str(clone))
    gov = load_settings(clone / "llmops.yaml", environ={}).settings.governance
    trust = trust_from_settings(gov, clone, require_signature=True)
    out = verify(clone / "evidence" / "credit-approval" / "1.2.0", clone, trust)  # newest run by the index
    assert out.ok, out.problem()
    assert out.bundle.name == report.run and out.signature == "verified" and out.inputs_checked == 16


def test_verify_envelope_rejects_a_modified_signature() -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    from llmops_cli.govern.signing import KeySigner, key_id

    signer = KeySigner(key, key_id(key.public_key()), "mem")
    env = signer.sign(b"payload")
    env["payload"] = base64.b64encode(b"payloaD").decode()
    with pytest.raises(SignatureError, match="does not verify"):
        verify_envelope(json.dumps(env).encode(), {signer.keyid: key.public_key()})


# ----------------------------------------------------------------------------------------- keyless (Sigstore)
def test_signing_mode_picks_key_then_ci_token_then_none(keys, tmp_path: Path) -> None:
    from llmops_cli.config.model import GovernanceSettings
    from llmops_cli.errors import InputError
    from llmops_cli.govern.api import signer_from_settings
    from llmops_cli.govern.signing import KeySigner, SigstoreSigner

    def gov(**signing) -> GovernanceSettings:
        return GovernanceSettings.model_validate({"signing": signing})

    assert isinstance(signer_from_settings(gov(key=str(keys[0])), tmp_path, {"SIGSTORE_ID_TOKEN": "t"}), KeySigner)
    keyless = signer_from_settings(gov(), tmp_path, {"SIGSTORE_ID_TOKEN": "a.b.c"})
    assert isinstance(keyless, SigstoreSigner) and keyless.token == "a.b.c"
    assert signer_from_settings(gov(mode="none", key=str(keys[0])), tmp_path, {}) is None
    with pytest.raises(InputError, match="no OIDC identity token"):
        signer_from_settings(gov(mode="sigstore"), tmp_path, {"PATH": "/usr/bin"})
    with pytest.raises(InputError, match="no key is set"):
        signer_from_settings(gov(mode="key"), tmp_path, {})


def test_a_sigstore_bundle_needs_a_named_signer_and_a_valid_bundle(project: Path) -> None:
    bundle = check(project).bundle
    (bundle / "manifest.sigstore.json").write_text('{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}')
    report = verify(bundle, trust=Trust())
    assert report.signature == "invalid" and "--cert-identity" in report.problem()
    report = verify(bundle, trust=Trust(identity="me@example.com", issuer="https://accounts.example.com", offline=True))
    assert report.signature == "invalid" and "does not verify" in report.problem()
