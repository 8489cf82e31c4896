"""A prompt-injection classifier the policy calls over HTTP: Hugging Face Text Embeddings Inference (TEI).

Why TEI and not vLLM's ``/classify``: Llama Prompt Guard 2 (and ProtectAI's injection classifiers) are
``DebertaV2ForSequenceClassification`` models. vLLM's registry of sequence-classification architectures
(``vllm/model_executor/models/registry.py``: ``_CROSS_ENCODER_MODELS`` at v0.11.0, and
``_SEQUENCE_CLASSIFICATION_MODELS`` at v0.34.0, the release llmops pins) has BERT, RoBERTa, XLM-RoBERTa, ModernBERT and
GTE, not DeBERTa-v2; TEI v1.9.3 loads DeBERTa-v2 on CPU and CUDA (``backends/candle/src/lib.rs``,
``Config::DebertaV2``).

The API, from TEI v1.9.3 ``router/src/http/types.rs`` and ``server.rs``: ``POST /predict`` with
``{"inputs": …, "truncate": bool, "raw_scores": bool}``. ``inputs`` is a string, a pair ``[a, b]``, or a batch of
lists ``[[a], [b, c], …]`` (a plain list of two strings is one *pair*, not a batch of two); a batch answers a
list per input of ``{"score", "label"}`` sorted by score, highest first (softmax unless ``raw_scores``). More
inputs than ``--max-client-batch-size`` (default 32) is 422 (``error_type`` validation), an empty batch 400,
overload 429, a backend error 424. ``truncate`` unset means the server's ``--auto-truncate`` (default true).

The classifier reads 512 tokens: longer text is split into ``chunk_chars`` pieces that overlap by a tenth (an
attack split at a boundary is whole in one of them), at most ``max_chunks`` of them per request, sent as one
batch; the verdict is the highest attack score of any piece.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from llmops_cli.gateway.policy.model import InjectionClassifierPolicy


class ClassifierError(Exception):
    """The classifier did not give a verdict: unreachable, too slow, or an answer that is not TEI's."""


def chunks(texts: list[str], size: int, limit: int) -> list[str]:
    """``texts`` as pieces of at most ``size`` characters, overlapping by a tenth, at most ``limit`` of them;
    empty and whitespace-only texts are skipped."""
    step = max(1, size - size // 10)
    out: list[str] = []
    for t in texts:
        if not t.strip():
            continue
        for start in range(0, max(1, len(t) - size + step), step):
            out.append(t[start : start + size])
            if len(out) >= limit:
                return out
    return out


class InjectionClassifier:
    """One per compiled policy; its HTTP client is made on first use, in the event loop that uses it."""

    def __init__(self, cfg: InjectionClassifierPolicy) -> None:
        self.cfg = cfg
        self.url = cfg.url.rstrip("/") + "/predict"
        self.labels = frozenset(label.casefold() for label in cfg.labels)
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.cfg.timeout_ms / 1000),
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
                trust_env=False,  # the classifier is an in-cluster Service: never through a proxy
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def score(self, texts: list[str]) -> float:
        """The highest attack probability over ``texts`` (0.0 when there is nothing to classify). Raises
        :class:`ClassifierError` when no verdict could be had within ``timeout_ms``."""
        import anyio
        import httpx

        pieces = chunks(texts, self.cfg.chunk_chars, self.cfg.max_chunks)
        if not pieces:
            return 0.0
        body = {"inputs": [[p] for p in pieces], "truncate": True}
        try:
            with anyio.fail_after(self.cfg.timeout_ms / 1000):
                r = await self._http().post(self.url, json=body)
        except (httpx.HTTPError, TimeoutError) as e:
            raise ClassifierError(f"{type(e).__name__}") from e
        if r.status_code != 200:
            raise ClassifierError(f"HTTP {r.status_code}")
        try:
            return self._verdict(r.json(), len(pieces))
        except (ValueError, TypeError, KeyError) as e:
            raise ClassifierError("unexpected answer") from e

    def _verdict(self, payload: Any, n: int) -> float:
        if not isinstance(payload, list) or len(payload) != n:
            raise ValueError("one list of predictions per input expected")
        best = 0.0
        for preds in payload:
            if not isinstance(preds, list):
                raise ValueError("a list of predictions expected")
            for p in preds:
                label, score = p["label"], p["score"]
                if not isinstance(label, str) or not isinstance(score, int | float) or not math.isfinite(score):
                    raise ValueError("label and score expected")
                if label.casefold() in self.labels:
                    best = max(best, float(score))
        return best
