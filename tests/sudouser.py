"""A throwaway user with a password and a sudoers drop-in, for tests that run the real sudo (locally or over
SSH in a network-namespace VM). Needs root; removes the user, its sudoers file, home and sudo's timestamps
whatever happens."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Every rule set gives the user a password-protected sudo; one of them also lets `cat` run without a password,
# the case where sudo never reads the password at all. passwd_tries=1 keeps a wrong password quick.
ALL = "Defaults:{user} passwd_tries=1\n{user} ALL=(ALL:ALL) ALL\n"
CAT_NOPASSWD = ALL + "{user} ALL=(ALL:ALL) NOPASSWD: /usr/bin/cat\n"
NOPASSWD = "{user} ALL=(ALL:ALL) NOPASSWD: ALL\n"


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    password: str
    home: Path
    sudoers: Path


def _run(*argv: str, input: str | None = None) -> None:
    subprocess.run(list(argv), input=input, text=True, check=True, capture_output=True, timeout=60)


def make_user(rules: str) -> Iterator[User]:
    name = f"llmt{os.getpid() % 100000}{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(12)
    home = Path(tempfile.mkdtemp(prefix=f"{name}-home-", dir="/tmp"))
    sudoers = Path(f"/etc/sudoers.d/llmops-test-{name}")  # no '.' in the name: sudo would skip the file
    created = False
    try:
        _run("useradd", "--no-create-home", "--home-dir", str(home), "--shell", "/bin/sh", name)
        created = True
        _run("chpasswd", input=f"{name}:{password}\n")
        info = pwd.getpwnam(name)
        os.chown(home, info.pw_uid, info.pw_gid)
        text = rules.format(user=name)
        fd, tmp = tempfile.mkstemp(dir="/etc/sudoers.d", prefix=".llmops-test-")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o440)
        _run("visudo", "-cf", tmp)
        os.replace(tmp, sudoers)
        yield User(name, info.pw_uid, info.pw_gid, password, home, sudoers)
    finally:
        sudoers.unlink(missing_ok=True)
        for leftover in Path("/etc/sudoers.d").glob(".llmops-test-*"):
            leftover.unlink(missing_ok=True)
        if created:
            subprocess.run(["userdel", name], capture_output=True, check=False, timeout=60)
        for ts in (Path("/run/sudo/ts") / name, Path("/var/lib/sudo/lectured") / name):
            if ts.is_dir():
                shutil.rmtree(ts, ignore_errors=True)
            else:
                ts.unlink(missing_ok=True)
        shutil.rmtree(home, ignore_errors=True)
