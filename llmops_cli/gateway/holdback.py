"""Output policies on streamed text through a bounded hold-back window.

Each choice keeps back only the text that could still be, or become, personal data. After every push (the
stream evaluates once per choice per network read) the cut (how far text may leave) is the start of the
earliest *live* run at the end: a suffix that a detector could still be matching when more text arrives (a
word that may grow into an e-mail address or a token, digits that may continue as a card, phone or IBAN, hex
and colons of an IPv6 address, a ``-----BEGIN`` private key up to its END line). ``_LIVE`` is a deliberately
loose superset of the prefixes of every detector's matches, so ordinary prose leaves as soon as a word is
finished. The cut then moves back out of the word or digit-group run it falls in (``HoldBack._unstick``) and
to the start of any finding that straddles it, so that no candidate of a detector (a longest match that failed
its validator included) and no look-behind crosses it; the released text is redacted with the findings of the
held text, which saw what follows it. So the client gets what redacting the whole completion gives.

A live run is held as long as it is live, whatever its length (a 2 KB JWT, a PEM key block), up to a hard
bound of ``max(HOLD_MAX, 4 × holdback_chars)`` characters (4 KiB by default). Past that bound the held text is
released *redacted as a whole* (``[REDACTED:OVERLONG]``, decision ``pii.output.overlong``), and its
continuation (more of the same run) is dropped as it arrives until the run ends: fail closed, nothing of an
overlong run ever leaves raw. (Only when every enabled output detector is ``log`` does the run leave as is.)
The live search is linear: every alternative starts only where its run starts (look-behinds) and is
possessive, and a run that is being held costs no detector scan until something can be released.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable

from llmops_cli.gateway.policy import pii, textview
from llmops_cli.gateway.policy.engine import CompiledPolicy, Decision

HOLD_MAX = 4096
"""Characters a live run may be held at least; the bound is ``max(HOLD_MAX, 4 × holdback_chars)``."""
OVERLONG = "overlong"  # the placeholder kind and decision of an overlong run released redacted as a whole

# The body of a PEM private key: whitespace, armor headers, base64, literal `\n` escapes, and dashes that do
# not start a complete END line (a partial END at the end is still live). Whitespace and base64 apart, and an
# armor header tried first, as in ``pii.PEM``: else base64 would take a header's name and stop at its colon. In
# masked JSON text (tool-call arguments) the placeholders of `\n`, `\r`, `\t` and `\\` count as whitespace and
# backslash (see ``pii``).
_PEM_END = rf"-----END {pii.PEM_LABEL}-----"
_PEM_BODY = (
    rf"(?:[{pii.PEM_SPACE}]++|{pii.PEM_ARMOR}|[A-Za-z0-9+/=]++|{pii.BACKSLASH}[rn]?"
    rf"|-(?!----END {pii.PEM_LABEL}-----))*+"
)

# A suffix matching this may be the beginning of personal data; see the module docstring. One alternative per
# shape, each a superset of the viable prefixes of the detectors in ``pii.DETECTORS`` it covers; the tests
# check the streamed result against redacting the whole text at once. Each alternative starts only where its
# run starts, so a search costs one pass over the held text.
_LIVE = re.compile(
    r"(?<![\w.%+-])(?P<token>[\w.%+-]++(?:@[A-Za-z0-9.-]*+)?)\Z"  # e-mail, API keys, JWTs, words
    r"|(?<![A-Za-z0-9_-])(?P<pem>-----BEGIN " + _PEM_BODY + r")\Z"  # private key, header to END line
    r"|(?<![A-Za-z0-9])(?P<iban>(?i:[a-z]{1,2}(?:\d{1,2}(?: ?[a-z0-9]{1,4}+){0,8}+ ?)?))\Z"  # IBAN in groups
    r"|(?<![\d() .+-]) *+(?P<digits>[\d().+-][\d() .+-]*+)\Z"  # card, SSN, phone, IPv4: digits, separators
    r"|(?<![0-9A-Fa-f:.])(?P<hex>[0-9A-Fa-f:.]++)\Z"  # IPv6 (and IPv4-mapped) addresses
)
# What continues a run of each shape once it was released as overlong: dropped until the run ends (a private
# key: with its END line).
_CONT = {
    "token": re.compile(r"[\w.%+@-]*+"),
    "pem": re.compile(_PEM_BODY + rf"(?P<end>{_PEM_END})?"),
    "iban": re.compile(r"[A-Za-z0-9]*+"),
    "digits": re.compile(r"[\d() .+-]*+"),
    "hex": re.compile(r"[0-9A-Fa-f:.]*+"),
}
_CONTEXT = 80  # characters of a dropped key body kept (never released) to see its END line arrive split
# How far a cut moves back out of a word or digit-group run: far beyond the longest candidate of a bounded
# detector (about 70 characters), and it keeps a push's cost bounded on adversarial text.
_UNSTICK_MAX = 256


# The detectors read a normalised view (``textview.view``): a character counts as what it folds to there, and an
# invisible one (it folds to nothing) joins the run it is in. The live search runs on the view too.
def _folds_into(c: str, ok: Callable[[str], bool]) -> bool:
    """``ok(c)``, or for a non-ASCII character: it folds to nothing or to some character that is ``ok``."""
    if ok(c):
        return True
    if c.isascii():
        return False
    f = textview.fold(c)
    return not f or any(map(ok, f))


def _word_ascii(c: str) -> bool:
    return c.isalnum() or c in "_.%+@:-"


def _digits_ascii(c: str) -> bool:
    return c.isdecimal() or c in "() .+-"


def _word(c: str) -> bool:  # the characters of e-mails, tokens and IPv6 addresses; every look-behind's class
    if c.isascii():  # (``_folds_into`` inlined for ASCII: this runs for every character a cut moves over)
        return c.isalnum() or c in "_.%+@:-"
    return _folds_into(c, _word_ascii)


def _digits(c: str) -> bool:  # digit groups with separators: cards, phone numbers, SSNs (as `[\d() .+-]`)
    if c.isascii():
        return c.isdecimal() or c in "() .+-"
    return _folds_into(c, _digits_ascii)


def _to_text(ends: list[int] | None, i: int) -> int:
    """The offset in the text of the character at view offset ``i`` (see ``textview.view``)."""
    return i if ends is None else bisect_right(ends, i)


_TAIL = 64  # longer than the longest bounded live shape (an IBAN in groups: 45 characters)


def _live_from(p: str) -> int:
    """Where the live search may start and find what a search of all of ``p`` finds: the last ``_TAIL``
    characters, extended back over a word or digit-group run that crosses into them (every unbounded live
    shape is such a run), or all of ``p`` when it holds a key header (a key body spans lines and spaces).
    Keeps a push that brings many words (a whole reply in one read) from scanning them all."""
    s = len(p) - _TAIL
    if s <= 0 or "-----BEGIN" in p:
        return 0
    while s > 0 and ((_word(p[s - 1]) and _word(p[s])) or (_digits(p[s - 1]) and _digits(p[s]))):
        s -= 1
    return s


class HoldBack:
    def __init__(self, policy: CompiledPolicy, decisions: list[Decision]) -> None:
        self.policy = policy
        self.window = policy.holdback
        self.limit = max(HOLD_MAX, 4 * self.window)
        self.decisions = decisions
        self.pending = ""
        self._drop: re.Pattern[str] | None = None  # after an overlong run: what continues it
        self._dropped = ""  # the last characters of that run (already released as a placeholder)

    def push(self, text: str, *, evaluate: bool = True) -> str:
        """Add streamed text; return what may be sent now (may be empty). Raises Denied on a `deny` rule.

        ``evaluate=False`` only buffers (more text is already at hand); nothing is released until a push
        that evaluates."""
        if not self.policy.pii_out:
            return text
        self.pending += text
        if not evaluate:
            return ""
        if self._drop is not None and not self._drop_run(final=False):
            return ""
        p = self.pending
        n = len(p)
        v, ends = (p, None) if p.isascii() else textview.view(p)  # ASCII text is its own view
        live = _LIVE.search(v, _live_from(v)) if len(v) > _TAIL else _LIVE.search(v)
        if live is None:
            cut = n
        else:
            cut = _to_text(ends, live.start(live.lastgroup or 0))
            if cut and (p[cut - 1] != " " or _digits(p[cut])):  # after a space (prose) it stays
                cut = self._unstick(p, cut)
            if cut == 0 and n <= self.limit:
                return ""  # all of it is one live run: nothing to release, nothing to scan yet
        findings = pii.find(p, self.policy.pii_out)
        moved = True
        while moved:
            moved = False
            for f in findings:
                if f.start >= cut:
                    break
                if cut < f.end:
                    cut = self._unstick(p, f.start)
                    moved = True
                    break
        if n - cut > self.limit and live is not None:
            shape = live.lastgroup or "token"
            return self._overlong(p, cut, findings, shape, _to_text(ends, live.start(shape)))
        if cut <= 0:
            return ""
        out = self._apply(p[:cut], [f for f in findings if f.end <= cut])
        self.pending = p[cut:]
        return out

    def flush(self) -> str:
        """End of the choice: release the rest."""
        if self._drop is not None:
            self._drop_run(final=True)
        rest, self.pending = self.pending, ""
        if not rest or not self.policy.pii_out:
            return rest
        return self._apply(rest, pii.find(rest, self.policy.pii_out))

    @staticmethod
    def _unstick(p: str, cut: int) -> int:
        """Move ``cut`` back while a candidate of a detector could span it (a word, a digit-group run) or a
        detector's look-behind would see different context there (a word character before it)."""
        i = cut
        stop = max(0, cut - _UNSTICK_MAX)
        while True:
            while stop < i < len(p) and ((_word(p[i - 1]) and _word(p[i])) or (_digits(p[i - 1]) and _digits(p[i]))):
                i -= 1
            while i < cut and p[i] == " ":  # no candidate starts with a space
                i += 1
            if i <= stop or not _word(p[i - 1]):
                return i
            i -= 1

    def _overlong(self, p: str, cut: int, findings: list[pii.Finding], shape: str, start: int) -> str:
        """The held text exceeds the bound: release it redacted as a whole, drop what continues its run."""
        head = self._apply(p[:cut], [f for f in findings if f.end <= cut])
        held = p[cut:]
        # Its findings count (a `deny` still denies, `log` still logs), but none of it leaves.
        self._apply(held, [pii.Finding(f.kind, f.start - cut, f.end - cut) for f in findings if f.start >= cut])
        self.pending = ""
        if not any(a in ("redact", "deny") for a in self.policy.pii_out.values()):
            return head + held  # nothing is ever redacted under this policy
        self.decisions.append(Decision(f"pii.output.{OVERLONG}", "redact", f"{len(held)} characters"))
        self._drop = _CONT[shape]
        # A key's END line may arrive split: keep the end of its body to see it whole.
        self._dropped = p[max(start, len(p) - _CONTEXT) :] if shape == "pem" else ""
        return head + pii.PLACEHOLDER.format(kind=OVERLONG.upper())

    def _drop_run(self, *, final: bool) -> bool:
        """Drop the continuation of an overlong run from ``pending``; True once the run has ended."""
        assert self._drop is not None
        ctx = self._dropped
        s = ctx + self.pending
        v, ends = textview.view(s)
        m = self._drop.match(v)
        if m is not None and _to_text(ends, m.end()) < len(ctx):  # the kept body began inside an armor header
            ctx, s = "", self.pending
            v, ends = textview.view(s)
            m = self._drop.match(v)
        end = _to_text(ends, m.end()) if m is not None else 0
        if not final and end >= len(s) and (m is None or m.groupdict().get("end") is None):
            self._dropped = s[-_CONTEXT:] if self._drop is _CONT["pem"] else ""
            self.pending = ""
            return False
        self.pending = s[max(end, len(ctx)) :]
        self._drop = None
        self._dropped = ""
        return True

    def _apply(self, text: str, findings: list[pii.Finding]) -> str:
        """:meth:`CompiledPolicy.apply_pii` with the findings of the held text, which saw what follows ``text``
        (a detector run on ``text`` alone would see its end there: a PEM line, a dotted number)."""
        if not findings:
            return text
        return self.policy.apply_findings(text, findings, self.policy.pii_out, "output", self.decisions)
