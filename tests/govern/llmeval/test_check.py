"""The llm_eval stage inside `govern check` on the example project: evidence, model card, risk scorecard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmops_cli.govern.io import sha256_file
from llmops_cli.govern.stages.risk import likelihood_of
from tests.govern.conftest import copy_example
from tests.helpers import run_cli

from .standin import StandIn, serve

REFUSAL = "I'm sorry, I can't help with that."


def assistant(messages: list[dict[str, str]]) -> str:
    """Refuses whatever mentions bombs or meth, says "No." to yes/no questions, "C" to options, echoes the rest."""
    user = messages[-1]["content"]
    if any(w in user.lower() for w in ("bomb", "meth")):
        return REFUSAL
    if "yes or no" in user:
        return "No."
    if "letter of the correct option" in user:
        return "C"
    return user


def bundle_of(out: str) -> Path:
    return Path(json.loads(out)["data"]["bundle"])


def test_check_runs_the_llm_stage_into_bundle_card_and_scorecard(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    with serve(StandIn(answer=assistant, models=("smollm2",))) as url:
        r = run_cli("govern", "check", "--project", str(project), "--llm-endpoint", url, "-o", "json")
        again = run_cli("govern", "check", "--project", str(project), "--llm-endpoint", url, "-o", "json")
    assert r.exit_code in (0, 4), r.output
    data = json.loads(r.stdout)["data"]
    assert "llm_eval" in data["stages"]
    bundle = bundle_of(r.stdout)
    for name in ("llm_eval.json", "llm_eval.md", "llm_eval_transcript.jsonl"):
        assert (bundle / name).is_file(), name
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert {"llm_eval.json", "llm_eval_transcript.jsonl"} <= set(manifest["artefacts"])
    assert (
        manifest["settings"]["llm_eval"]["endpoint"] == url and manifest["settings"]["llm_eval"]["model"] == "smollm2"
    )
    metrics = json.loads((bundle / "llm_eval.json").read_text())
    ids = {x["id"]: x for x in data["results"]}
    assert ids["llm-refuses-disallowed"]["values"]["llm_eval.safety.refusal_rate"] == metrics["safety"]["refusal_rate"]
    # the same model, seed and suite give the same evaluation bytes
    second = bundle_of(again.stdout)
    for name in ("llm_eval.json", "llm_eval_transcript.jsonl", "llm_eval.md"):
        assert (second / name).read_bytes() == (bundle / name).read_bytes(), name
    # model card: the served LLM's results are their own model-index entry, readable by huggingface_hub
    from huggingface_hub import ModelCard

    card = ModelCard((bundle / "model_card.md").read_text())
    results = card.data.eval_results or []
    assert {e.task_type for e in results} == {"tabular-classification", "text-generation"}
    llm = [e for e in results if e.task_type == "text-generation"]
    assert {e.metric_type for e in llm} >= {"refusal_rate", "secret_leak_rate", "pii_echo_rate"}
    assert {e.dataset_revision for e in llm} == {metrics["suites"][0]["sha256"][:12]}
    import yaml

    front = yaml.safe_load((bundle / "model_card.md").read_text().split("---")[1])
    assert [m["name"] for m in front["model-index"]] == ["credit-approval", "smollm2"]
    assert "### Served LLM: smollm2" in (bundle / "model_card.md").read_text()
    # risk scorecard: R5's likelihood follows the worst measured failure rate it names
    risk = json.loads((bundle / "risk.json").read_text())["risks"]["R5"]
    worst = max(metrics["failure_rates"]["unsafe_compliance"], metrics["failure_rates"]["secret_leak"])
    assert risk["likelihood"] == likelihood_of(worst) == risk["measured"]["likelihood"]
    assert risk["measured"]["declared_likelihood"] == 2
    assert risk["inherent"] == 4 * risk["likelihood"]
    assert "Likelihood measured, not declared" in (bundle / "risk_scorecard.md").read_text()
    v = run_cli("govern", "verify", str(bundle), "--project", str(project))
    assert v.exit_code == 0, v.output
    # the packaged default suite decided the llm_eval rules: a manifest input, re-hashed by verify
    assert manifest["inputs"]["llm_suite:llmops:policies/llm_eval.yaml"]["sha256"] == metrics["suites"][0]["sha256"]


def test_a_project_suite_is_a_hashed_input_that_verify_rechecks(tmp_path: Path) -> None:
    from llmops_cli.resources import policies_dir

    project = copy_example(tmp_path)
    suite = project / "suites" / "credit.yaml"
    suite.parent.mkdir()
    suite.write_bytes((policies_dir() / "llm_eval.yaml").read_bytes())
    with serve(StandIn(answer=assistant, models=("smollm2",))) as url:
        r = run_cli(
            "govern", "check", "--project", str(project), "--llm-endpoint", url, "--llm-suite", str(suite), "-o", "json"
        )
    assert r.exit_code in (0, 4), r.output
    bundle = bundle_of(r.stdout)
    inputs = json.loads((bundle / "manifest.json").read_text())["inputs"]
    assert inputs["llm_suite:suites/credit.yaml"] == {"file": "suites/credit.yaml", "sha256": sha256_file(suite)}
    assert run_cli("govern", "verify", str(bundle), "--project", str(project)).exit_code == 0
    suite.write_text(suite.read_text() + "# edited after the check\n")
    v = run_cli("govern", "verify", str(bundle), "--project", str(project))
    assert v.exit_code == 1 and "suites/credit.yaml" in v.output, v.output


def test_without_an_endpoint_the_llm_rules_are_listed_as_not_applicable(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    r = run_cli("govern", "check", "--project", str(project), "-o", "json")
    assert r.exit_code == 0, r.output
    bundle = bundle_of(r.stdout)
    results = json.loads((bundle / "results.json").read_text())
    assert "llm-refuses-disallowed" in results["not_applicable"]
    assert not any(x["stage"] == "llm_eval" for x in results["results"])
    assert "Not applicable" in (bundle / "summary.md").read_text()
    # JUnit says the same: each such rule a skipped testcase (CI shows them as skipped, not missing)
    import xml.etree.ElementTree as ET

    suite = ET.parse(bundle / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    skipped = {tc.get("name"): tc for tc in suite.iter("testcase") if tc.find("skipped") is not None}
    assert set(skipped) == set(results["not_applicable"])
    assert all(tc.get("classname") == "governance.llm_eval" for tc in skipped.values())
    assert "governance.llm_eval.endpoint" in skipped["llm-refuses-disallowed"].find("skipped").get("message")
    assert int(suite.get("skipped")) == len(skipped)
    assert int(suite.get("tests")) == len(results["results"]) + len(skipped) == len(list(suite.iter("testcase")))
    risk = json.loads((bundle / "risk.json").read_text())["risks"]["R5"]
    assert risk["likelihood"] == 2 and risk["measured"]["likelihood"] is None


def test_an_endpoint_without_a_model_name_is_a_missing_input(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    cfg = project / "llmops.yaml"
    cfg.write_text(cfg.read_text().replace("    model: smollm2", "    max_retries: 2"))
    r = run_cli("govern", "check", "--project", str(project), "--llm-endpoint", "http://127.0.0.1:9/v1")
    assert r.exit_code == 2
    assert "the model name to evaluate (--llm-model or governance.llm_eval.model)" in r.output


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ("    measured_by: [llm_eval.failure_rates.nope]\n", "unknown failure rate 'llm_eval.failure_rates.nope'"),
        ("    measured_by: {a: b}\n", "measured_by must name failure rates"),
    ],
)
def test_bad_measured_by_names_file_and_line(tmp_path: Path, entry: str, words: str) -> None:
    project = copy_example(tmp_path)
    reg = project / "risk_register.yaml"
    text = reg.read_text().replace(
        "    measured_by: [llm_eval.failure_rates.unsafe_compliance, llm_eval.failure_rates.secret_leak]\n", entry
    )
    reg.write_text(text)
    r = run_cli("govern", "risk-scorecard", "--project", str(project))
    assert r.exit_code == 2
    line = text.splitlines().index(entry.rstrip("\n")) + 1
    assert f"risk_register.yaml:{line}" in r.output and words in r.output
