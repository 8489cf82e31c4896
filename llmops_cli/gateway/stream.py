"""Output policies on streamed text through a bounded hold-back window.

Each choice keeps back only the text that could still be, or become, personal data. After every push (the
stream evaluates once per choice per network read) the detectors run over the held text, and the cut (how
far text may leave) is the start of the earliest *live* run at the end: a suffix that a detector could still
be matching when more text arrives (the start of an e-mail or a token, digits that may continue as a card,
phone or IBAN, hex and colons of an IPv6 address, a ``-----BEGIN`` key header). ``_LIVE`` is a deliberately
loose superset of the prefixes of every detector's matches, so ordinary prose leaves as soon as a word is
finished. Findings that straddle the cut move it back to their start.

The window bounds both latency and memory: the cut is never more than ``window`` characters behind the end,
so any entity of at most ``window`` characters that starts in the released part is already complete in the
buffer and detected before any of its bytes leave (the same guarantee as a fixed window, which held every
stream ``window`` characters behind, i.e. the first token about sixteen tokens late). If a finding straddles
the cut the buffer may grow to ``4 × window``; past that, text is released anyway with its findings redacted
(fail closed: a partial match at the end of such an overlong run is redacted too).
"""

from __future__ import annotations

import re

from llmops_cli.gateway.policy import pii
from llmops_cli.gateway.policy.engine import CompiledPolicy, Decision

# A suffix matching this may be the beginning of personal data; see the module docstring. One alternative per
# shape, each a superset of the viable prefixes of the detectors in ``pii.DETECTORS`` it covers; the tests
# check the streamed result against redacting the whole text at once.
_LIVE = re.compile(
    r"(?:"
    r"[A-Za-z0-9._%+-]++(?:@[A-Za-z0-9.-]*+)?"  # e-mail, API-key-like tokens, JWTs, words
    r"|-----BEGIN [A-Z -]*+"  # private key header (has spaces)
    r"|(?i:[a-z]{1,2}(?:\d{1,2}[ a-z0-9]*+)?)"  # IBAN: two letters, two digits, groups with spaces
    r"|[+(\d][\d() .-]*+"  # card, SSN, phone, IPv4: digits with separators
    r"|[0-9A-Fa-f:.]++"  # IPv6 (and IPv4-mapped) addresses
    r")\Z"
)


class HoldBack:
    def __init__(self, policy: CompiledPolicy, decisions: list[Decision]) -> None:
        self.policy = policy
        self.window = policy.holdback
        self.decisions = decisions
        self.pending = ""

    def push(self, text: str, *, evaluate: bool = True) -> str:
        """Add streamed text; return what may be sent now (may be empty). Raises Denied on a `deny` rule.

        ``evaluate=False`` only buffers (more text is already at hand); nothing is released until a push
        that evaluates."""
        if not self.policy.pii_out:
            return text
        self.pending += text
        if not evaluate:
            return ""
        n = len(self.pending)
        live = _LIVE.search(self.pending, max(0, n - self.window))
        cut = live.start() if live is not None else n
        if cut <= 0:
            return ""
        findings = pii.find(self.pending, self.policy.pii_out)
        for f in findings:
            if f.start < cut < f.end:
                cut = f.start if n < 4 * self.window else f.end
                break
        if cut <= 0:
            return ""
        released = [f for f in findings if f.end <= cut]
        out = self._apply(self.pending[:cut], released)
        self.pending = self.pending[cut:]
        return out

    def flush(self) -> str:
        """End of the choice: release the rest."""
        rest, self.pending = self.pending, ""
        if not rest or not self.policy.pii_out:
            return rest
        return self._apply(rest, pii.find(rest, self.policy.pii_out))

    def _apply(self, text: str, findings: list[pii.Finding]) -> str:
        if not findings:
            return text
        return self.policy.apply_pii(text, self.policy.pii_out, "output", self.decisions)
