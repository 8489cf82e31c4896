"""JUnit XML: one test case per rule, so any CI shows governance results next to unit tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def junit_xml(suite: str, results: Sequence[Mapping[str, Any]], fail_on: str = "error") -> str:
    import xml.etree.ElementTree as ET

    failed = [r for r in results if r["outcome"] != "pass" and (r["severity"] == "error" or fail_on == "warning")]
    errors = [r for r in failed if r["outcome"] == "error"]
    root = ET.Element(
        "testsuites",
        {
            "name": "llmops govern",
            "tests": str(len(results)),
            "failures": str(len(failed) - len(errors)),
            "errors": str(len(errors)),
        },
    )
    ts = ET.SubElement(
        root,
        "testsuite",
        {
            "name": suite,
            "tests": str(len(results)),
            "failures": str(len(failed) - len(errors)),
            "errors": str(len(errors)),
            "skipped": "0",
            "time": "0",
        },
    )
    for r in results:
        tc = ET.SubElement(
            ts,
            "testcase",
            {
                "classname": f"governance.{r['stage']}",
                "name": r["id"],
                "file": r["file"],
                "line": str(r["line"]),
                "time": "0",
            },
        )
        values = ", ".join(f"{k}={v!r}" for k, v in r["values"].items())
        body = f"{r['expr']}\n{values}\n{r['detail']}".strip()
        if r in failed:
            tag = "error" if r["outcome"] == "error" else "failure"
            el = ET.SubElement(tc, tag, {"message": r["message"], "type": r["severity"]})
            el.text = body
        elif r["outcome"] != "pass":
            out = ET.SubElement(tc, "system-out")
            out.text = f"WARNING: {r['message']}\n{body}"
        if r["controls"]:
            props = ET.SubElement(tc, "properties")
            for c in r["controls"]:
                ET.SubElement(props, "property", {"name": "control", "value": c})
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
