from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmops_cli.config.load import load_settings
from llmops_cli.resources import policies_dir
from tests.helpers import fake_llmops_checkout, run_cli


def test_init_yes_writes_a_valid_config_and_policies(workdir: Path) -> None:
    r = run_cli("init", "--yes")
    assert r.exit_code == 0, r.output
    loaded = load_settings(workdir / "llmops.yaml", environ={})
    assert loaded.settings.gitops.local
    assert set(loaded.settings.environments) == {"dev", "prod"}
    assert (workdir / "policies").is_dir()
    assert run_cli("config", "validate").exit_code == 0


def test_second_init_without_force_exits_2_and_keeps_bytes(workdir: Path) -> None:
    assert run_cli("init", "--yes").exit_code == 0
    before = (workdir / "llmops.yaml").read_bytes()
    r = run_cli("init", "--yes", "--model", "org/other")
    assert r.exit_code == 2
    assert "already exists" in r.stderr and "--force" in r.stderr
    assert (workdir / "llmops.yaml").read_bytes() == before
    r2 = run_cli("init", "--yes", "--force", "--model", "org/other")
    assert r2.exit_code == 0, r2.output
    assert load_settings(workdir / "llmops.yaml", environ={}).settings.stacks.vllm.model == "org/other"


def test_flags_reach_the_file(workdir: Path) -> None:
    r = run_cli(
        "init",
        "--model",
        "Qwen/Qwen2.5-7B-Instruct",
        "--gpu",
        "on",
        "--gitops-repo",
        "https://git.example/acme/platform.git",
        "--env",
        "dev",
        "--env",
        "staging",
        "--cluster-name",
        "lab",
        "-o",
        "json",
    )
    assert r.exit_code == 0, r.output
    assert any(f.endswith("llmops.yaml") for f in json.loads(r.stdout)["data"]["written"])
    s = load_settings(workdir / "llmops.yaml", environ={}).settings
    assert s.stacks.vllm.model == "Qwen/Qwen2.5-7B-Instruct"
    assert s.gpu.mode == "on"
    assert s.gitops.repo_url == "https://git.example/acme/platform.git"
    assert list(s.environments) == ["dev", "staging"]
    assert s.environments["staging"].profile == "prod"
    assert s.cluster.name == "lab"


def test_off_survives_yaml11(workdir: Path) -> None:
    assert run_cli("init", "--yes", "--gpu", "off").exit_code == 0
    assert load_settings(workdir / "llmops.yaml", environ={}).settings.gpu.mode == "off"


@pytest.mark.parametrize("flag", ["--model", "--gpu", "--gitops-repo", "--env"])
def test_no_tty_and_missing_answer_names_the_flag(workdir: Path, flag: str) -> None:
    given = {
        "--model": ["--model", "org/m"],
        "--gpu": ["--gpu", "auto"],
        "--gitops-repo": ["--local-git"],
        "--env": ["--env", "dev"],
    }
    args = [a for f, v in given.items() if f != flag for a in v]
    r = run_cli("init", *args)
    assert r.exit_code == 2
    assert flag in r.stderr
    assert not (workdir / "llmops.yaml").exists()


def test_invalid_answer_names_the_flag_and_writes_nothing(workdir: Path) -> None:
    r = run_cli("init", "--yes", "--model", "not a model id")
    assert r.exit_code == 2
    assert "--model" in r.stderr and "stacks.vllm.model" in r.stderr
    assert not (workdir / "llmops.yaml").exists()


def test_existing_policy_files_are_kept(workdir: Path) -> None:
    from llmops_cli.resources import policies_dir

    shipped = sorted(p.name for p in policies_dir().iterdir() if p.is_file())
    assert shipped, "llmops ships starter policies"
    (workdir / "policies").mkdir()
    mine = workdir / "policies" / shipped[0]
    mine.write_text("# mine\n")
    r = run_cli("init", "--yes")
    assert r.exit_code == 0
    assert mine.read_text() == "# mine\n"
    assert "kept existing" in r.stderr


def test_atomic_write_mode_and_no_temp_left(tmp_path: Path) -> None:
    from llmops_cli.fsutil import atomic_write

    p = atomic_write(tmp_path / "a" / "secret", "x", mode=0o600)
    assert p.read_text() == "x"
    assert (p.stat().st_mode & 0o777) == 0o600
    assert [f.name for f in p.parent.iterdir()] == ["secret"]


def test_init_refuses_a_checkout_of_llmops_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in a clone, init would have kept the tracked policies/ as the project's and `keys create` then wrote a
    key hash into the policy that ships in the wheel."""
    clone = fake_llmops_checkout(tmp_path / "clone")
    before = {p: p.read_bytes() for p in clone.rglob("*") if p.is_file()}
    monkeypatch.chdir(clone)
    r = run_cli("init", "--yes")
    assert r.exit_code == 2
    assert "checkout of llmops itself" in r.stderr and "--dir" in r.stderr
    assert {p: p.read_bytes() for p in clone.rglob("*") if p.is_file()} == before


def test_readme_first_steps_put_the_key_in_the_users_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's `llmops init --yes --dir DIR`, then `keys create` in DIR: the project gets its own copy of the
    gateway policy, the key lands there, and the policy llmops ships is untouched."""
    shipped = policies_dir() / "gateway.yaml"
    shipped_before = shipped.read_bytes()
    clone = fake_llmops_checkout(tmp_path / "clone")
    monkeypatch.chdir(clone)
    project = tmp_path / "demo"
    assert run_cli("init", "--yes", "--dir", str(project)).exit_code == 0
    monkeypatch.chdir(project)
    r = run_cli("gateway", "keys", "create", "demo", "-o", "json")
    assert r.exit_code == 0, r.output
    assert Path(json.loads(r.stdout)["data"]["file"]).resolve() == (project / "policies" / "gateway.yaml").resolve()
    assert "demo" in (project / "policies" / "gateway.yaml").read_text()
    assert shipped.read_bytes() == shipped_before
    assert (clone / "policies" / "gateway.yaml").read_bytes() == shipped_before
