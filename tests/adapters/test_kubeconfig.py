"""kubeconfig merge: collisions, stale entries, permissions, concurrent writers, multi-file KUBECONFIG."""

from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path

import pytest
import yaml

from llmops_cli.adapters import kubeconfig as kc
from llmops_cli.errors import ConfigError

K3S_YAML = """apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: {ca}
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {{}}
users:
- name: default
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
"""


def k3s_yaml(tag: str) -> str:
    return K3S_YAML.format(ca=f"CA-{tag}", cert=f"CERT-{tag}", key=f"KEY-{tag}")


def load(p: Path) -> dict:
    return yaml.safe_load(p.read_text())


def names(data: dict, key: str) -> list[str]:
    return [e["name"] for e in data[key]]


USER_CONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "work", "cluster": {"server": "https://work.example:6443"}}],
    "users": [{"name": "me", "user": {"token": "abc"}}],
    "contexts": [{"name": "work", "context": {"cluster": "work", "user": "me"}}],
    "current-context": "work",
}


def env_for(*paths: Path) -> dict[str, str]:
    return {"KUBECONFIG": os.pathsep.join(map(str, paths)), "HOME": str(paths[0].parent)}


def test_entry_from_k3s_renames_every_entry() -> None:
    e = kc.entry_from_k3s(k3s_yaml("a"), "llmops-dev")
    assert names(e, "clusters") == names(e, "users") == names(e, "contexts") == ["llmops-dev"]
    assert e["contexts"][0]["context"] == {"cluster": "llmops-dev", "user": "llmops-dev"}
    assert e["users"][0]["user"]["client-key-data"] == "KEY-a"


def test_entry_from_k3s_can_point_at_a_remote_server() -> None:
    e = kc.entry_from_k3s(k3s_yaml("a"), "llmops-prod", server="https://10.200.0.2:6443")
    assert e["clusters"][0]["cluster"]["server"] == "https://10.200.0.2:6443"


def test_merge_into_missing_file_creates_it_0600(tmp_path: Path) -> None:
    cfg = tmp_path / ".kube" / "config"
    written = kc.merge_context(kc.entry_from_k3s(k3s_yaml("a"), "llmops-dev"), environ=env_for(cfg))
    assert written == cfg
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    data = load(cfg)
    assert data["current-context"] == "llmops-dev"  # nothing to preserve in a new file


