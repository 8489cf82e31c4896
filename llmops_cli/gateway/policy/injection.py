"""Prompt-injection heuristics over normalised text of user, tool and function messages.

These are cheap signals (phrases that try to override instructions, fake role markers, requests for the
system prompt), not a classifier: they only ever report (a ``flag`` decision in the audit log and metrics).
Refusing is the classifier's job (``classifier.py``): the heuristics miss obfuscated attacks and fire on
benign look-alikes. The phrases match across line breaks (a newline between two words is a space to them), and
the request check runs them over all non-system texts joined, so an attack split over messages is seen whole.

Each heuristic has keywords, one of which every match contains; one prefilter pass finds which keywords occur
and only those heuristics run their full pattern (most messages contain none).
"""

from __future__ import annotations

import re

from llmops_cli.gateway.policy.prefilter import Prefilter

HEURISTICS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "override_instructions",
        re.compile(
            r"\b(?:ignore|disregard|forget|override|bypass)\b.{0,40}\b(?:previous|prior|above|earlier|all|your|system)\b"
            r".{0,20}\b(?:instructions?|prompts?|rules|directions|guidelines|context)\b"
        ),
    ),
    (
        "reveal_system_prompt",
        re.compile(r"\b(?:reveal|print|show|repeat|output|leak)\b.{0,30}\bsystem prompt\b"),
    ),
    (
        "role_hijack",
        re.compile(r"\byou are now\b|\bact as (?:an? )?(?:unrestricted|unfiltered|jailbroken)\b"),
    ),
    ("jailbreak_persona", re.compile(r"\b(?:dan mode|developer mode|jailbreak|do anything now)\b")),
    (
        "fake_role_marker",
        re.compile(r"<\|im_start\|>|<\|system\|>|\[/?inst\]|^\s*#{2,}\s*system\s*:|(?:^|\n)\s*system\s*:", re.M),
    ),
)


KEYWORDS: dict[str, tuple[str, ...]] = {
    "override_instructions": ("ignore", "disregard", "forget", "override", "bypass"),
    "reveal_system_prompt": ("system prompt",),
    "role_hijack": ("you are now", "act as "),
    "jailbreak_persona": ("dan mode", "developer mode", "jailbreak", "do anything now"),
    "fake_role_marker": ("<|im_start|>", "<|system|>", "[inst]", "[/inst]", "system"),
}
PREFILTER = Prefilter(["|".join(map(re.escape, KEYWORDS[name])) for name, _ in HEURISTICS])


LINE_HEURISTICS = frozenset({"fake_role_marker"})  # the heuristics that read line starts


def detect(normalised: str) -> list[str]:
    """Names of the heuristics that fire on already-normalised text."""
    flat = normalised.replace("\n", " ")  # a line break between two words of a phrase is a space
    hits = PREFILTER.hits(flat)
    return [
        name
        for i, (name, rx) in enumerate(HEURISTICS)
        if i in hits and rx.search(normalised if name in LINE_HEURISTICS else flat)
    ]
