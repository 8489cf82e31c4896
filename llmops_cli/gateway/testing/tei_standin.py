"""A stand-in for Hugging Face Text Embeddings Inference's ``POST /predict`` (TEI v1.9.3), for tests.

It enforces what the real router enforces (``router/src/http/types.rs``, ``PredictInput``'s deserializer, and
``router/src/http/server.rs``, ``predict``): ``inputs`` is a string, a list of one or two strings (one input,
a pair when two), or a batch of such lists; anything else (a list of three strings, a number, a batch entry of
three) is 422; an empty batch is 400 (``error_type`` empty); more inputs than ``max_client_batch_size`` (32 by
default) is 422 (validation); ``truncate`` false with an input over the model's 512 tokens is 422; a single
input answers a list of ``{"score", "label"}``, a batch a list of such lists, each sorted by score, highest
first, with labels from the model's ``id2label``. Errors are ``{"error", "error_type"}``.

Its "model" is not a classifier: it scores an input as an attack when it contains one of ``markers``
(case-insensitive), which is what the gateway's tests need to see the verdict travel. ``delay`` slows every
answer and ``status`` forces an error status, to test timeouts and failures.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TeiConfig:
    # Llama Prompt Guard 2's classes (its model card prints an attack's id2label as MALICIOUS).
    id2label: dict[str, str] = field(default_factory=lambda: {"0": "BENIGN", "1": "MALICIOUS"})
    attack_label: str = "1"
    markers: tuple[str, ...] = ("ignore all previous", "disregard your rules", "you are now dan")
    max_client_batch_size: int = 32
    max_input_tokens: int = 512
    auto_truncate: bool = True
    delay: float = 0.0
    status: int | None = None
    requests: list[Any] = field(default_factory=list)


def _error(status: int, message: str, kind: str) -> tuple[int, dict[str, str]]:
    return status, {"error": message, "error_type": kind}


def _sequences(inputs: Any) -> tuple[list[list[str]], bool] | str:
    """``(sequences, batch)`` as TEI's deserializer reads ``inputs``, or an error message."""
    if isinstance(inputs, str):
        return [[inputs]], False
    if not isinstance(inputs, list) or not inputs:
        return "expected a string, a pair of strings [string, string] or a batch"
    if all(isinstance(x, str) for x in inputs):
        return ([inputs], False) if len(inputs) <= 2 else "invalid length 3"
    seqs = []
    for x in inputs:
        if not isinstance(x, list) or not 1 <= len(x) <= 2 or not all(isinstance(s, str) for s in x):
            return "a batch holds lists of one or two strings"
        seqs.append(x)
    return seqs, True


def predict(cfg: TeiConfig, body: bytes) -> tuple[int, Any]:
    """``(status, JSON answer)`` for a ``POST /predict`` body."""
    if cfg.delay:
        time.sleep(cfg.delay)
    if cfg.status is not None:
        return _error(cfg.status, "forced", "backend")
    try:
        req = json.loads(body)
    except ValueError:
        return _error(400, "invalid JSON", "validation")
    if not isinstance(req, dict) or "inputs" not in req:
        return _error(422, "missing field `inputs`", "validation")
    cfg.requests.append(req)
    parsed = _sequences(req["inputs"])
    if isinstance(parsed, str):
        return _error(422, parsed, "validation")
    seqs, batch = parsed
    if batch and not seqs:
        return _error(400, "Batch is empty", "empty")
    if len(seqs) > cfg.max_client_batch_size:
        return _error(
            422, f"batch size {len(seqs)} > maximum allowed batch size {cfg.max_client_batch_size}", "validation"
        )
    truncate = req.get("truncate")
    truncate = cfg.auto_truncate if truncate is None else truncate
    answers = []
    for seq in seqs:
        text = " ".join(seq)
        if not truncate and len(text) // 4 > cfg.max_input_tokens:  # about four characters a token
            return _error(422, f"`inputs` must have less than {cfg.max_input_tokens} tokens", "validation")
        if truncate:
            text = text[: cfg.max_input_tokens * 4]
        attack = any(m in text.casefold() for m in cfg.markers)
        p = 0.97 if attack else 0.02
        scored = sorted(((p if i == cfg.attack_label else 1 - p), label) for i, label in cfg.id2label.items())
        answers.append([{"score": score, "label": label} for score, label in reversed(scored)])
    return 200, answers if batch else answers[0]
