"""Retrieval through pgvector for the grounding probes.

The suite's documents go into a temporary table (gone when the connection closes, nothing is left in the
user's database) with a ``vector`` column; each question's passages come back by cosine distance
(``<=>``, pgvector's cosine-distance operator: pgvector/pgvector README, "Querying"). Embeddings are
llmops' own feature-hashed bag of words and word pairs (Weinberger et al., "Feature hashing for large scale
multitask learning", ICML 2009): deterministic, no model to download, and enough to tell a small document
set apart. The recorded ``retrieval`` block names the embedding, so a change of it shows in the evidence.

psycopg is imported only here, and only when grounding is configured.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from llmops_cli.errors import InputError, LlmopsError
from llmops_cli.govern.llmeval.suite import Document

DIM = 256
EMBEDDING = f"llmops-hashing-{DIM}-v1"


class GroundingError(LlmopsError):
    code = "grounding"


def _stem(word: str) -> str:
    """A crude suffix strip (refunds, refunded → refund; opening → open), enough for a small document set."""
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def embed(text: str, dim: int = DIM) -> list[float]:
    """L2-normalised feature-hashed counts of content words (stemmed) and adjacent word pairs (signed, to
    cancel collisions)."""
    from llmops_cli.govern.llmeval.detect import STOPWORDS

    words = [_stem(w) for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOPWORDS]
    feats = words + [f"{a}_{b}" for a, b in itertools.pairwise(words)]
    vec = [0.0] * dim
    for f in feats:
        h = int.from_bytes(hashlib.blake2b(f.encode(), digest_size=8).digest(), "little")
        vec[h % dim] += 1.0 if (h >> 32) & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [round(v / norm, 6) for v in vec]


def _literal(vec: Sequence[float]) -> str:
    return "[" + ",".join(f"{v:.6f}" for v in vec) + "]"


@contextmanager
def pgvector_retriever(dsn: str, documents: Sequence[Document]) -> Iterator[tuple[Any, dict[str, Any]]]:
    """A retriever over ``documents`` in a temporary pgvector table; yields (retrieve, info)."""
    try:
        import psycopg
    except ImportError:
        raise InputError("grounding through pgvector needs psycopg", hint="pip install 'llmops[llm-eval]'") from None
    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
    except psycopg.Error as e:
        first = (str(e).strip().splitlines() or ["connection failed"])[0]
        raise GroundingError(
            f"cannot connect to PostgreSQL for grounding: {first[:200]}",
            hint="check the DSN in the variable named by governance.llm_eval.grounding.dsn_env",
        ) from None
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            row = cur.fetchone()
            if row is None:
                try:
                    cur.execute("CREATE EXTENSION IF NOT EXISTS vector")
                except psycopg.Error:
                    raise GroundingError(
                        "the database has no pgvector extension and this user cannot create it",
                        hint="CREATE EXTENSION vector; as a superuser",
                    ) from None
                cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
                row = cur.fetchone()
            version = str(row[0]) if row else None
            cur.execute(f"CREATE TEMP TABLE llmops_eval_passages (id text, body text, embedding vector({DIM}))")
            for d in documents:
                cur.execute(
                    "INSERT INTO llmops_eval_passages (id, body, embedding) VALUES (%s, %s, %s::vector)",
                    (d.id, d.text, _literal(embed(d.text))),
                )

        def retrieve(question: str, k: int) -> list[dict[str, Any]]:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT id, body, embedding <=> %s::vector AS distance FROM llmops_eval_passages "
                    "ORDER BY distance, id LIMIT %s",
                    (_literal(embed(question)), k),
                )
                return [{"id": r[0], "text": r[1], "distance": float(r[2])} for r in cur.fetchall()]

        info = {"store": "pgvector", "pgvector_version": version, "embedding": EMBEDDING, "documents": len(documents)}
        yield retrieve, info
    except psycopg.Error as e:
        first = (str(e).strip().splitlines() or ["query failed"])[0]
        raise GroundingError(f"pgvector query failed: {first[:200]}") from None
    finally:
        conn.close()
