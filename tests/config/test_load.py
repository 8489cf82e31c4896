from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmops_cli.config.load import load_settings, parse_yaml
from llmops_cli.config.model import Settings
from llmops_cli.errors import ConfigError, ExitCode


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "llmops.yaml"
    p.write_text(text)
    return p


def test_defaults_without_file_give_a_working_laptop_config() -> None:
    loaded = load_settings(None, environ={})
    s = loaded.settings
    assert loaded.file is None
    assert s.cluster.context_name == "llmops-llmops"
    assert set(s.environments) == {"dev", "prod"}
    assert s.gitops.local is True
    assert s.stacks.vllm.name == "qwen2-5-0-5b-instruct"
    assert all(src == "default" for src in loaded.sources.values())


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(Exception):
        s.cluster.name = "x"  # type: ignore[misc]


def test_precedence_flag_over_env_over_file_over_default(tmp_path: Path) -> None:
    p = write(tmp_path, "gpu:\n  mode: on\ncluster:\n  name: filename\n  tls_san: [a.example]\n")
    env = {"LLMOPS_GPU__MODE": "off", "LLMOPS_STACKS__VLLM__MAX_NUM_SEQS": "8"}
    loaded = load_settings(p, environ=env, flags={"cluster.name": "fromflag", "stacks.vllm.max_num_seqs": None})
    s = loaded.settings
    assert s.gpu.mode == "off"
    assert s.cluster.name == "fromflag"
    assert s.stacks.vllm.max_num_seqs == 8
    assert s.cluster.tls_san == ["a.example"]
    assert loaded.sources["gpu.mode"] == "env LLMOPS_GPU__MODE"
    assert loaded.sources["cluster.name"] == "flag"
    assert loaded.sources["cluster.tls_san"] == "file:5"
    assert loaded.sources["stacks.vllm.max_num_seqs"] == "env LLMOPS_STACKS__VLLM__MAX_NUM_SEQS"
    assert loaded.sources["stacks.vllm.model"] == "default"


def test_yaml11_on_off_are_gpu_modes(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, "gpu:\n  mode: off\n"), environ={}).settings.gpu.mode == "off"
    assert load_settings(write(tmp_path, "gpu:\n  mode: on\n"), environ={}).settings.gpu.mode == "on"


@pytest.mark.parametrize(
    ("text", "line", "col", "path", "fragment"),
    [
        ("cluster:\n  name: Bad_Name\n", 2, 9, "cluster.name", "DNS label"),
        (
            "cluster:\n  nmae: x\n",
            2,
            3,
            "cluster.nmae",
            "unknown key 'nmae' (did you mean 'name'?); known keys: disable",
        ),
        ("gpu:\n  share: lots\n", 2, 10, "gpu.share", "valid integer"),
        ("gpu:\n  share: 0\n", 2, 10, "gpu.share", "greater than or equal to 1"),
        ("stacks:\n  vllm:\n    gpu_memory_utilization: 1.5\n", 3, 29, "stacks.vllm.gpu_memory_utilization", "1"),
        (
            "stacks:\n  gateway:\n    busy_poll_ms: -5\n",
            3,
            19,
            "stacks.gateway.busy_poll_ms",
            "greater than or equal to 0",
        ),
        (
            "environments:\n  dev:\n    hosts:\n      - address: ok.example\n        port: 0\n",
            5,
            15,
            "environments.dev.hosts.0.port",
            "greater than or equal to 1",
        ),
    ],
)
def test_errors_name_file_line_column_and_dotted_path(
    tmp_path: Path, text: str, line: int, col: int, path: str, fragment: str
) -> None:
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(p, environ={})
    err = info.value
    assert err.exit_code == ExitCode.USAGE
    assert (err.line, err.column, err.path) == (line, col, path)
    msg = str(err)
    assert msg.startswith(f"{p}:{line}:{col}: {path}: ")
    assert fragment in msg
    assert "\n" not in msg


def test_yaml_syntax_error_has_position(tmp_path: Path) -> None:
    p = write(tmp_path, "cluster:\n  name: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_settings(p, environ={})
    assert info.value.line is not None
    assert str(info.value).startswith(f"{p}:")
    assert "invalid YAML" in str(info.value)


def test_duplicate_keys_are_rejected(tmp_path: Path) -> None:
    p = write(tmp_path, "gpu:\n  mode: on\n  mode: off\n")
    with pytest.raises(ConfigError) as info:
        load_settings(p, environ={})
    assert (info.value.line, info.value.path) == (3, "gpu.mode")
    assert "duplicate key" in str(info.value)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_settings(write(tmp_path, "- a\n- b\n"), environ={})


def test_empty_file_is_all_defaults(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, "# nothing\n"), environ={}).settings == Settings()


