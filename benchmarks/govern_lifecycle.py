"""Evidence coverage of the CPMAI lifecycle per project scenario: which design artefacts a `govern check`
leaves, and the share generated automatically, beside the design's target (>= 90 % automatic).

Scenarios, each a copy of examples/ changed as named:
  ad hoc          a dataset and the bias flags only (no llmops.yaml, a bias-only policy)
  no documents    the example without governance/ (nothing written by people) and without experiment logs
  scaffolded      the example after `llmops govern init`, templates not yet filled in
  complete        the example as shipped (filled-in documents, experiment log, data card consent and PETs)

    PYTHONPATH=. python benchmarks/govern_lifecycle.py
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from llmops_cli.config.load import load_settings
from llmops_cli.govern import lifecycle
from llmops_cli.govern.api import governance_flags, inputs_from, run_check
from llmops_cli.reporting import NullReporter

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ENV = {"SOURCE_DATE_EPOCH": "1700000000"}


def project(root: Path, name: str) -> Path:
    dest = root / name
    shutil.copytree(EXAMPLES, dest, ignore=shutil.ignore_patterns("evidence", "__pycache__"))
    return dest


def run(p: Path, **flags: object) -> dict:
    loaded = load_settings(p / "llmops.yaml", environ={}, flags=governance_flags(**flags))
    inputs = inputs_from(loaded.settings, p, config_file=p / "llmops.yaml")
    report = run_check(inputs, evidence_dir=p / "evidence", environ=ENV, reporter=NullReporter())
    assert report.coverage is not None
    return report.coverage.to_dict()


def ad_hoc(root: Path) -> dict:
    p = project(root, "adhoc")
    policy = p / "bias.yaml"
    policy.write_text(
        "rules:\n  - id: parity\n    stage: bias\n    expr: bias.worst.demographic_parity_ratio >= 0.8\n"
        "    message: parity\n"
    )
    work = root / "adhoc-run"
    work.mkdir()
    inputs = inputs_from(
        load_settings(
            None,
            environ={},
            flags=governance_flags(
                data=p / "data" / "loans.csv",
                label="approved",
                prediction="predicted",
                sensitive=["sex", "ethnicity"],
                positive="1",
                policies=policy,
            ),
        ).settings,
        work,
    )
    report = run_check(inputs, evidence_dir=work / "evidence", environ=ENV, reporter=NullReporter())
    assert report.coverage is not None
    return report.coverage.to_dict()


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        rows.append(("ad hoc", ad_hoc(root)))
        p = project(root, "nodocs")
        shutil.rmtree(p / "governance")
        model = p / "model.yaml"
        model.write_text(
            "".join(x for x in model.read_text().splitlines(True) if "experiment" not in x and "run-" not in x)
        )
        rows.append(("no documents", run(p)))
        p = project(root, "scaffolded")
        shutil.rmtree(p / "governance")
        lifecycle.scaffold(p / "governance", model="credit-approval")
        rows.append(("scaffolded", run(p)))
        rows.append(("complete", run(project(root, "complete"))))
        took = time.perf_counter() - t0
    total = len(lifecycle.CATALOGUE)
    ceiling = sum(1 for a in lifecycle.CATALOGUE if a.kind == "automatic") / total
    print(f"lifecycle artefacts in the design: {total} ({total - round(ceiling * total)} written by people)")
    print(f"design target: >= {lifecycle.DESIGN_TARGET:.0%} of the evidence generated automatically")
    print(f"ceiling with every artefact present: {ceiling:.0%}\n")
    print(
        f"{'scenario':<14} {'present':>8} {'automatic':>10} {'by people':>10} {'incomplete':>11} {'share':>7}  target"
    )
    for name, c in rows:
        incomplete = sum(1 for ph in c["phases"].values() for a in ph if a["state"] == "incomplete")
        met = "met" if c["automatic_share"] >= c["design_target"] else "not met"
        print(
            f"{name:<14} {c['present']:>5}/{c['total']:<2} {c['automatic']:>10} {c['human']:>10} {incomplete:>11} "
            f"{c['automatic_share']:>7.0%}  {met}"
        )
    print("\nper phase (complete): ", end="")
    complete = rows[-1][1]
    print(
        ", ".join(
            f"{lifecycle.PHASES[ph]} {sum(a['state'] == 'present' for a in arts)}/{len(arts)}"
            for ph, arts in complete["phases"].items()
        )
    )
    print(f"({len(rows)} checks in {took:.1f} s)")


if __name__ == "__main__":
    main()
