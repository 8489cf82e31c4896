"""Data quality, data card, model card and the I/O layer."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from llmops_cli.errors import ConfigError, InputError
from llmops_cli.govern.api import with_report
from llmops_cli.govern.io import read_table
from llmops_cli.govern.reports.markdown import model_card_markdown
from llmops_cli.govern.stages.data_card import load_dataset_meta, run_data_card
from llmops_cli.govern.stages.data_quality import ColumnSpec, DataQualityConfig, pii_kind, run_data_quality
from llmops_cli.govern.stages.model_card import load_model_meta, model_card_document, run_model_card


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 4],
            "age": [20, 150, 30, None, None],
            "group": ["a", "b", "c", "a", "a"],
            "constant": ["x"] * 5,
            "label": [0, 1, 1, 0, 0],
        }
    )


def test_data_quality_metrics() -> None:
    schema = {
        "age": ColumnSpec(type="integer", min=0, max=120),
        "group": ColumnSpec(type="string", allowed=("a", "b")),
        "income": ColumnSpec(type="number"),
        "id": ColumnSpec(type="string"),
        "optional": ColumnSpec(required=False),
    }
    m = run_data_quality(frame(), DataQualityConfig(label="label", schema=schema)).metrics
    assert m["rows"] == 5 and m["columns"] == 5
    assert m["missing_ratio"]["age"] == 0.4 and m["max_missing_ratio"] == 0.4
    assert m["duplicate_rows"] == 1 and m["duplicate_ratio"] == 0.2
    assert m["constant_columns"] == ["constant"]
    assert m["out_of_range"] == {"age": 1, "group": 1}
    assert m["schema_violations"] == [
        "column 'income' is declared but missing",
        "column 'id' should be string, found integer",
    ]
    assert m["label_balance"]["positive_ratio"] == 0.4 and m["label_balance"]["minority_ratio"] == 0.4


@pytest.mark.parametrize(
    ("column", "values", "kind"),
    [
        ("contact", ["ann@example.com", "bob@example.org", "c@d.io"], "email"),
        ("tel", ["+44 20 7946 0958", "(555) 123-4567", "555-987-6543"], "phone"),
        ("x", ["123-45-6789", "987-65-4321"], "ssn"),
        ("full_name", ["Ada Lovelace", "Alan Turing", "Grace Hopper"], "name"),
        ("applicant", ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra"], "name"),
        ("status", ["Never married", "Married", "Divorced"], None),
        ("id", ["A00001", "A00002"], None),
        ("count", ["12345678", "23456789"], None),
    ],
)
def test_personal_data_detection(column: str, values: list[str], kind: str | None) -> None:
    assert pii_kind(pd.Series(values), column) == kind


def test_pii_columns_reported() -> None:
    df = frame().assign(email=["a@b.com", "c@d.com", "e@f.com", "g@h.com", "i@j.com"])
    m = run_data_quality(df, DataQualityConfig()).metrics
    assert m["pii_columns"] == {"email": "email"} and m["pii_column_count"] == 1


def test_data_card(tmp_path: Path) -> None:
    meta_file = tmp_path / "d.yaml"
    meta_file.write_text("name: demo\nlicense: CC0-1.0\nsource: test\nsensitive_attributes: [group]\n")
    meta = load_dataset_meta(meta_file)
    res = run_data_card(frame(), meta, data_file="data/x.csv", sha256="ab" * 32, sensitive=("label",))
    m = res.metrics
    assert m["licence"] == "CC0-1.0" and m["sensitive_attributes"] == ["group", "label"]
    assert set(m["missing_fields"]) == {"description", "collection_period", "consent", "preprocessing"}
    assert m["column_stats"]["age"]["max"] == 150.0 and m["column_stats"]["group"]["top"] == {
        "a": 3,
        "b": 1,
        "c": 1,
    }
    assert "# Data card: demo" in with_report(res).artefacts["data_card.md"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("colour: x\n", "d.yaml:1: colour: unknown key 'colour'"),
        ("schema:\n  age: {type: int}\n", "d.yaml:2: schema.age.type: type must be one of"),
        ("schema:\n  age: {min: low}\n", "min must be a number"),
        ("- a\n", "expected a mapping at the top level"),
    ],
)
def test_dataset_meta_errors(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "d.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_dataset_meta(p)
    assert needle in str(e.value)


def test_model_card_front_matter_and_completeness(tmp_path: Path) -> None:
    p = tmp_path / "m.yaml"
    p.write_text("name: demo\nversion: 2.0.1\nlicense: MIT\ntags: [a]\nintended_use: testing\n")
    meta = load_model_meta(p)
    res = run_model_card(meta, ("owner", "intended_use", "limitations"))
    assert res.metrics["missing_required"] == ["owner", "limitations"] and not res.metrics["complete"]
    md = model_card_markdown(
        model_card_document(meta, res.metrics, governance={"status": "pass", "passed": 1, "failed": 0, "warnings": 0})
    )
    front = yaml.safe_load(md.split("---\n")[1])
    assert front == {
        "model_name": "demo",
        "model_version": "2.0.1",
        "license": "mit",
        "tags": ["a"],
        "governance_status": "pass",
    }
    assert "missing owner, limitations" in md


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("name: m\n", "version: required field 'version' is missing"),
        ("name: ../x\nversion: 1\n", "name: name '../x' must be letters"),
        ("name: m\nversion: 1\nowners: me\n", "unknown key 'owners'"),
    ],
)
def test_model_meta_errors(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "m.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(").replace(".", r"\.")):
        load_model_meta(p)


def test_read_table_formats(tmp_path: Path) -> None:
    df = frame()
    df.to_csv(tmp_path / "t.csv", index=False)
    df.to_parquet(tmp_path / "t.parquet")
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(r) + "\n" for r in df.to_dict("records")))
    for name in ("t.csv", "t.parquet", "t.jsonl"):
        got = read_table(tmp_path / name, ["label", "group"])
        assert list(got.columns) == ["label", "group"] and got["label"].tolist() == [0, 1, 1, 0, 0], name


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("t.csv", "", "the file is empty"),
        ("t.csv", "a,b\n", "no data rows"),
        ("t.xlsx", "x", "unknown file type '.xlsx'"),
        ("t.jsonl", "{not json}\n", "cannot read as JSONL"),
        ("t.parquet", "not parquet", "cannot read as PARQUET"),
    ],
)
def test_read_table_bad_files(tmp_path: Path, name: str, content: str, needle: str) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(InputError, match=needle.replace("(", r"\(").replace(".", r"\.")):
        read_table(tmp_path / name)


def test_read_table_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="dataset not found"):
        read_table(tmp_path / "nope.csv")


def test_nested_jsonl_values_become_json_text(tmp_path: Path) -> None:
    p = tmp_path / "t.jsonl"
    p.write_text('{"a": 1, "tags": ["x", "y"], "meta": {"k": 1}}\n{"a": 1, "tags": ["x", "y"], "meta": {"k": 1}}\n')
    df = read_table(p)
    assert df["tags"].tolist() == ['["x", "y"]', '["x", "y"]'] and df["meta"][0] == '{"k": 1}'
    assert run_data_quality(df, DataQualityConfig()).metrics["duplicate_rows"] == 1


@pytest.mark.parametrize("placeholder", ["TBD", "-", "", "  ", "tbd", "TODO", "n/a", "—"])
def test_placeholder_model_card_fields_count_as_missing(tmp_path: Path, placeholder: str) -> None:
    p = tmp_path / "m.yaml"
    p.write_text(
        yaml.safe_dump(
            {"name": "m", "version": "1", "owner": placeholder, "limitations": [placeholder], "licence": "MIT"}
        )
    )
    res = run_model_card(load_model_meta(p), ("owner", "limitations", "licence"))
    assert res.metrics["missing_required"] == ["owner", "limitations"]


def test_placeholder_data_card_fields_count_as_missing(tmp_path: Path) -> None:
    p = tmp_path / "d.yaml"
    p.write_text("name: d\nsource: TBD\nlicence: '-'\nconsent: ''\ndescription: real text\n")
    card = run_data_card(frame(), load_dataset_meta(p), data_file="d.csv", sha256="0" * 64).metrics
    assert {"source", "licence", "consent"} <= set(card["missing_fields"])
    assert "description" not in card["missing_fields"]
