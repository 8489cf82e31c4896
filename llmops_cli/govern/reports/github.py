"""GitHub Actions output: ``::error`` / ``::warning`` workflow commands and the job's step summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def in_github_actions(environ: Mapping[str, str]) -> bool:
    return environ.get("GITHUB_ACTIONS") == "true"


def _escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_prop(s: str) -> str:
    return _escape_data(s).replace(":", "%3A").replace(",", "%2C")


def workflow_commands(results: Sequence[Mapping[str, Any]], fail_on: str = "error") -> list[str]:
    """One workflow command per rule that did not pass, pointing at the rule in the policy file."""
    lines = []
    for r in results:
        if r["outcome"] == "pass":
            continue
        level = "error" if r["severity"] == "error" or fail_on == "warning" else "warning"
        text = r["message"] + (f" ({r['detail']})" if r["detail"] else "")
        props = f"file={_escape_prop(r['file'])},line={r['line']},title={_escape_prop('governance: ' + r['id'])}"
        lines.append(f"::{level} {props}::{_escape_data(text)}")
    return lines


def append_step_summary(environ: Mapping[str, str], markdown: str) -> bool:
    """Append to the job summary file ($GITHUB_STEP_SUMMARY); False when there is none."""
    target = environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return False
    with open(target, "a", encoding="utf-8") as fh:
        fh.write(markdown if markdown.endswith("\n") else markdown + "\n")
    return True
