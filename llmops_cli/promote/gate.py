"""The governance gate of `promote`: the release's model must have an evidence bundle that verifies (every
hash; the signature, through `govern verify`'s own code, and a trusted signer whenever llmops.yaml names one),
whose rules passed, made for the same model name and version, and, where the bundle's signed manifest names
images (``images``: ``repo:tag`` -> ``sha256:…``, the images the evidence was made against), running exactly those
digests. Anything else refuses the promotion with exit 4, naming the failed rules or the mismatch."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops_cli.errors import InputError, LlmopsError, PolicyViolation

if TYPE_CHECKING:
    from llmops_cli.config.model import GovernanceSettings

RISK_LEVELS = ("low", "medium", "high", "critical")  # govern.stages.risk LEVELS, lowest first


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


@dataclass
class GateResult:
    environment: str
    required: bool
    model: ModelRef | None
    bundle: Path | None = None
    run: str | None = None
    digest: str | None = None  # sha256 of the bundle's manifest.json
    status: str | None = None  # derived from the signed rule results
    signature: str = "none"
    signed_by: str | None = None
    risk_score: float | None = None
    risk_level: str | None = None
    risk_class: str | None = None
    images: dict[str, str] = field(default_factory=dict)  # what the bundle names: repo:tag -> digest
    failed_rules: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    report: Any = field(default=None, repr=False, compare=False)  # govern's VerifyReport of the bundle

    @property
    def releasable(self) -> bool:
        """A bundle that verified and passed: the gateway's release record can be built from it."""
        r = self.report
        return bool(self.bundle is not None and r is not None and r.ok and self.status == "pass" and self.ok)

    @property
    def ok(self) -> bool:
        if not self.required:
            return True
        return self.bundle is not None and self.status == "pass" and not self.failed_rules and not self.problems

    def reasons(self) -> list[str]:
        out = []
        if self.failed_rules:
            out.append("rules failed: " + ", ".join(self.failed_rules))
        out += self.problems
        if self.status not in (None, "pass") and not self.failed_rules:
            out.append(f"the bundle's status is {self.status}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "required": self.required,
            "ok": self.ok,
            "model": {"name": self.model.name, "version": self.model.version} if self.model else None,
            "bundle": str(self.bundle) if self.bundle else None,
            "run": self.run,
            "digest": self.digest,
            "status": self.status,
            "signature": self.signature,
            "signed_by": self.signed_by,
            "risk": {"score": self.risk_score, "level": self.risk_level, "class": self.risk_class},
            "images": self.images,
            "failed_rules": self.failed_rules,
            "problems": self.problems,
        }


def release_model(gov: GovernanceSettings, base_dir: Path) -> ModelRef | None:
    """The model being released: name and version from the model metadata (``governance.inputs.model``)."""
    if not gov.inputs.model:
        return None
    from llmops_cli.govern.stages.model_card import load_model_meta

    path = Path(gov.inputs.model).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if not path.is_file():
        raise InputError(
            f"governance.inputs.model: {path} does not exist", hint="point it at the model's metadata YAML"
        )
    meta = load_model_meta(path)
    return ModelRef(str(meta.name), str(meta.version))


