"""The layers of docs/architecture.md, enforced: import-linter contracts in pyproject.toml."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_import_contracts_hold() -> None:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    out = subprocess.run(
        [exe], cwd=ROOT, capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "broken" not in out.stdout.lower() or "0 broken" in out.stdout.lower()


def test_core_modules_do_not_import_the_cli_stack() -> None:
    offenders = []
    for f in (ROOT / "llmops_cli").rglob("*.py"):
        rel = f.relative_to(ROOT / "llmops_cli")
        if rel.parts[0] == "cli" or rel.name == "__main__.py":  # the CLI and its entry point
            continue
        for line in f.read_text().splitlines():
            s = line.strip()
            if s.startswith(
                (
                    "import typer",
                    "from typer",
                    "import rich",
                    "from rich",
                    "import questionary",
                    "from questionary",
                    "import click",
                    "from click",
                )
            ):
                offenders.append(f"{f.relative_to(ROOT)}: {s}")
    assert offenders == []


def test_modules_import_only_public_names_of_other_modules() -> None:
    """`from llmops_cli.x import _name` reaches into another module's privates: make the name public instead.
    A package's own `_module` helpers (cli/govern/_common) stay its own. The gateway's are its decomposition's."""
    import ast

    offenders = []
    for f in (ROOT / "llmops_cli").rglob("*.py"):
        rel = f.relative_to(ROOT / "llmops_cli")
        if rel.parts[0] == "gateway":
            continue
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("llmops_cli"):
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                package = ".".join(("llmops_cli", *rel.parts[:-1]))
                if node.module == package:  # `from llmops_cli.cli.govern import _common`: its own package
                    continue
                if private:
                    offenders.append(f"{rel}:{node.lineno}: from {node.module} import {', '.join(private)}")
    assert offenders == []


def _private_uses(tree: ast.Module) -> list[str]:
    """``from llmops_cli.x import _name`` and ``module._name`` on a module imported from llmops_cli."""
    found: list[str] = []
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("llmops_cli"):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):  # dunders (__version__) are public
                    found.append(f"from {node.module} import {alias.name}")
                modules.add(alias.asname or alias.name)  # a module or a name; only modules have attributes here
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("llmops_cli"):
                    modules.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            found.append(f"{node.value.id}.{node.attr}")
    return found


def test_gateway_modules_use_only_each_others_public_names() -> None:
    """What one gateway module takes from another is public: a ``_name`` is free to change inside its module."""
    offenders = []
    for f in sorted((ROOT / "llmops_cli" / "gateway").rglob("*.py")):
        for use in _private_uses(ast.parse(f.read_text())):
            offenders.append(f"{f.relative_to(ROOT)}: {use}")
    assert not offenders, "\n".join(offenders)


def _doc() -> str:
    return (ROOT / "docs" / "architecture.md").read_text()


def test_the_gateway_layers_the_architecture_doc_shows_are_the_contracts() -> None:
    import re
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (gateway,) = [c for c in contracts if c.get("containers") == ["llmops_cli.gateway"]]
    block = _doc().split("the gateway has its own layers", 1)[1].split("\n\n", 2)[1]
    shown = [re.split(r"\s{2,}", line.strip())[0] for line in block.splitlines()]
    assert shown == gateway["layers"]


def test_every_module_the_architecture_doc_names_exists() -> None:
    import re

    roots = [ROOT, ROOT / "llmops_cli", ROOT / "llmops_cli" / "gateway"]
    named = set(re.findall(r"[\w/]+\.py\b", _doc()))
    missing = sorted(p for p in named if not any((r / p).is_file() for r in roots))
    assert missing == []
