"""LocalHost's privilege handling against the real sudo, as a throwaway user the fixture creates and removes.

The user gets a password and a sudoers drop-in; LocalHost runs in a process of that user (setpriv), so sudo
asks for, caches and checks the password as it would on a laptop. Needs root and sudo (`.ci/system-deps.sh`
installs it); the fixture removes the user, its sudoers file and sudo's timestamps whatever happens.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sudouser import ALL, CAT_NOPASSWD, User
from tests.sudouser import make_user as _make_user

pytestmark = [
    pytest.mark.real_host,
    pytest.mark.skipif(os.geteuid() != 0, reason="creating a throwaway user needs root"),
    pytest.mark.skipif(shutil.which("sudo") is None, reason="sudo is not installed (.ci/system-deps.sh installs it)"),
    pytest.mark.skipif(shutil.which("useradd") is None or shutil.which("setpriv") is None, reason="no useradd/setpriv"),
]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sudo_user() -> Iterator[User]:
    yield from _make_user(ALL)


@pytest.fixture
def sudo_user_cat_nopasswd() -> Iterator[User]:
    yield from _make_user(CAT_NOPASSWD)


def _python_path() -> str:
    import plumbum

    return os.pathsep.join([str(REPO), str(Path(plumbum.__file__).resolve().parents[1])])


# Runs as the throwaway user: LocalHost with the password from the first line of stdin (what
# --sudo-password-stdin gives it), then each scripted command; prints the results as JSON.
DRIVER = textwrap.dedent(
    """
    import json, sys
    from llmops_cli.adapters.hosts import LocalHost, detect_sudo
    from llmops_cli.errors import LlmopsError
    password = sys.stdin.readline().rstrip("\\n")
    host = LocalHost(detect_sudo(lambda: password))
    out = {"mode": host.sudo.mode, "results": []}
    for argv, kw in json.loads(sys.argv[1]):
        try:
            r = host.run(argv, privileged=True, check=False, **kw)
            out["results"].append({"rc": r.returncode, "stdout": r.stdout})
        except LlmopsError as e:
            out["results"].append({"error": e.code, "message": e.message})
    print(json.dumps(out))
    """
)


def as_user(user: User, password: str, commands: list[tuple[list[str], dict]]) -> dict:
    for python in (sys.executable, "/usr/bin/python3"):
        probe = subprocess.run(
            ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--init-groups", python, "-c", "pass"],
            capture_output=True,
            check=False,
        )
        if probe.returncode == 0:
            break
    else:
        pytest.skip("no Python interpreter this user may run")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(user.home), "PYTHONPATH": _python_path()}
    setpriv = ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--init-groups"]
    r = subprocess.run(
        [*setpriv, python, "-c", DRIVER, json.dumps(commands)],
        input=password + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.splitlines()[-1])


def test_the_password_never_reaches_the_privileged_command(sudo_user: User) -> None:
    out = as_user(
        sudo_user,
        sudo_user.password,
        [
            (["id", "-u"], {}),
            (["cat"], {}),  # sudo has the credentials cached now: with `sudo -S` cat read the password
            (["cat"], {}),
            (["cat"], {"input": "data\n"}),
        ],
    )
    assert out["mode"] == "password"
    assert out["results"] == [
        {"rc": 0, "stdout": "0\n"},
        {"rc": 0, "stdout": ""},
        {"rc": 0, "stdout": ""},
        {"rc": 0, "stdout": "data\n"},
    ]


def test_a_command_sudoers_runs_without_a_password_never_sees_it(sudo_user_cat_nopasswd: User) -> None:
    user = sudo_user_cat_nopasswd
    out = as_user(user, user.password, [(["cat"], {}), (["id", "-u"], {})])
    assert out["mode"] == "password"  # `sudo -n true` needs one: only cat is NOPASSWD
    assert out["results"] == [{"rc": 0, "stdout": ""}, {"rc": 0, "stdout": "0\n"}]


def test_a_wrong_password_is_a_clear_error(sudo_user: User) -> None:
    out = as_user(sudo_user, "not-" + sudo_user.password, [(["id", "-u"], {})])
    assert out["results"] == [{"error": "sudo_password", "message": "sudo rejected the password"}]


def test_proxy_settings_reach_the_privileged_command(sudo_user: User) -> None:
    proxy = "http://someone:s3cret@proxy.invalid:3128"
    out = as_user(
        sudo_user,
        sudo_user.password,
        [
            (
                ["printenv", "HTTPS_PROXY", "CONTAINERD_NO_PROXY"],
                {"env": {"HTTPS_PROXY": proxy, "CONTAINERD_NO_PROXY": "10.0.0.0/8"}},
            )
        ],
    )
    # sudo's env_reset would drop both; the private env file brings them back for this command only.
    assert out["results"] == [{"rc": 0, "stdout": f"{proxy}\n10.0.0.0/8\n"}]


def test_the_fixture_leaves_no_user_behind() -> None:
    gen = _make_user(ALL)
    user = next(gen)
    assert pwd.getpwnam(user.name).pw_uid == user.uid and user.sudoers.exists()
    gen.close()  # runs the finally, as the fixture's teardown does
    with pytest.raises(KeyError):
        pwd.getpwnam(user.name)
    assert not user.sudoers.exists() and not user.home.exists()