def _risk(bundle: Path, listed: dict[str, Any]) -> tuple[float | None, str | None, str | None]:
    if "risk.json" not in listed:
        return None, None, None
    try:
        risk = json.loads((bundle / "risk.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, None, None
    score = risk.get("max_residual")
    levels = risk.get("residual_levels") or {}
    level = None
    for name in RISK_LEVELS:  # the highest level that holds a risk
        if isinstance(levels, dict) and (levels.get(name) or 0) > 0:
            level = name
    ai = risk.get("ai_act") or {}
    cls = ai.get("classification") if isinstance(ai, dict) else None
    return (float(score) if isinstance(score, (int, float)) else None), level, (str(cls) if cls else None)


def _failed_rules(bundle: Path) -> list[str]:
    try:
        results = json.loads((bundle / "results.json").read_text(encoding="utf-8"))
        fail_on = results.get("fail_on", "error")
        return [
            str(r["id"])
            for r in results["results"]
            if r["outcome"] != "pass" and (r["severity"] == "error" or fail_on == "warning")
        ]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def evaluate(
    env: str,
    *,
    required: bool,
    model: ModelRef | None,
    gov: GovernanceSettings,
    base_dir: Path,
    bundle: Path | None = None,
) -> GateResult:
    """Find and verify the release's bundle (``bundle`` or the newest of ``<evidence_dir>/<model>/<version>``)."""
    from llmops_cli.govern.api import trust_from_settings
    from llmops_cli.govern.evidence import MANIFEST, read_manifest, resolve_bundle, verify_bundle
    from llmops_cli.govern.io import sha256_file

    result = GateResult(env, required, model)
    if bundle is None:
        if model is None:
            if required:
                result.problems.append(
                    "the release names no model: set governance.inputs.model (its name and version are what the "
                    "evidence must be for)"
                )
            return result
        evidence = Path(gov.evidence_dir).expanduser()
        evidence = evidence if evidence.is_absolute() else base_dir / evidence
        bundle = evidence / model.name / model.version
    if not bundle.exists():
        if required:
            result.problems.append(f"no governance bundle for {model} at {bundle} (run `llmops govern check`)")
        return result
    trust = trust_from_settings(gov, base_dir)
    # A signer llmops.yaml trusts means a signature is required: an unsigned bundle does not pass for one.
    trust.require_signature = bool(trust.keys or trust.identity)
    try:
        report = verify_bundle(bundle, trust=trust)
        folder = resolve_bundle(bundle)
        manifest = read_manifest(folder)
    except LlmopsError as e:
        result.problems.append(f"the bundle cannot be verified: {e.message}")
        return result
    result.bundle = folder
    result.report = report
    result.run = folder.name
    result.digest = "sha256:" + sha256_file(folder / MANIFEST)
    result.status = report.status
    result.signature = report.signature
    result.signed_by = report.signed_by
    result.risk_score, result.risk_level, result.risk_class = _risk(folder, manifest.get("artefacts") or {})
    result.images = _bundle_images(manifest, result.problems)
    if not report.ok:
        result.problems.append(f"the bundle does not verify ({report.problem()})")
    elif required and gov.runtime.risk.require_signed_evidence and report.signature != "verified":
        # The environment's canary judges the release on `evidence-signed` (rendered while this setting is on):
        # evidence whose signature is not verified would be shipped only to abort every rollout.
        result.problems.append(
            f"the bundle's signature is {report.signature}, and governance.runtime.risk.require_signed_evidence "
            "asks for a verified one (sign with `govern check --sign-key` and trust the key in llmops.yaml, or "
            "set require_signed_evidence: false)"
        )
    if report.status != "pass":
        result.failed_rules = _failed_rules(folder)
    found = ModelRef(str(report.model.get("name")), str(report.model.get("version"))) if report.model else None
    if model is not None and found != model:
        result.problems.append(f"the bundle is for {found or 'no model'}, the release is {model}")
    return result


def _bundle_images(manifest: dict[str, Any], problems: list[str]) -> dict[str, str]:
    from llmops_cli.adapters.registry import is_digest

    named = manifest.get("images")
    if named is None:
        return {}
    if not isinstance(named, dict) or not all(isinstance(v, str) and is_digest(v) for v in named.values()):
        problems.append("the bundle's images are not a mapping of image reference to sha256:… digest")
        return {}
    return {str(k): v for k, v in named.items()}


def check_images(gate: GateResult, digests: Mapping[str, Mapping[str, str]]) -> None:
    """Compare the release's image digests (``repo:tag`` -> {digest, ...}) with the images the bundle names: each
    named image must run in the release at the named digest (matched by repository; the digest decides, not the
    tag). Mismatches become gate problems (exit 4)."""
    from llmops_cli.adapters.registry import parse_image
    from llmops_cli.errors import UsageError

    if not gate.images:
        return
    if not digests:
        gate.problems.append(
            "the evidence names image digests, and the release records none (it was promoted before llmops pinned "
            "digests): promote it again instead of restoring it"
        )
        return
    running: dict[str, list[tuple[str, str]]] = {}
    for ref, pin in digests.items():
        running.setdefault(parse_image(ref, where="the release's images").name, []).append((ref, pin.get("digest", "")))
    for ref, digest in sorted(gate.images.items()):
        try:
            name = parse_image(ref, where="the bundle's images").name
        except UsageError as e:
            gate.problems.append(e.message)
            continue
        found = running.get(name)
        if not found:
            gate.problems.append(f"the evidence names image {ref} ({digest}), which the release does not run")
            continue
        for used, got in found:
            if got != digest:
                gate.problems.append(
                    f"image {used}: the release runs {got or 'no digest'}, the evidence names {digest}"
                )


def enforce(gate: GateResult) -> None:
    if gate.ok:
        return
    raise PolicyViolation(
        f"promotion to {gate.environment} refused: " + "; ".join(gate.reasons()),
        hint="fix what the governance check reports and run `llmops govern check`, then promote again",
        code="gate",
    )
