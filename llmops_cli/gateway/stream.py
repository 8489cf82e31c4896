"""Output policies on streamed text through a bounded hold-back window.

Each choice keeps the last ``window`` characters back. Whenever text arrives, the detectors run over the whole
held text; only the part at least ``window`` characters before the end is released (redacted). Any entity of
at most ``window`` characters that starts in the released part is therefore already complete in the buffer
and detected before any of its bytes leave. If a finding straddles the cut, the cut moves to its start; the
buffer is still bounded (``4 × window``): past that, text is released anyway with its findings redacted
(fail closed: a partial match at the end of such an overlong run is redacted too).

Detectors run when at least ``window / 4`` new characters have arrived since the last release, not on every
token chunk: the guarantee is unchanged (released text is still ``window`` away from the end) and a stream of
small chunks costs a quarter of the scans; the first release waits for ``1.25 × window`` characters.
"""

from __future__ import annotations

from llmops_cli.gateway.policy import pii
from llmops_cli.gateway.policy.engine import CompiledPolicy, Decision


class HoldBack:
    def __init__(self, policy: CompiledPolicy, decisions: list[Decision]) -> None:
        self.policy = policy
        self.window = policy.holdback
        self.decisions = decisions
        self.pending = ""
        self.step = max(1, self.window // 4)

    def push(self, text: str) -> str:
        """Add streamed text; return what may be sent now (may be empty). Raises Denied on a `deny` rule."""
        if not self.policy.pii_out:
            return text
        self.pending += text
        cut = len(self.pending) - self.window
        if cut < self.step:
            return ""
        findings = pii.find(self.pending, self.policy.pii_out)
        limit = 4 * self.window
        for f in findings:
            if f.start < cut < f.end:
                cut = f.start if len(self.pending) < limit else f.end
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
