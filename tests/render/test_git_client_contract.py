"""The local push Job against the pinned alpine/git image (tests/render/upstream/tables.py GIT_CLIENT).

The image's entrypoint is `git` and it has no USER: the Job must replace the entrypoint with a shell and run as
a user the image knows. Every program the push script runs must be on the image's PATH (git and ssh from its
packages, the shell and the rest from busybox), with options those programs take; the ssh command git runs
takes only ssh's flags and keywords; every path the script writes is a volume (the root filesystem is
read-only).
"""

from __future__ import annotations

import re
import shlex
from pathlib import PurePosixPath
from typing import Any

from llmops_cli import versions
from llmops_cli.cluster.model import PlanInputs
from llmops_cli.cluster.steps import gitops
from llmops_cli.config.model import Settings
from tests.cluster.conftest import make_inputs

from .upstream.model import Release
from .upstream.rendered import release

_SEPARATORS = re.compile(r"\s*(?:&&|\|\||;)\s*")
_KEYWORDS = ("if", "then", "else", "fi")


def _image() -> Release:
    return release("git client image")


def script_commands(script: str) -> tuple[list[list[str]], set[str]]:
    """(simple commands as word lists, shell keywords) of a POSIX sh script without pipes or substitutions."""
    commands, keywords = [], set()
    for line in script.splitlines():
        for part in _SEPARATORS.split(line.strip()):
            words = shlex.split(part)
            while words and words[0] in _KEYWORDS:
                keywords.add(words.pop(0))
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
