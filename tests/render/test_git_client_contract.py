"""The local push Job against the pinned alpine/git image (tests/render/upstream/tables.py GIT_CLIENT).

The image's entrypoint is `git` and it has no USER: the Job must replace the entrypoint with a shell and run as
a user the image knows. Every program the push script runs must be on the image's PATH (git and ssh from its
packages, the shell and the rest from busybox), with options those programs take; the ssh command git runs
takes only ssh's flags and keywords; every path the script writes is a volume (the root filesystem is
read-only). Live: the Job's pod as near as this machine gets (busybox's sh, tar and find, git and ssh, the Job's
user, volumes and environment, a read-only root) pushes to an sshd that behaves as Soft Serve does.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import socket
import subprocess
import time
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from llmops_cli import versions
from llmops_cli.cluster.model import PlanInputs
from llmops_cli.cluster.steps import gitops
from llmops_cli.config.model import Settings
from tests.cluster.conftest import make_inputs
from tests.realparts import free_port

from .tools import require_tool
from .upstream.model import Release
from .upstream.rendered import release

_SEPARATORS = re.compile(r"\s*(?:&&|\|\||;)\s*")
_KEYWORDS = ("if", "then", "else", "fi", "while", "do", "done")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")  # `i=1`, `i=$((i + 1))`: no program runs


def _image() -> Release:
    return release("git client image")


def script_commands(script: str) -> tuple[list[list[str]], set[str]]:
    """(simple commands as word lists, shell keywords; ``=`` for an assignment) of a POSIX sh script without pipes
    or command substitutions."""
    commands, keywords = [], set()
    for line in script.splitlines():
        for part in _SEPARATORS.split(line.strip()):
            words = shlex.split(part)
            while words and words[0] in _KEYWORDS:
                keywords.add(words.pop(0))
            if words and _ASSIGNMENT.match(words[0]):
                keywords.add("=")  # a variable assignment (with arithmetic expansion): the shell's own
                continue
            if words:
                commands.append(words)
    return commands, keywords


def short_flags(word: str) -> list[str]:
    """``-xzf`` -> ``-x -z -f``; a long or single flag stays as it is."""
    if re.fullmatch(r"-[A-Za-z]{2,}", word):
        return [f"-{c}" for c in word[1:]]
    return [word]


def git_usage(words: list[str]) -> set[str]:
    """``git [-c k=v]... <sub> [opts]`` -> {"-c", "<sub> <opt>"...} (or {"<sub>"} with no options)."""
    rest, used = words[1:], set()
    while rest and rest[0] == "-c":
        used.add("-c")
        rest = rest[2:]
    sub, opts = rest[0], [w for w in rest[1:] if w.startswith("-")]
    return used | ({f"{sub} {o}" for o in opts} or {sub})


def find_usage(words: list[str]) -> tuple[set[str], list[str]]:
    """(primaries before -exec, the -exec command) of a find command line."""
    i = words.index("-exec")
    end = next(j for j in range(i + 1, len(words)) if words[j] in ("+", ";"))
    primaries = {w for w in words[1:i] if w.startswith("-") or w == "!"} | {"-exec"}
    return primaries, words[i + 1 : end]


def _job() -> dict[str, Any]:
    inputs: PlanInputs = make_inputs()
    assert inputs.git_client_image == versions.GIT_CLIENT_IMAGE  # the plan's default is the pin
    _, job = gitops.seed_objects(Settings(), inputs)
    return job


def test_the_git_client_pin_is_the_table_release():
    image = _image()
    assert versions.GIT_CLIENT_IMAGE == f"docker.io/alpine/git:{image.version}"
    pin = next(p for p in versions.RELEASES if p.value == versions.GIT_CLIENT_IMAGE)
    assert pin.repo == image.repo and pin.tag.startswith(image.version)


def test_the_push_job_replaces_the_git_entrypoint_and_runs_as_a_user_the_image_has():
    image = _image()
    pod = _job()["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["image"] == versions.GIT_CLIENT_IMAGE
    # The image's entrypoint is git: without `command` the script would be handed to git as its arguments.
    assert image.names("image_entrypoint") == {"git"} and "command" in c
    assert PurePosixPath(c["command"][0]).name in image.names("programs") and c["command"][1] == "-c"
    # The image runs as root unless told otherwise; ssh needs a passwd entry for the uid it runs as.
    sc = pod["securityContext"]
    assert image.names("image_user") == {"0"} and sc["runAsNonRoot"] is True
    assert str(sc["runAsUser"]) in image.names("passwd_uids") - {"0"}


def test_every_program_and_option_the_push_script_uses_is_in_the_pinned_image():
    image = _image()
    script = _job()["spec"]["template"]["spec"]["containers"][0]["command"][2]
    assert script == gitops.SEED_SCRIPT
    commands, keywords = script_commands(script)
    builtins, programs = image.names("shell_builtins"), image.names("programs")
    assert keywords <= builtins
    seen = set()
    for words in commands:
        prog = words[0]
        seen.add(prog)
        assert prog in programs | builtins, f"{prog} is not in {image.repo} {image.version}"
        if prog == "git":
            assert git_usage(words) <= image.names("git_usage"), git_usage(words) - image.names("git_usage")
        elif prog == "tar":
            flags = {f for w in words[1:] if w.startswith("-") for f in short_flags(w)}
            assert flags <= image.names("tar_options"), flags
        elif prog == "find":
            primaries, exec_cmd = find_usage(words)
            assert primaries <= image.names("find_primaries"), primaries
            assert exec_cmd[0] in programs
            flags = {f for w in exec_cmd[1:] if w.startswith("-") for f in short_flags(w)}
            assert flags <= image.names(f"{exec_cmd[0]}_options"), flags
    assert {"git", "tar", "find"} <= seen  # the parse sees the script's work


def test_the_ssh_command_and_environment_are_what_git_and_ssh_read():
    image = _image()
    (c,) = _job()["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in c["env"]}
    # Every variable is read by git (GIT_SSH_COMMAND, HOME) or by the script itself ($NAME).
    script_vars = set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", gitops.SEED_SCRIPT))
    assert set(env) <= image.names("git_env") | script_vars, set(env) - image.names("git_env") - script_vars
    ssh = shlex.split(env["GIT_SSH_COMMAND"])
    assert ssh[0] in image.names("programs")
    flags = [w for w in ssh[1:] if w.startswith("-")]
    assert set(flags) <= image.names("ssh_flags")
    keywords = {ssh[i + 1].split("=", 1)[0] for i, w in enumerate(ssh) if w == "-o"}
    assert keywords <= image.names("ssh_options") and "StrictHostKeyChecking" in keywords


def test_every_path_the_push_script_writes_is_a_volume():
    pod = _job()["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    env = {e["name"]: e["value"] for e in c["env"]}
    commands, _ = script_commands(gitops.SEED_SCRIPT)
    # Where it writes: the directory it works in (cd), cp's target, and HOME (git and ssh write there).
    cd = [w[1] for w in commands if w[0] == "cd" and w[1].startswith("/")]
    copies = [str(PurePosixPath(w[-1]).parent) for w in commands if w[0] == "cp"]
    for path in {*cd, *copies, env["HOME"]}:
        mount = mounts[path]
        assert not mount.get("readOnly") and "emptyDir" in volumes[mount["name"]], path


# ----------------------------------------------------------------------------------------------- live
# The Job's container, as near as this machine gets: a read-only root holding only /usr, /etc and /dev; the
# Job's volumes at their mount paths; the image's busybox applets for the shell and the file tools, git and
# ssh beside them; the Job's uid, gid and fsGroup; the Job's environment. The Git server is an sshd on
# loopback in front of a bare repository (Soft Serve speaks the same git-over-SSH).
_CHROOT = r"""set -eu
r=$1; bb=$2; shift 2
mount --bind "$r" "$r"
for d in usr etc; do mount --bind "/$d" "$r/$d"; mount -o remount,bind,ro "$r/$d"; done
mount --rbind /dev "$r/dev"
mount --bind "$bb" "$r/bbin"
for v in "$@"; do mount --bind "${v%%=*}" "$r${v#*=}"; done
mount -o remount,bind,ro "$r"
exec chroot "$r" /usr/bin/env -i PATH=/bbin:/usr/bin /bbin/sh -c "$JOB_SCRIPT"
"""
BUSYBOX_APPLETS = ("sh", "tar", "find", "cp", "chmod", "mkdir", "rm")


def _applets(tmp: Path) -> Path:
    busybox = require_tool("busybox")
    bb = tmp / "bbin"
    bb.mkdir()
    for name in BUSYBOX_APPLETS:
        (bb / name).symlink_to(busybox)
    return bb


# What Soft Serve v0.12.2 does around git's own services (pkg/ssh/cmd/git.go): receive-pack creates a missing
# repository first; upload-pack of a missing one fails (ErrInvalidRepo); after a push, a repository whose HEAD
# names no branch gets HEAD = main, else master, else its first branch (pkg/git/git.go EnsureDefaultBranch).
_SOFT_SERVE = r"""set -eu
eval "set -- $SSH_ORIGINAL_COMMAND"
service=$1; repo=$2
case $service in
  git-receive-pack) [ -d "$repo" ] || git init -q --bare "$repo"
    git-receive-pack "$repo"
    cd "$repo"
    git rev-parse -q --verify HEAD >/dev/null && exit 0
    for b in main master $(git for-each-ref --format='%(refname:short)' refs/heads); do
      if git rev-parse -q --verify "refs/heads/$b" >/dev/null; then exec git symbolic-ref HEAD "refs/heads/$b"; fi
    done ;;
  git-upload-pack) [ -d "$repo" ] || { echo "repository not found" >&2; exit 1; }
    exec git-upload-pack "$repo" ;;
  *) exit 1 ;;
