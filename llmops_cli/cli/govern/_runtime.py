"""Shared by the run-time governance commands (`govern release`, `govern incident`, `govern review-time`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from llmops_cli.cli.session import Session

if TYPE_CHECKING:
    from llmops_cli.govern.runtime.api import Project


def project(session: Session, folder: Path | None) -> Project:
    """The project whose llmops.yaml (``--project DIR``, else --config / ./llmops.yaml) names the folders."""
    from llmops_cli.config.load import load_settings
    from llmops_cli.errors import InputError
    from llmops_cli.govern.runtime.api import Project

    if folder is None:
        loaded = session.loaded()
        return Project(loaded.settings, loaded.base_dir)
    if not folder.is_dir():
        raise InputError(f"{folder}: project folder not found", hint="pass the folder holding llmops.yaml")
    cfg = folder / "llmops.yaml"
    loaded = load_settings(cfg if cfg.is_file() else None, environ=session.environ, explicit=False)
    return Project(loaded.settings, folder)


def now(session: Session) -> float:
    """The current time, or ``SOURCE_DATE_EPOCH`` when set (reproducible records, as `govern check` does)."""
    epoch = session.environ.get("SOURCE_DATE_EPOCH", "").strip()
    return float(epoch) if epoch.isdigit() else time.time()
