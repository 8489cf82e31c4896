"""PostgreSQL through psycopg 3 (imported when a connection opens): statements with parameters, autocommit, a
connect and a statement timeout, and every driver error as :class:`DatabaseError` carrying the SQLSTATE.

The DSN may hold a password; :func:`safe_dsn` is what messages show.
"""

from __future__ import annotations

import re
from typing import Any

from llmops_cli.errors import LlmopsError, ToolMissing


class DatabaseError(LlmopsError):
    code = "database"

    def __init__(self, message: str, *, sqlstate: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.sqlstate = sqlstate


_PASSWORD_IN_URI = re.compile(r"(postgres(?:ql)?://[^:/@\s]*:)[^@\s]*@")
_PASSWORD_KV = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def safe_dsn(dsn: str) -> str:
    """``dsn`` with any password replaced by ``***`` (URI and key=value forms)."""
    return _PASSWORD_KV.sub(r"\1***", _PASSWORD_IN_URI.sub(r"\1***@", dsn))


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


class Pg:
    """One autocommit connection."""

    def __init__(self, dsn: str, *, timeout: float = 10.0) -> None:
        try:
            import psycopg
        except ImportError as e:  # pragma: no cover - psycopg is a dependency; broken installs only
            raise ToolMissing("psycopg", "pip install 'psycopg[binary]' (a dependency of llmops)") from e
        self._psycopg = psycopg
        self.where = safe_dsn(dsn)
        try:
            self._conn = psycopg.connect(
                dsn,
                autocommit=True,
                connect_timeout=max(1, int(timeout)),
                options=f"-c statement_timeout={int(timeout * 1000)}",
            )
        except psycopg.Error as e:
            raise DatabaseError(
                f"cannot connect to {self.where}: {_first_line(e)}", sqlstate=getattr(e, "sqlstate", None)
            ) from e

    def execute(self, sql: str, params: tuple[Any, ...] | None = None) -> list[tuple[Any, ...]]:
        """Run one statement; its rows (empty for statements without a result)."""
        try:
            with self._conn.cursor() as cur:
                cur.execute(sql, params)  # type: ignore[arg-type]  # statements are ours, values are parameters
                return list(cur.fetchall()) if cur.description else []
        except self._psycopg.Error as e:
            raise DatabaseError(_first_line(e), sqlstate=getattr(e, "sqlstate", None)) from e

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Pg:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
