"""What `llmops --help` lists, without Typer: the root help text, the root options and the command registry.

``app`` builds the Typer application from these; ``roothelp`` renders `llmops`, `llmops --help` and
`llmops --version` from them without importing Typer at all (Typer's import alone took about 100 ms of the
170 ms those commands needed on the 2-core reference VM).
"""

from __future__ import annotations

HELP = (
    "llmops: a governed LLM platform on Kubernetes, from a laptop to cloud VMs.\n\n"
    "Bootstrap k3s + NVIDIA GPU + Argo CD, render vLLM, the Policy Gateway, pgvector and observability "
    "as a GitOps tree, gate models on governance evidence, and promote releases to cloud VMs over SSH."
)

# The root options' help, by parameter name. ``ROOT_OPTIONS`` is how `--help` lists them, in declaration
# order (Click's "-s, --long METAVAR" form), the help option last; a test holds both to what Typer prints.
OPTION_HELP: dict[str, str] = {
    "config": "llmops.yaml to use (default: ./llmops.yaml if present, else built-in defaults). Env: LLMOPS_CONFIG.",
    "verbose": "More output; tracebacks.",
    "quiet": "Only errors and data.",
    "no_color": "No colours (also NO_COLOR).",
    "version": "Print the version.",
}
ROOT_OPTIONS: tuple[tuple[str, str], ...] = (
    ("-c, --config PATH", OPTION_HELP["config"]),
    ("-v, --verbose", OPTION_HELP["verbose"]),
    ("-q, --quiet", OPTION_HELP["quiet"]),
    ("--no-color", OPTION_HELP["no_color"]),
    ("--version", OPTION_HELP["version"]),
    ("-h, --help", "Show this message and exit."),
)

# Explicit registration, in the order `llmops --help` lists them: (name, module, attribute, help).
# An attribute named `app` is a Typer group; anything else is a single command function.
COMMANDS: tuple[tuple[str, str, str, str], ...] = (
    ("init", "init", "command", "Create llmops.yaml and starter policies (interactive, or flags / --yes)."),
    ("config", "config", "app", "Validate, show and describe llmops.yaml."),
    ("doctor", "doctor", "command", "Check this host (or one over SSH) for k3s, GPU and platform readiness."),
    ("up", "up", "command", "Install k3s, GPU support and Argo CD, then deploy the platform."),
    ("status", "status", "command", "Show nodes, GPUs, Argo CD applications and endpoints."),
    ("down", "down", "command", "Remove the platform (and optionally k3s) from this host."),
    ("sync", "sync", "command", "Push the re-rendered tree to the in-cluster Git server."),
    ("bundle", "bundle", "command", "Fetch the pinned chart archives into an airgap bundle for `up`."),
    ("render", "render", "command", "Render the platform as a GitOps tree (manifests/<env>/...)."),
    ("verify", "verify", "command", "Check config, policies and the tree; then the running platform, live."),
    ("govern", "govern", "app", "Governance as code: data, bias, model card, risk, policies."),
    ("gateway", "gateway", "app", "Run and manage the Policy Gateway (OpenAI-compatible proxy)."),
    ("promote", "promote", "command", "Provision an environment's hosts over SSH; promote a governed release via Git."),
    ("version", "version", "command", "Print llmops's version, or every pinned upstream version with --all."),
)
