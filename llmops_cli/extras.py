"""Which optional part of llmops (a pyproject extra) brings each third-party module it imports.

The base install is the CLI and llmops.yaml; ``render``, ``cluster``, ``govern``, ``gateway`` and ``verify`` each
add what that part imports (``all`` is all of them). A command run without its extra fails on an import: the error
boundary turns that into one line naming the extra to install, instead of a crash report. A test holds this
table to pyproject.toml.
"""

from __future__ import annotations

from llmops_cli.errors import LlmopsError

EXTRA_FOR_MODULE: dict[str, str] = {
    "jinja2": "render",
    "kubernetes": "cluster",
    "filelock": "govern",
    "cryptography": "cluster",  # also in govern (it signs the evidence)
    "questionary": "cluster",
    "numpy": "govern",
    "pandas": "govern",
    "pyarrow": "govern",
    "packaging": "govern",
    "celpy": "govern",
    "plumbum": "cluster",  # also in govern (the evidence bundle records the Git commit)
    "uvicorn": "gateway",
    "httptools": "gateway",
    "uvloop": "gateway",
    "orjson": "gateway",
    "re2": "gateway",
    "prometheus_client": "gateway",
    "httpx": "gateway",  # also in verify and llm-eval
    "phonenumbers": "gateway",
    "psycopg": "verify",  # also in llm-eval
    "litellm": "litellm",
    "sigstore": "sigstore",
    "shap": "explain",
    "sklearn": "explain",
    "onnxruntime": "explain",
}


class MissingExtra(LlmopsError):
    code = "missing_extra"


def missing_extra(error: ModuleNotFoundError) -> MissingExtra | None:
    """The user-facing error for an import that failed because an extra is not installed; None for others."""
    module = (error.name or "").split(".", 1)[0]
    extra = EXTRA_FOR_MODULE.get(module)
    if extra is None:
        return None
    return MissingExtra(
        f"this command needs llmops's {extra!r} extra ({module} is not installed)",
        hint=f"pip install 'llmops[{extra}]', or 'llmops[all]' for everything; under pipx: "
        f"pipx install --force 'llmops[all]'",
    )