esac
"""


class _GitServer:
    """sshd on 127.0.0.1 (a free port) with one authorised key, behaving as Soft Serve does for git over SSH."""

    def __init__(self, tmp: Path) -> None:
        sshd = require_tool("/usr/sbin/sshd")
        self.dir = tmp
        tmp.mkdir()
        for key in ("host", "client"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / key)], check=True)
        (tmp / "authorized_keys").write_text((tmp / "client.pub").read_text())
        (tmp / "authorized_keys").chmod(0o600)
        self.port = free_port()
        (tmp / "softserve.sh").write_text(_SOFT_SERVE)
        (tmp / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {tmp}/host\nPidFile {tmp}/sshd.pid\n"
            f"AuthorizedKeysFile {tmp}/authorized_keys\nPermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
            f"ForceCommand /bin/sh {tmp}/softserve.sh\n"
        )
        Path("/run/sshd").mkdir(exist_ok=True)
        self.proc = subprocess.Popen([sshd, "-D", "-f", str(tmp / "sshd_config"), "-E", str(tmp / "sshd.log")])
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(4) == b"SSH-":
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline and self.proc.poll() is None, (tmp / "sshd.log").read_text()
            time.sleep(0.05)
        self.repo = tmp / "llmops.git"  # created by the first push

    @property
    def url(self) -> str:
        return f"ssh://root@127.0.0.1:{self.port}{self.repo}"

    def known_hosts(self) -> str:
        kind, key = (self.dir / "host.pub").read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {kind} {key}\n"

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(self.repo), *args], check=True, capture_output=True, text=True
        ).stdout.strip()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def run_push_job(tmp: Path, job: dict[str, Any], configmaps: list[dict[str, Any]], server: _GitServer, bb: Path) -> str:
    """One run of the Job's pod: fresh emptyDirs, the ConfigMaps (a projected volume of them) and the key Secret
    as its volumes say."""
    by_name = {cm["metadata"]["name"]: cm for cm in configmaps}
    pod = job["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    sc = pod["securityContext"]
    uid, gid, fs_group = sc["runAsUser"], sc["runAsGroup"], sc["fsGroup"]
    root = tmp / "root"
    for d in ("usr", "etc", "dev", "bbin"):
        (root / d).mkdir(parents=True)
    for link in ("bin", "lib", "lib64", "sbin"):
        if Path(f"/{link}").is_symlink():
            (root / link).symlink_to(f"usr/{link}")
    volumes = {v["name"]: v for v in pod["volumes"]}
    binds = []
    for m in c["volumeMounts"]:
        src = tmp / f"vol-{m['name']}"
        src.mkdir()
        (root / m["mountPath"].lstrip("/")).mkdir(parents=True)
        v = volumes[m["name"]]
        if "projected" in v or "configMap" in v:
            sources = [x["configMap"] for x in v["projected"]["sources"]] if "projected" in v else [v["configMap"]]
            for source in sources:
                for key, data in by_name[source["name"]]["binaryData"].items():
                    (src / key).write_bytes(base64.b64decode(data))
        elif "secret" in v:
            files = {"admin_ed25519": (server.dir / "client").read_text(), "known_hosts": server.known_hosts()}
            for item in v["secret"]["items"]:
                path = src / item["path"]
                path.write_text(files[item["key"]])
                os.chown(path, 0, fs_group)
                path.chmod(v["secret"]["defaultMode"])
        else:  # emptyDir: writable by the pod's fsGroup
            os.chown(src, 0, fs_group)
            src.chmod(0o2775)
        binds.append(f"{src}={m['mountPath']}")
    env = {e["name"]: e["value"] for e in c["env"]} | {"REPO_URL": server.url}
    assert c["command"][:2] == ["/bin/sh", "-c"]
    # Inside the chroot: drop to the Job's uid, gid and fsGroup, set the Job's environment, run its command.
    inner = ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={gid}", f"--groups={fs_group}", "/usr/bin/env"]
    inner += [f"{k}={v}" for k, v in env.items()] + ["sh", "-c", c["command"][2]]
    res = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", _CHROOT, "-", str(root), str(bb), *binds],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "JOB_SCRIPT": "exec " + shlex.join(inner)},
    )
    assert res.returncode == 0, res.stderr
    return res.stdout.strip().splitlines()[-1]


@pytest.fixture
def git_server(tmp_path):
    server = _GitServer(tmp_path / "server")
    try:
        yield server
    finally:
        server.stop()


def test_the_push_job_pushes_keeps_history_and_pushes_nothing_twice_with_the_images_tools(tmp_path, git_server):
    """Three runs of the Job's pod as busybox, git and ssh run it: the first creates the branch with the tree
    (the repository is empty), the second commits the changed tree on top of the first, the third (same tree)
    makes no commit; each prints the commit the branch points to."""
    for tool in ("unshare", "chroot", "setpriv"):
        require_tool(tool)
    bb = _applets(tmp_path)
    base = make_inputs()
    tree = dict(base.tree or {})
    assert len(tree) > 10
    changed = {k: v for k, v in list(tree.items())[1:]} | {"apps/extra.yaml": "kind: ConfigMap\n"}
    commits, listings = [], []
    for i, t in enumerate((tree, changed, changed)):
        cm, job = gitops.seed_objects(Settings(), replace(base, tree=t))
        run = tmp_path / f"run{i}"
        run.mkdir()
        commits.append(run_push_job(run, job, cm, git_server, bb))
        listings.append(set(git_server.git("ls-tree", "-r", "--name-only", "main").splitlines()))
    prefix = "manifests/dev/"
    assert listings[0] == {prefix + k for k in tree}
    assert listings[1] == listings[2] == {prefix + k for k in changed}
    assert commits[0] != commits[1] == commits[2] == git_server.git("rev-parse", "main")
    assert git_server.git("rev-parse", "main~1") == commits[0]
    assert git_server.git("log", "-1", "--format=%an <%ae>", "main") == "llmops <llmops@localhost>"


def test_an_environment_branch_beside_the_default_one_keeps_its_own_history(tmp_path, git_server):
    """An environment that tracks its own branch (environments.<env>.branch) in a repository whose default
    branch is another environment's: every push lands on top of that branch's last commit, and the branch holds
    only its own environment's commits; the default branch is left alone."""
    for tool in ("unshare", "chroot", "setpriv"):
        require_tool(tool)
    bb = _applets(tmp_path)
    base = make_inputs()
    tree = dict(base.tree or {})
    staging = Settings.model_validate({"environments": {"dev": {"branch": "staging"}}})
    first = {k: v for k, v in list(tree.items())[:5]}
    second = first | {"apps/extra.yaml": "kind: ConfigMap\n"}
    commits = []
    for i, (settings, t) in enumerate(((Settings(), tree), (staging, first), (staging, second))):
        cm, job = gitops.seed_objects(settings, replace(base, tree=t))
        run = tmp_path / f"run{i}"
        run.mkdir()
        commits.append(run_push_job(run, job, cm, git_server, bb))
    assert git_server.git("rev-parse", "main") == commits[0]
    assert git_server.git("rev-parse", "staging") == commits[2]
    assert git_server.git("rev-parse", "staging~1") == commits[1]
    assert git_server.git("rev-list", "--count", "staging") == "2"
    listing = set(git_server.git("ls-tree", "-r", "--name-only", "staging").splitlines())
    assert listing == {f"manifests/dev/{k}" for k in second}
