"""The GitOps repository, through the ``git`` program (argument lists only): read what a branch holds, commit
one folder of it, push, and work on another branch than the one checked out (a temporary worktree), without
ever touching the user's other changes or staged files."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from llmops_cli.adapters import procs
from llmops_cli.adapters.procs import ProcResult
from llmops_cli.errors import CommandFailed, LlmopsError, UsageError


class GitError(LlmopsError):
    code = "git"


@dataclass(frozen=True)
class Ident:
    name: str
    email: str

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class GitRepo:
    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def find(cls, path: Path, why: str = "promote records each release as a commit") -> GitRepo:
        """The work tree that holds ``path`` (``why`` ends the error when there is none)."""
        if procs.which("git") is None:
            from llmops_cli.errors import ToolMissing

            raise ToolMissing("git", procs.INSTALL_HINTS["git"])
        r = procs.run(["git", "-C", str(path), "rev-parse", "--show-toplevel"], check=False)
        if not r.ok:
            raise UsageError(
                f"{path} is not in a Git repository: {why}",
                hint="run it in the clone of your GitOps repository (git init; git remote add origin URL)",
            )
        return cls(Path(r.stdout.strip()))

    # ---------------------------------------------------------------------------------------------- plumbing
    def git(
        self, *args: str, check: bool = True, input: str | None = None, env: Mapping[str, str] | None = None
    ) -> ProcResult:
        import os

        full_env = None if env is None else {**os.environ, **env}
        r = procs.run(["git", "-C", str(self.root), *args], check=False, input=input, env=full_env)
        if check and not r.ok:
            raise GitError(CommandFailed(["git", *args], r.returncode, r.stdout, r.stderr).message)
        return r

    def current_branch(self) -> str | None:
        r = self.git("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        return r.stdout.strip() or None

    def rev(self, ref: str) -> str | None:
        r = self.git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
        return r.stdout.strip() or None

    def show(self, rev: str, path: str) -> str | None:
        r = self.git("show", f"{rev}:{path}", check=False)
        return r.stdout if r.ok else None

    def files(self, rev: str, folder: str) -> dict[str, str]:
        """Every file under ``folder`` at ``rev``, relative to the folder."""
        listing = self.git("ls-tree", "-r", "-z", "--format=%(objectname) %(path)", rev, "--", folder, check=False)
        if not listing.ok:
            return {}
        prefix = folder.rstrip("/") + "/"
        out: dict[str, str] = {}
        for entry in listing.stdout.split("\0"):
            if not entry:
                continue
            oid, path = entry.split(" ", 1)
            out[path.removeprefix(prefix)] = self.git("cat-file", "blob", oid).stdout
        return out

    def dirty(self, paths: Sequence[str]) -> list[str]:
        r = self.git("status", "--porcelain", "--untracked-files=all", "--", *paths)
        return [ln[3:] for ln in r.stdout.splitlines() if ln.strip()]

    def ident(self, why: str = "the release commit records who promoted") -> Ident:
        """Who commits (git's committer identity); refused when git has none configured."""
        r = self.git("var", "GIT_COMMITTER_IDENT", check=False)
        if not r.ok or "<" not in r.stdout:
            raise UsageError(
                f"git does not know who you are: {why}",
                hint='git config --global user.name "Your Name" && git config --global user.email you@example.com',
            )
        name, _, rest = r.stdout.partition("<")
        return Ident(name.strip(), rest.split(">", 1)[0].strip())

    def log(self, rev: str, path: str, fmt: str = "%H") -> list[str]:
        r = self.git("log", f"--format={fmt}", rev, "--", path, check=False)
        return [ln for ln in r.stdout.splitlines() if ln.strip()] if r.ok else []

    def trailers(self, rev: str) -> dict[str, str]:
        body = self.git("log", "-1", "--format=%B", rev).stdout
        r = self.git("interpret-trailers", "--parse", input=body)
        out: dict[str, str] = {}
        for ln in r.stdout.splitlines():
            key, sep, value = ln.partition(":")
            if sep:
                out[key.strip()] = value.strip()
        return out

    def remote_of(self, branch: str) -> str | None:
        r = self.git("config", "--get", f"branch.{branch}.remote", check=False)
        if r.ok and r.stdout.strip():
            return r.stdout.strip()
        remotes = self.git("remote").stdout.split()
        return "origin" if "origin" in remotes else (remotes[0] if remotes else None)

    # ---------------------------------------------------------------------------------------------- changes
    def commit_folder(self, folder: str, message: str) -> str | None:
        """Commit exactly ``folder`` (additions, changes, deletions) as it is in the work tree; the user's
        other staged or unstaged changes stay as they were. None when the folder did not change."""
        self.git("add", "-A", "--", folder)
        staged = self.git("diff", "--cached", "--quiet", "--", folder, check=False)
        if staged.returncode == 0:
            return None
        self.git("commit", "--quiet", "--no-verify", "-F", "-", "--only", "--", folder, input=message)
        return self.rev("HEAD")

    def push(self, remote: str, branch: str) -> None:
        r = self.git("push", "--quiet", remote, f"refs/heads/{branch}:refs/heads/{branch}", check=False)
        if not r.ok:
            why = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"
            raise GitError(
                f"git push {remote} {branch} failed: {why}",
                hint="the commit is made; push it yourself (git push) once the cause is fixed, or rerun with --push",
            )

    @contextlib.contextmanager
    def branch_worktree(self, branch: str) -> Iterator[GitRepo]:
        """A work tree on ``branch``: this one when it is checked out here, else a temporary one (created from
        the local branch, else its remote-tracking branch, else a new branch from HEAD), removed afterwards."""
        if self.current_branch() == branch:
            yield self
            return
        tmp = Path(tempfile.mkdtemp(prefix="llmops-release-"))
        tmp.rmdir()
        remote = self.remote_of(branch)
        if self.rev(f"refs/heads/{branch}"):
            args = [str(tmp), branch]
        elif remote and self.rev(f"refs/remotes/{remote}/{branch}"):
            args = ["-b", branch, str(tmp), f"{remote}/{branch}"]
        else:
            args = ["-b", branch, str(tmp), "HEAD"]
        self.git("worktree", "add", "--quiet", *args)
        try:
            yield GitRepo(tmp)
        finally:
            self.git("worktree", "remove", "--force", str(tmp), check=False)
            shutil.rmtree(tmp, ignore_errors=True)
            self.git("worktree", "prune", check=False)
