"""JUnit XML: one test case per rule, so any CI shows governance results next to unit tests.

The output is valid under the strict Apache Ant JUnit schema (windyroad/JUnit-Schema, JUnit.xsd), and so also
under Jenkins' looser one (jenkinsci/xunit-plugin, junit-10.xsd, commit 031e285). What the strict schema
demands, and this writer therefore does:
- ``<testsuites>`` carries no attributes; each ``<testsuite>`` in it has ``package`` and ``id`` (0-based).
- a testsuite has ``name``, ``timestamp`` (YYYY-MM-DDTHH:MM:SS, no zone), ``hostname``, ``tests``,
  ``failures``, ``errors``, ``time`` and children in this order: ``properties`` (required), testcases,
  ``system-out`` and ``system-err`` (both required).
- a testcase has exactly ``name``, ``classname`` and ``time``, and at most one ``failure`` or ``error``
  (text body, ``type`` required) or ``skipped`` (Ant: any content; Jenkins: text, ``message``, ``type``).
  Nothing else: no file/line attributes, no per-case properties or output, so a rule's file:line goes in its
  failure text and the suite's properties, and warnings in system-out.
- rules of an opt-in stage nobody configured (llm_eval without an endpoint) are skipped testcases, the reason as
  ``message`` and file:line as text, counted in the suite's ``tests`` and ``skipped``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def junit_xml(
    suite: str,
    results: Sequence[Mapping[str, Any]],
    fail_on: str = "error",
    *,
    timestamp: str | None = None,
    skipped: Sequence[Mapping[str, Any]] = (),
) -> str:
    """``skipped``: rules not evaluated, each ``{id, stage, file, line, reason}``."""
    import xml.etree.ElementTree as ET

    failed = [r for r in results if r["outcome"] != "pass" and (r["severity"] == "error" or fail_on == "warning")]
    errors = [r for r in failed if r["outcome"] == "error"]
    root = ET.Element("testsuites")
    ts = ET.SubElement(
        root,
        "testsuite",
        {
            "package": "governance",
            "id": "0",
            "name": suite,
            # deterministic: the check's created_at (UTC) without its zone; the host is not recorded
            "timestamp": (timestamp or "1970-01-01T00:00:00Z").removesuffix("Z"),
            "hostname": "localhost",
            "tests": str(len(results) + len(skipped)),
            "failures": str(len(failed) - len(errors)),
            "errors": str(len(errors)),
            "skipped": str(len(skipped)),
            "time": "0",
        },
    )
    props = ET.SubElement(ts, "properties")
    for r in results:
        ET.SubElement(props, "property", {"name": f"rule.{r['id']}.source", "value": f"{r['file']}:{r['line']}"})
        for c in r["controls"]:
            ET.SubElement(props, "property", {"name": f"rule.{r['id']}.control", "value": c})
    warnings = []
    for r in results:
        tc = ET.SubElement(ts, "testcase", {"classname": f"governance.{r['stage']}", "name": r["id"], "time": "0"})
        values = ", ".join(f"{k}={v!r}" for k, v in r["values"].items())
        body = f"{r['file']}:{r['line']}\n{r['expr']}\n{values}\n{r['detail']}".strip()
        if r in failed:
            tag = "error" if r["outcome"] == "error" else "failure"
            el = ET.SubElement(tc, tag, {"message": r["message"], "type": r["severity"]})
            el.text = body
        elif r["outcome"] != "pass":
            warnings.append(f"WARNING {r['id']}: {r['message']}\n{body}")
    for r in skipped:
        tc = ET.SubElement(ts, "testcase", {"classname": f"governance.{r['stage']}", "name": r["id"], "time": "0"})
        ET.SubElement(tc, "skipped", {"message": r["reason"]}).text = f"{r['file']}:{r['line']}"
    ET.SubElement(ts, "system-out").text = "\n\n".join(warnings)
    ET.SubElement(ts, "system-err").text = ""
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
