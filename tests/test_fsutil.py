"""fsutil.atomic_write: all-or-nothing writes that keep symlinks (and so what a running reader resolved)."""

from __future__ import annotations

import os
from pathlib import Path

from llmops_cli.fsutil import atomic_write


def test_atomic_write_mode_and_no_temp_left(tmp_path: Path) -> None:
    p = atomic_write(tmp_path / "a" / "secret", "x", mode=0o600)
    assert p == tmp_path / "a" / "secret"
    assert p.read_text() == "x"
    assert (p.stat().st_mode & 0o777) == 0o600
    assert [f.name for f in p.parent.iterdir()] == ["secret"]


def test_atomic_write_replaces_the_file_in_one_step(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"old")
    reader = p.open("rb")  # a reader that opened the old file keeps seeing it whole
    atomic_write(p, b"new\r\n")
    assert reader.read() == b"old"
    reader.close()
    assert p.read_bytes() == b"new\r\n"  # bytes are written as given (no newline translation)


def test_atomic_write_through_a_symlink_keeps_the_link(tmp_path: Path) -> None:
    real = tmp_path / "real" / "conf.yaml"
    real.parent.mkdir()
    real.write_text("old\n")
    link = tmp_path / "conf.yaml"
    link.symlink_to(Path("real") / "conf.yaml")  # relative, as `ln -s` makes them
    ret = atomic_write(link, "new\n", mode=0o600)
    assert ret == link
    assert link.is_symlink() and os.readlink(link) == os.path.join("real", "conf.yaml")
    assert real.read_text() == "new\n"
    assert real.stat().st_mode & 0o777 == 0o600
    # the temp file lived next to the target (same file system, so the rename is atomic) and is gone
    assert [f.name for f in real.parent.iterdir()] == ["conf.yaml"]
    assert sorted(f.name for f in tmp_path.iterdir()) == ["conf.yaml", "real"]


def test_atomic_write_through_a_chain_of_links_and_a_linked_directory(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    real = tmp_path / "store" / "f"
    real.write_text("old")
    (tmp_path / "dirlink").symlink_to(tmp_path / "store")
    (tmp_path / "l2").symlink_to(tmp_path / "dirlink" / "f")
    (tmp_path / "l1").symlink_to(tmp_path / "l2")
    atomic_write(tmp_path / "l1", "new")
    assert (tmp_path / "l1").is_symlink() and (tmp_path / "l2").is_symlink()
    assert real.read_text() == "new" and not real.is_symlink()


def test_atomic_write_to_a_dangling_link_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "l"
    link.symlink_to(tmp_path / "sub" / "target")
    atomic_write(link, "x")
    assert link.is_symlink() and (tmp_path / "sub" / "target").read_text() == "x"


def test_atomic_write_keeps_the_owner_of_a_replaced_file(tmp_path: Path) -> None:
    import pytest

    if os.geteuid() != 0:
        pytest.skip("needs root to give the file away")
    p = tmp_path / "policy.yaml"
    p.write_text("old")
    os.chown(p, 65534, 65534)
    atomic_write(p, "new", mode=0o600)
    st = p.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (65534, 65534, 0o600)
    fresh = atomic_write(tmp_path / "fresh", "x")
    assert fresh.stat().st_uid == 0
