"""Reading a Prometheus text exposition (``/metrics``) into samples."""

from __future__ import annotations

from dataclasses import dataclass

from llmops_cli.errors import LlmopsError


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def parse(text: str, where: str) -> list[Sample]:
    """Every sample of ``text``; a malformed exposition is an error naming ``where``."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        return [
            Sample(s.name, dict(s.labels), float(s.value))
            for family in text_string_to_metric_families(text)
            for s in family.samples
        ]
    except (ValueError, TypeError, IndexError) as e:
        raise LlmopsError(f"{where} is not a Prometheus text exposition: {e}") from e


def total(samples: list[Sample], name: str, **labels: str) -> float:
    """Sum of ``name``'s samples whose labels include ``labels``."""
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))
