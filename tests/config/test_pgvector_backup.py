"""stacks.pgvector.backup: the object store, the credentials Secret's name, CNPG's six-field schedule, retention."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmops_cli.config.load import load_settings
from llmops_cli.config.model import Settings, check_cnpg_schedule
from llmops_cli.errors import ConfigError, ExitCode

GOOD = """stacks:
  pgvector:
    backup:
      enabled: true
      destination: s3://llmops-backups/prod
      endpoint_url: https://minio.example.com:9000
      credentials_secret: pgvector-s3
"""


def test_backups_are_off_by_default_and_need_nothing_then() -> None:
    b = Settings().stacks.pgvector.backup
    assert b.enabled is False and b.destination is None and b.credentials_secret is None
    assert (b.schedule, b.retention) == ("0 0 2 * * *", "30d")


def test_a_complete_backup_section_loads(tmp_path: Path) -> None:
    p = tmp_path / "llmops.yaml"
    p.write_text(GOOD + "      schedule: '0 30 1 * * sun'\n      retention: 4w\n")
    b = load_settings(p, environ={}).settings.stacks.pgvector.backup
    assert (b.destination, b.endpoint_url, b.credentials_secret) == (
        "s3://llmops-backups/prod",
        "https://minio.example.com:9000",
        "pgvector-s3",
    )
    assert (b.schedule, b.retention) == ("0 30 1 * * sun", "4w")


@pytest.mark.parametrize(
    ("extra", "line", "path", "fragment"),
    [
        # A Kubernetes CronJob's five fields would be read seconds-first by the operator: refused with the form.
        ("      schedule: '0 2 * * *'\n", 8, "stacks.pgvector.backup.schedule", "six, seconds first"),
        ("      schedule: '0 0 25 * * *'\n", 8, "stacks.pgvector.backup.schedule", "hours"),
        ("      schedule: '0 0 2 * * funday'\n", 8, "stacks.pgvector.backup.schedule", "day of week"),
        ("      schedule: '0 0 2/0 * * *'\n", 8, "stacks.pgvector.backup.schedule", "positive step"),
        ("      retention: 30 days\n", 8, "stacks.pgvector.backup.retention", "30d, 4w or 6m"),
        ("      retention: 0d\n", 8, "stacks.pgvector.backup.retention", "30d, 4w or 6m"),
    ],
)
def test_bad_values_name_the_file_line_and_field(
    tmp_path: Path, extra: str, line: int, path: str, fragment: str
) -> None:
    p = tmp_path / "llmops.yaml"
    p.write_text(GOOD + extra)
    with pytest.raises(ConfigError) as info:
        load_settings(p, environ={})
    err = info.value
    assert err.exit_code == ExitCode.USAGE
    assert (err.line, err.path) == (line, path)
    assert str(err).startswith(f"{p}:{line}:") and fragment in str(err) and "\n" not in str(err)


@pytest.mark.parametrize(
    ("replace", "by", "path", "fragment"),
    [
        ("s3://llmops-backups/prod", "https://bucket/x", "stacks.pgvector.backup.destination", "s3://"),
        ("s3://llmops-backups/prod", "s3://B/x", "stacks.pgvector.backup.destination", "s3://"),
        ("https://minio.example.com:9000", "minio:9000", "stacks.pgvector.backup.endpoint_url", "http(s) URL"),
        ("pgvector-s3", "Pgvector_S3", "stacks.pgvector.backup.credentials_secret", "DNS label"),
        (
            "      credentials_secret: pgvector-s3\n",
            "      credentials_secret: pgvector-s3\n      endpoint_ca_secret: my.ca\n",
            "stacks.pgvector.backup.endpoint_ca_secret",
            "DNS label",
        ),
        ("      credentials_secret: pgvector-s3\n", "", "stacks.pgvector.backup", "credentials_secret is not set"),
        ("      destination: s3://llmops-backups/prod\n", "", "stacks.pgvector.backup", "destination is not set"),
    ],
)
def test_bad_or_missing_store_settings_are_refused(
    tmp_path: Path, replace: str, by: str, path: str, fragment: str
) -> None:
    p = tmp_path / "llmops.yaml"
    p.write_text(GOOD.replace(replace, by))
    with pytest.raises(ConfigError) as info:
        load_settings(p, environ={})
    assert info.value.path == path and fragment in str(info.value), str(info.value)
    assert str(info.value).startswith(f"{p}:") and info.value.exit_code == ExitCode.USAGE


def test_credentials_never_go_in_the_file(tmp_path: Path) -> None:
    p = tmp_path / "llmops.yaml"
    p.write_text(GOOD + "      access_key_id: AKIAEXAMPLE\n")
    with pytest.raises(ConfigError, match="unknown key 'access_key_id'"):
        load_settings(p, environ={})


# robfig/cron v1.2.0 (what CloudNativePG v1.30.0 parses schedules with): bounds per field (spec.go), names for
# months and days of week, '*' or '?', ranges a-b, steps /n (n > 0), comma lists (parser.go getRange).
BOUNDS = [(0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 6)]
NAMES = [{}, {}, {}, {}, {"jan": 1, "jun": 6, "dec": 12}, {"sun": 0, "wed": 3, "sat": 6}]


@st.composite
def _item(draw: st.DrawFn, i: int, valid: bool) -> str:
    lo, hi = BOUNDS[i]
    names = ["name"] if NAMES[i] and valid else []
    kind = draw(st.sampled_from((["star"] if valid else []) + ["num", "range", "step", *names]))
    if kind == "star":
        return draw(st.sampled_from(["*", "?"])) + (f"/{draw(st.integers(1, 30))}" if draw(st.booleans()) else "")
    if kind == "name":
        return draw(st.sampled_from(sorted(NAMES[i])))
    outside = st.integers(hi + 1, hi + 50) | (st.just(lo - 1) if lo > 0 else st.nothing())
    a = draw(st.integers(lo, hi) if valid else outside)
    if kind == "num":
        return str(a)
    if kind == "step":
        return f"{a}/{draw(st.integers(1, 60))}"
    b = draw(st.integers(a, hi)) if valid else draw(st.integers(0, hi))
    return f"{a}-{b}"


@st.composite
def schedules(draw: st.DrawFn, bad_field: int | None = None) -> str:
    fields = []
    for i in range(6):
        items = draw(st.lists(_item(i, True), min_size=1, max_size=3))
        if i == bad_field:
            items.insert(draw(st.integers(0, len(items))), draw(_item(i, False)))
        fields.append(",".join(items))
    return " ".join(fields)


@given(schedules())
@settings(max_examples=150, deadline=None)
def test_every_schedule_cnpg_parses_is_accepted(schedule: str) -> None:
    assert check_cnpg_schedule(schedule) == schedule


@given(st.integers(0, 5).flatmap(lambda i: schedules(bad_field=i)))
@settings(max_examples=150, deadline=None)
def test_a_number_outside_its_fields_bounds_is_refused(schedule: str) -> None:
    with pytest.raises(ValueError, match="outside"):
        check_cnpg_schedule(schedule)


@given(st.lists(st.sampled_from(["*", "0", "5", "1-3"]), min_size=1, max_size=8).filter(lambda f: len(f) != 6))
@settings(max_examples=40, deadline=None)
def test_any_other_number_of_fields_is_refused(fields: list[str]) -> None:
    with pytest.raises(ValueError, match="six, seconds first"):
        check_cnpg_schedule(" ".join(fields))


@pytest.mark.parametrize(
    ("extra", "path", "fragment"),
    [
        ("      recovery: {target_time: '2026-12-07 09:59'}\n", "stacks.pgvector.backup.recovery.target_time", "zone"),
        (
            "      recovery: {target_time: '2026-02-30T00:00:00Z'}\n",
            "stacks.pgvector.backup.recovery.target_time",
            "real",
        ),
        ("      recovery: {server: Pg}\n", "stacks.pgvector.backup.recovery.server", "DNS label"),
        # Archiving into the folder it recovers from: the operator would refuse (not an empty archive).
        ("      recovery: {}\n", "stacks.pgvector.backup", "set server_name to a new one, e.g. pgvector-2"),
        ("      server_name: old\n      recovery: {server: old}\n", "stacks.pgvector.backup", "old-2"),
    ],
)
def test_bad_recovery_settings_are_refused(tmp_path: Path, extra: str, path: str, fragment: str) -> None:
    p = tmp_path / "llmops.yaml"
    p.write_text(GOOD + extra)
    with pytest.raises(ConfigError) as info:
        load_settings(p, environ={})
    assert info.value.path == path and fragment in str(info.value), str(info.value)
    assert str(info.value).startswith(f"{p}:") and "\n" not in str(info.value)


def test_recovery_needs_backups_enabled(tmp_path: Path) -> None:
    p = tmp_path / "llmops.yaml"
    p.write_text("stacks:\n  pgvector:\n    backup:\n      server_name: pgvector-2\n      recovery: {}\n")
    with pytest.raises(ConfigError, match="needs enabled: true") as info:
        load_settings(p, environ={})
    assert (info.value.line, info.value.path) == (4, "stacks.pgvector.backup")


def test_a_recovery_loads(tmp_path: Path) -> None:
    p = tmp_path / "llmops.yaml"
    p.write_text(GOOD + "      server_name: pgvector-2\n      recovery: {target_time: '2026-12-07 10:59:00+01:00'}\n")
    b = load_settings(p, environ={}).settings.stacks.pgvector.backup
    assert b.recovery is not None and (b.recovery.server, b.recovery.target_time, b.server_name) == (
        "pgvector",
        "2026-12-07 10:59:00+01:00",
        "pgvector-2",
    )
