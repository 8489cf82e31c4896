"""Configuration: one validated, frozen ``Settings`` built from llmops.yaml, ``LLMOPS_*`` env and flags."""

from llmops_cli.config.model import Settings

__all__ = ["Settings"]