def test_merge_keeps_other_entries_and_current_context(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    cfg.write_text(yaml.safe_dump(USER_CONFIG))
    cfg.chmod(0o644)
    kc.merge_context(kc.entry_from_k3s(k3s_yaml("a"), "llmops-dev"), environ=env_for(cfg))
    data = load(cfg)
    assert names(data, "contexts") == ["work", "llmops-dev"]
    assert data["current-context"] == "work"
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600  # tightened: it holds a client key


def test_switch_context_only_when_asked(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    cfg.write_text(yaml.safe_dump(USER_CONFIG))
    kc.merge_context(kc.entry_from_k3s(k3s_yaml("a"), "llmops-dev"), switch=True, environ=env_for(cfg))
    assert load(cfg)["current-context"] == "llmops-dev"


def test_remerge_replaces_stale_certificates_without_duplicates(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    cfg.write_text(yaml.safe_dump(USER_CONFIG))
    env = env_for(cfg)
    kc.merge_context(kc.entry_from_k3s(k3s_yaml("old"), "llmops-dev"), environ=env)
    kc.merge_context(kc.entry_from_k3s(k3s_yaml("new"), "llmops-dev"), environ=env)
    data = load(cfg)
    assert names(data, "clusters").count("llmops-dev") == 1
    assert names(data, "users").count("llmops-dev") == 1
    text = cfg.read_text()
    assert "CERT-old" not in text and "KEY-old" not in text and "CERT-new" in text


def test_collision_with_a_foreign_entry_of_the_same_name_is_replaced(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    foreign = dict(USER_CONFIG)
    foreign["users"] = [*USER_CONFIG["users"], {"name": "llmops-dev", "user": {"token": "stale"}}]
    cfg.write_text(yaml.safe_dump(foreign))
    kc.merge_context(kc.entry_from_k3s(k3s_yaml("a"), "llmops-dev"), environ=env_for(cfg))
    data = load(cfg)
    users = [u for u in data["users"] if u["name"] == "llmops-dev"]
    assert len(users) == 1 and "token" not in users[0]["user"]


def test_several_files_update_where_the_entry_lives(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(yaml.safe_dump(USER_CONFIG))
    kc.merge_context(kc.entry_from_k3s(k3s_yaml("old"), "llmops-dev"), environ=env_for(second))
    env = env_for(first, second)
    written = kc.merge_context(kc.entry_from_k3s(k3s_yaml("new"), "llmops-dev"), environ=env)
    assert written == second
    assert "llmops-dev" not in names(load(first), "contexts")
    assert "CERT-new" in second.read_text()
    found = kc.find_context("llmops-dev", env)
    assert found is not None and found["users"][0]["user"]["client-certificate-data"] == "CERT-new"


def test_several_files_new_entry_goes_to_the_first_that_exists(tmp_path: Path) -> None:
    # client-go GetDefaultFilename: with several KUBECONFIG files, a new entry goes to the first that exists.
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    second.write_text(yaml.safe_dump(USER_CONFIG))
    written = kc.merge_context(kc.entry_from_k3s(k3s_yaml("a"), "llmops-dev"), environ=env_for(first, second))
    assert written == second and not first.exists()
    assert names(load(second), "contexts") == ["work", "llmops-dev"]


def test_several_files_none_existing_new_entry_goes_to_the_last(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    written = kc.merge_context(kc.entry_from_k3s(k3s_yaml("a"), "llmops-dev"), environ=env_for(first, second))
    assert written == second and not first.exists()


def test_duplicate_in_a_later_file_is_removed(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    for p in (first, second):
        kc.merge_context(kc.entry_from_k3s(k3s_yaml(p.stem), "llmops-dev"), environ=env_for(p))
    kc.merge_context(kc.entry_from_k3s(k3s_yaml("new"), "llmops-dev"), environ=env_for(first, second))
    assert "CERT-new" in first.read_text()
    shadowed = load(second)
    assert names(shadowed, "clusters") == names(shadowed, "users") == names(shadowed, "contexts") == []


def test_remove_context_from_every_file(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(yaml.safe_dump(USER_CONFIG))
    kc.merge_context(kc.entry_from_k3s(k3s_yaml("a"), "llmops-dev"), switch=True, environ=env_for(second))
    changed = kc.remove_context("llmops-dev", environ=env_for(first, second))
    assert changed == [second]
    data = load(second)
    assert data["clusters"] == data["users"] == data["contexts"] == []
    assert data["current-context"] == ""
    assert names(load(first), "contexts") == ["work"]
    assert first.read_text() == yaml.safe_dump(USER_CONFIG)  # a file without the entry is not rewritten


def test_same_credentials() -> None:
    a = kc.entry_from_k3s(k3s_yaml("a"), "x")
    assert kc.same_credentials(a, kc.entry_from_k3s(k3s_yaml("a"), "x"))
    assert not kc.same_credentials(a, kc.entry_from_k3s(k3s_yaml("b"), "x"))
    assert not kc.same_credentials(a, None)


def test_broken_kubeconfig_names_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    cfg.write_text("clusters: [unclosed\n")
    with pytest.raises(ConfigError, match=str(cfg)):
        kc.merge_context(kc.entry_from_k3s(k3s_yaml("a"), "llmops-dev"), environ=env_for(cfg))
    assert cfg.read_text() == "clusters: [unclosed\n"  # never overwritten


def test_default_path_is_home_kube_config(tmp_path: Path) -> None:
    assert kc.kubeconfig_paths({"HOME": str(tmp_path)}) == [tmp_path / ".kube" / "config"]


def test_a_foreign_lock_is_waited_for_then_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "config"
    lock = tmp_path / "config.lock"
    lock.touch()  # what kubectl (or a crashed one) leaves: client-go's lock is the file's existence
    monkeypatch.setattr(kc, "LOCK_TIMEOUT_S", 0.2)
    with pytest.raises(kc.KubeconfigError, match="config stayed locked") as e:
        kc.merge_context(kc.entry_from_k3s(k3s_yaml("a"), "llmops-x"), environ=env_for(cfg))
    assert str(lock) in (e.value.hint or "") and lock.exists()  # not ours: never removed
    assert not cfg.exists()


def test_the_lock_is_taken_on_every_file_sorted_and_released(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    b, a = tmp_path / "b.yaml", tmp_path / "a.yaml"
    seen: list[list[str]] = []
    real = kc._write

    def spy(path: Path, data: dict) -> None:
        seen.append(sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".lock")))
        real(path, data)

    monkeypatch.setattr(kc, "_write", spy)
    monkeypatch.setattr(kc, "MIN_HOLD_S", 0.0)
    kc.merge_context(kc.entry_from_k3s(k3s_yaml("a"), "llmops-x"), environ=env_for(b, a))
    assert seen == [["a.yaml.lock", "b.yaml.lock"]]
    assert not list(tmp_path.glob("*.lock"))


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_no_lock_is_left_when_a_write_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    cfg = tmp_path / "config"

    def boom(path: Path, data: dict) -> None:
        raise error

    monkeypatch.setattr(kc, "_write", boom)
    with pytest.raises(type(error)):
        kc.merge_context(kc.entry_from_k3s(k3s_yaml("a"), "llmops-x"), environ=env_for(cfg))
    assert not list(tmp_path.glob("*.lock"))


def test_no_lock_is_left_when_a_file_is_broken(tmp_path: Path) -> None:
    good, bad = tmp_path / "a", tmp_path / "b"
    bad.write_text("clusters: [unclosed\n")
    with pytest.raises(ConfigError):
        kc.merge_context(kc.entry_from_k3s(k3s_yaml("a"), "llmops-x"), environ=env_for(good, bad))
    assert not list(tmp_path.glob("*.lock"))


def _merge_in_child(cfg: Path, name: str, timeout: float) -> None:
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child_merge, args=(str(cfg), name, timeout, q))
    p.start()
    p.join(30)
    err = q.get(timeout=5)
    if err:
        raise kc.KubeconfigError(err)


def _child_merge(cfg: str, name: str, timeout: float, q) -> None:  # type: ignore[no-untyped-def]
    kc.LOCK_TIMEOUT_S = timeout
    try:
        kc.merge_context(kc.entry_from_k3s(k3s_yaml(name), f"llmops-{name}"), environ={"KUBECONFIG": cfg, "HOME": "/"})
        q.put("")
    except kc.KubeconfigError as e:
        q.put(e.message)


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    cfg.write_text(yaml.safe_dump(USER_CONFIG))
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_child_merge, args=(str(cfg), f"c{i}", 30.0, q)) for i in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(q.get(timeout=5) == "" for _ in procs)
    data = load(cfg)
    assert sorted(names(data, "contexts")) == sorted(["work"] + [f"llmops-c{i}" for i in range(8)])
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
