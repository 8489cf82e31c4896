"""Reading data as it comes (issue 21, wrong results 1, 7, 8, 9): blank cells, CSV vs Parquet, repeated column
names, quoted line breaks, `allowed:` with missing values, and the personal-data detectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmops_cli.errors import InputError
from llmops_cli.govern.io import read_table
from llmops_cli.govern.stages.bias import MISSING_GROUP, BiasConfig, prepare, scan
from llmops_cli.govern.stages.data_quality import ColumnSpec, DataQualityConfig, pii_kind, run_data_quality


def write_both(tmp_path: Path, df: pd.DataFrame) -> tuple[Path, Path]:
    csv, parquet = tmp_path / "d.csv", tmp_path / "d.parquet"
    df.to_csv(csv, index=False)
    df.to_parquet(parquet, index=False)
    return csv, parquet


def quality(df: pd.DataFrame, **kw) -> dict:
    return run_data_quality(df, DataQualityConfig(**kw)).metrics


def scored(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "sex": rng.choice(["female", "male"], size=n),
            "label": rng.integers(0, 2, size=n),
            "pred": rng.integers(0, 2, size=n),
        }
    )


def test_blank_text_cells_are_missing_and_form_the_missing_group(tmp_path: Path) -> None:
    df = scored(500)
    df.loc[df.index[:100], "sex"] = ""  # 20 % blanks, as a CSV export writes them
    csv, parquet = write_both(tmp_path, df)
    for path in (csv, parquet):  # the Parquet file holds "" where the CSV had nothing: the same rule
        frame = read_table(path)
        m = quality(frame)
        assert m["missing_ratio"]["sex"] == 0.2, path
        cfg = BiasConfig(label="label", prediction="pred", sensitive=("sex",), min_group_size=1)
        groups = scan(prepare(frame, cfg, source=str(path)), cfg)["sex"]["groups"]
        assert groups[MISSING_GROUP]["count"] == 100 and "" not in groups, path


def test_whitespace_only_cells_are_missing_too(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text('a,b\n1,"  "\n2,x\n3,\n', encoding="utf-8")
    assert read_table(p)["b"].isna().tolist() == [True, False, True]


text_cell = st.one_of(st.just(""), st.just("  "), st.text(alphabet='abc ,"\n', min_size=1, max_size=6))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cells=st.lists(text_cell, min_size=2, max_size=30), tmp=st.integers(0, 10**9))
def test_property_csv_and_parquet_give_the_same_data_quality(tmp_path: Path, cells: list[str], tmp: int) -> None:
    df = pd.DataFrame({"txt": cells, "n": range(len(cells))})
    d = tmp_path / str(tmp)
    d.mkdir(exist_ok=True)
    csv, parquet = write_both(d, df)
    a, b = quality(read_table(csv)), quality(read_table(parquet))
    for key in ("missing_cells", "missing_ratio", "duplicate_rows", "constant_columns"):
        assert a[key] == b[key], key


def test_integer_allowed_values_with_one_missing_value_flag_nothing(tmp_path: Path) -> None:
    df = pd.DataFrame({"approved": [0, 1] * 1000})
    df.loc[7, "approved"] = None  # the column is now read as float: 0.0, 1.0, NaN
    csv = tmp_path / "d.csv"
    df.to_csv(csv, index=False)
    schema = {"approved": ColumnSpec(type="integer", allowed=(0, 1))}
    m = quality(read_table(csv), schema=schema)
    assert m["out_of_range"]["approved"] == 0  # was 1,999 of 2,000
    assert m["missing_cells"] == 1 and m["schema_violations"] == []
    df.loc[9, "approved"] = 2
    assert quality(df, schema=schema)["out_of_range"]["approved"] == 1


def test_repeated_column_names_are_read_and_reported(tmp_path: Path) -> None:
    """The raw COMPAS export has two decile_score and two priors_count columns."""
    p = tmp_path / "compas.csv"
    p.write_text("id,decile_score,priors_count,decile_score,priors_count\n1,3,0,3,0\n2,9,4,9,4\n", encoding="utf-8")
    df = read_table(p)
    assert list(df.columns) == ["id", "decile_score", "priors_count", "decile_score.1", "priors_count.1"]
    m = quality(df)
    assert m["duplicate_column_names"] == {
        "decile_score": ["decile_score", "decile_score.1"],
        "priors_count": ["priors_count", "priors_count.1"],
    }
    assert m["duplicate_column_count"] == 2
    with pytest.raises(InputError) as e:
        read_table(p, ["decile_score"])
    assert "'decile_score' appears 2 times" in str(e.value) and "'decile_score.1'" in str(e.value)
    assert read_table(p, ["decile_score.1"])["decile_score.1"].tolist() == [3, 9]


def test_mangled_names_do_not_collide_with_real_ones(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text("a,a.1,a\n1,2,3\n", encoding="utf-8")
    assert list(read_table(p).columns) == ["a", "a.1", "a.2"]


def test_large_csv_with_quoted_line_breaks_is_read(tmp_path: Path) -> None:
    p = tmp_path / "notes.csv"
    rows = "".join(f'{i},"first line\nsecond line {i}",{i % 2}\n' for i in range(120_000))
    p.write_text("id,note,label\n" + rows, encoding="utf-8")
    assert p.stat().st_size > 4 * 2**20  # beyond pyarrow's 1 MiB parallel blocks
    df = read_table(p)
    assert len(df) == 120_000 and df["note"].iloc[-1] == "first line\nsecond line 119999"


# ----------------------------------------------------------------------------------------- personal data
@pytest.mark.parametrize(
    ("column", "values", "kind"),
    [
        ("dob", ["1947-04-18", "1982-01-22", "1991-05-14"], "date_of_birth"),  # was "phone"
        ("DateOfBirth", ["18/04/1947", "22/01/1982"], "date_of_birth"),
        ("screening_date", ["2013-08-14", "2013-01-27"], None),  # a date, but not a birth date
        ("c_jail_in", ["2013-08-13 06:03:42", "2013-01-26 03:45:27"], None),
        ("name", ["miguel hernandez", "kevon dixon", "ed philo"], "name"),  # lower case, was missed
        ("first", ["miguel", "kevon", "ed", "marcu"], "name"),
        ("last", ["hernandez", "dixon", "philo", "brown"], "name"),
        ("age_cat", ["25 - 45", "Less than 25", "Greater than 45", "25 - 45"], None),  # was "phone"
        ("race", ["African-American", "Caucasian", "African-American", "Other"] * 5, None),
        ("telephone", ["A191", "A192", "A191"], None),  # German credit: a code, not a number
        ("tel", ["+44 20 7946 0958", "(555) 123-4567"], "phone"),
    ],
)
def test_personal_data_detectors(column: str, values: list[str], kind: str | None) -> None:
    assert pii_kind(pd.Series(values, dtype=object), column) == kind
