"""`llmops init`: create llmops.yaml and starter policies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import Session, get_session

DEFAULT_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"


def command(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option("--model", help="Hugging Face model id vLLM serves.")] = None,
    gpu: Annotated[str | None, typer.Option("--gpu", metavar="auto|on|off", help="GPU mode.")] = None,
    gitops_repo: Annotated[
        str | None, typer.Option("--gitops-repo", help="Git remote Argo CD reads (https:// or ssh).")
    ] = None,
    local_git: Annotated[
        bool, typer.Option("--local-git", help="No remote: an in-cluster Git server seeded by llmops.")
    ] = False,
    env: Annotated[
        list[str] | None, typer.Option("--env", help="An environment to create (repeat); default dev and prod.")
    ] = None,
    cluster_name: Annotated[str, typer.Option("--cluster-name", help="Cluster name.")] = "llmops",
    directory: Annotated[Path, typer.Option("--dir", metavar="DIR", help="Project directory.")] = Path("."),
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Take defaults for every unanswered question.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing llmops.yaml and policies.")] = False,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Create llmops.yaml and starter policies/ (asks, or takes flags / --yes).

    Examples:
      llmops init
      llmops init --yes
      llmops init --model Qwen/Qwen2.5-7B-Instruct --gpu on --gitops-repo https://github.com/acme/platform.git
    """
    from llmops_cli.config.scaffold import InitAnswers, check_target, write_project
    from llmops_cli.errors import UsageError

    session = get_session(ctx)
    session.start("init", output)
    if gitops_repo and local_git:
        raise UsageError("--gitops-repo and --local-git exclude each other", hint="pass one of them")
    check_target(directory, force=force)
    ask = _Asker(session, yes)
    repo_q = "Git remote for GitOps (empty: in-cluster Git)"
    answers = InitAnswers(
        model=ask.text("model", model, "Model to serve (Hugging Face id)", DEFAULT_MODEL, "--model"),
        gpu=ask.select("gpu", gpu, "GPU mode", ["auto", "on", "off"], "auto", "--gpu"),
        gitops_repo=None if local_git else (ask.text("gitops", gitops_repo, repo_q, "", "--gitops-repo") or None),
        environments=tuple(env)
        if env
        else tuple(ask.checkbox("env", None, "Environments", ["dev", "staging", "prod"], ["dev", "prod"], "--env")),
        cluster_name=cluster_name,
    )
    result = write_project(directory, answers, force=force)
    if session.machine:
        session.emit({"written": result.written, "skipped": result.skipped})
        return
    for f in result.written:
        session.info(f"wrote {f}")
    for f in result.skipped:
        session.info(f"kept existing {f} (use --force to overwrite)")
    session.info("next: `llmops config validate`, then `llmops up --dry-run`")


class _Asker:
    """Answers from flags first, then --yes defaults, then questionary on a TTY; else an error naming the flag."""

    def __init__(self, session: Session, yes: bool) -> None:
        self.session = session
        self.yes = yes

    def _need_prompt(self, flag: str) -> None:
        from llmops_cli.errors import UsageError

        if not self.session.interactive:
            raise UsageError(
                f"no terminal to ask on and no value given for {flag}", hint=f"pass {flag} or --yes for defaults"
            )

    def _ask(self, question: Any) -> Any:
        answer = question.ask()
        if answer is None:  # Ctrl-C inside questionary
            raise KeyboardInterrupt
        return answer

    def text(self, key: str, given: str | None, prompt: str, default: str, flag: str) -> str:
        if given is not None:
            return given
        if self.yes:
            return default
        self._need_prompt(flag)
        import questionary

        return str(self._ask(questionary.text(prompt, default=default))).strip()

    def select(self, key: str, given: str | None, prompt: str, choices: list[str], default: str, flag: str) -> Any:
        from llmops_cli.errors import UsageError

        if given is not None:
            if given not in choices:
                raise UsageError(f"{flag} must be one of {', '.join(choices)}, got {given!r}")
            return given
        if self.yes:
            return default
        self._need_prompt(flag)
        import questionary

        return self._ask(questionary.select(prompt, choices=choices, default=default))

    def checkbox(
        self, key: str, given: list[str] | None, prompt: str, choices: list[str], default: list[str], flag: str
    ) -> list[str]:
        if given:
            return given
        if self.yes:
            return default
        self._need_prompt(flag)
        import questionary

        picked = self._ask(
            questionary.checkbox(prompt, choices=[questionary.Choice(c, checked=c in default) for c in choices])
        )
        return list(picked) or default