def test_env_error_names_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ={"LLMOPS_GPU__SHARE": "zero"})
    assert "LLMOPS_GPU__SHARE" in str(info.value)
    assert info.value.path == "gpu.share"


def test_unknown_env_path_is_an_error_but_other_llmops_vars_are_ignored() -> None:
    load_settings(None, environ={"LLMOPS_GIT_TOKEN": "secret", "LLMOPS_CONFIG": "x"})
    with pytest.raises(ConfigError, match="unknown key 'colour'"):
        load_settings(None, environ={"LLMOPS_GPU__COLOUR": "red"})


# Sections with named fields (`environments` is a mapping: any name under it is an environment).
_SECTIONS = sorted(n for n, f in Settings.model_fields.items() if hasattr(f.annotation, "model_fields"))


@settings(max_examples=150, deadline=None)
@given(
    section=st.sampled_from(_SECTIONS),
    at=st.integers(min_value=0, max_value=20),
    letter=st.sampled_from("abcdefghijklmnopqrstuvwxyz_"),
    which=st.sampled_from(["section", "field"]),
)
def test_a_misspelt_env_path_is_an_error_whichever_level_is_misspelt(
    section: str, at: int, letter: str, which: str
) -> None:
    """`LLMOPS_GPUU__MODE=off` was silently ignored while `LLMOPS_GPU__MOD=off` was an error: a misspelt level of
    an `__` path is now an unknown key wherever it is, naming the variable."""
    fields = Settings.model_fields[section].annotation
    field = sorted(fields.model_fields)[0]  # type: ignore[union-attr]
    word = section if which == "section" else field
    typo = word[: at % (len(word) + 1)] + letter + word[at % (len(word) + 1) :]
    parts = [typo, field] if which == "section" else [section, typo]
    if parts[0] in Settings.model_fields and (which == "section" or typo in fields.model_fields):  # type: ignore[union-attr]
        return  # the insertion spelt another real key
    var = "LLMOPS_" + "__".join(p.upper() for p in parts)
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ={var: "off"})
    # (a `_` next to the `__` shifts the split: `CLUSTER___DISABLE` is the unknown key `_disable`)
    assert "unknown key" in str(info.value) and var in str(info.value)


def test_an_env_name_with_single_underscores_that_reads_as_a_path_is_warned_about() -> None:
    loaded = load_settings(None, environ={"LLMOPS_GPU_MODE": "off", "LLMOPS_GPUU_SHARE": "2", "LLMOPS_GIT_TOKEN": "t"})
    assert loaded.settings == Settings()
    assert loaded.warnings == (
        "LLMOPS_GPUU_SHARE is not read (config paths separate levels with `__`); did you mean LLMOPS_GPU__SHARE?",
        "LLMOPS_GPU_MODE is not read (config paths separate levels with `__`); did you mean LLMOPS_GPU__MODE?",
    )


def test_the_cli_prints_the_warning_once(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.helpers import run_cli

    monkeypatch.setenv("LLMOPS_GPU_MODE", "off")
    r = run_cli("config", "validate")
    assert r.exit_code == 0, r.output
    assert r.stderr.count("warning: LLMOPS_GPU_MODE is not read") == 1 and "LLMOPS_GPU__MODE" in r.stderr


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.yaml", environ={})


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    p = write(tmp_path, "governance:\n  policies_dir: pol\n")
    loaded = load_settings(p, environ={})
    assert loaded.resolve(loaded.settings.governance.policies_dir) == tmp_path / "pol"


def test_parse_yaml_marks() -> None:
    data, values, keys = parse_yaml("a:\n  b: [1, 2]\n", "x.yaml")
    assert data == {"a": {"b": [1, 2]}}
    assert values[("a", "b", "1")].line == 2
    assert keys[("a", "b")].column == 3


def test_gpu_backend_conflict_is_reported() -> None:
    with pytest.raises(ConfigError, match="gpu.mode is 'off'"):
        load_settings(None, environ={"LLMOPS_GPU__MODE": "off", "LLMOPS_STACKS__VLLM__BACKEND": "gpu"})


@pytest.mark.parametrize("bad", ["x y", "a'b", 'a"b', "{x}", "a:b\nc"])
def test_values_that_could_change_rendered_structure_are_rejected(bad: str) -> None:
    with pytest.raises(ConfigError):
        load_settings(None, environ={}, flags={"stacks.vllm.model": bad})
