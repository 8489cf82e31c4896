"""LLM evaluation suites: small YAML files of probes, checked once with file:line errors.

A suite has up to five sections (policies/llm_eval.yaml is the default and the reference):

- ``counterfactual``: one prompt per paraphrase with ``{placeholders}`` filled from each demographic group;
  the answers of the groups are compared (``answer``: yes_no, choice or text).
- ``bbq``: BBQ-style multiple-choice questions (Parrish et al., "BBQ: A hand-built bias benchmark for
  question answering", Findings of ACL 2022), each asked after an ambiguous and a disambiguated context.
- ``safety``: ``disallowed`` requests the model must refuse and ``benign`` look-alikes it must answer.
- ``leakage``: a system prompt with a planted ``{secret}`` and injection probes; PII the user gives, to see
  whether the model echoes it.
- ``grounding``: documents and questions; answers are checked against the passages pgvector retrieved.

Every probe lists one or more ``prompts``: paraphrases of the same question, scored separately so the
variance across paraphrases is measured.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from llmops_cli.govern.io import YamlDoc, read_yaml, sha256_file

ID = r"^[a-z0-9][a-z0-9._-]{0,79}$"
TOP_KEYS = (
    "version",
    "name",
    "description",
    "system",
    "defaults",
    "refusal_patterns",
    "counterfactual",
    "bbq",
    "safety",
    "leakage",
    "grounding",
    "robustness",
)
AnswerKind = Literal["yes_no", "choice", "text"]
PII_KINDS = ("email", "phone", "credit_card", "iban")
# Synthetic values planted when a PII probe gives none: reserved or published test values, never a person's.
PII_VALUES = {
    "email": "jane.doe.7431@example.com",  # example.com: RFC 2606 reserved domain
    "phone": "+1 202-555-0147",  # 555-0100..0199: NANP numbers reserved for fiction
    "credit_card": "4111 1111 1111 1111",  # the card networks' published Visa test number
    "iban": "DE89 3704 0044 0532 0130 00",  # the IBAN registry's example German IBAN
}


@dataclass(frozen=True)
class Counterfactual:
    id: str
    attribute: str
    groups: dict[str, dict[str, str]]
    prompts: tuple[str, ...]
    answer: AnswerKind
    options: tuple[str, ...]
    max_tokens: int | None
    line: int


@dataclass(frozen=True)
class Bbq:
    id: str
    attribute: str
    ambiguous: str
    disambiguated: str
    questions: tuple[str, ...]
    target: str  # the option naming the group the stereotype is about
    other: str  # the option naming the other group
    unknown: str  # the "cannot be determined" option
    negative: bool  # a negative question: the biased answer is the target (else the other group)
    answer: Literal["target", "other"]  # the right answer after the disambiguating context
    line: int

    @property
    def biased(self) -> str:
        return "target" if self.negative else "other"


@dataclass(frozen=True)
class Safety:
    id: str
    kind: Literal["disallowed", "benign"]
    category: str
    prompts: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Injection:
    id: str
    prompts: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Pii:
    id: str
    kind: str
    value: str
    prompts: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Document:
    id: str
    text: str


@dataclass(frozen=True)
class Question:
    id: str
    prompts: tuple[str, ...]
    answers: tuple[str, ...]
    source: str | None
    answerable: bool
    line: int


@dataclass(frozen=True)
class Suite:
    name: str
    file: Path
    sha256: str
    description: str = ""
    system: str | None = None
    temperature: float = 0.0
    max_tokens: int = 64
    refusal_patterns: tuple[str, ...] = ()
    counterfactual: tuple[Counterfactual, ...] = ()
    bbq: tuple[Bbq, ...] = ()
    safety: tuple[Safety, ...] = ()
    leakage_system: str | None = None
    injections: tuple[Injection, ...] = ()
    pii: tuple[Pii, ...] = ()
    documents: tuple[Document, ...] = ()
    questions: tuple[Question, ...] = ()
    repeat: int = 0
    display: str = ""  # the file as recorded in evidence (project-relative, or llmops:policies/…)

    @property
    def probe_count(self) -> int:
        return sum(
            len(s) for s in (self.counterfactual, self.bbq, self.safety, self.injections, self.pii, self.questions)
        )


# ----------------------------------------------------------------------------------------- loading
def load_suite(path: Path, *, display_name: str | None = None) -> Suite:
    """Parse and check one suite file; every problem is a ConfigError naming file:line and the field."""
    doc = read_yaml(path, "LLM evaluation suite")
    doc = YamlDoc(Path(display_name or str(path)), doc.data, doc.values, doc.keys, doc.text)
    r = _Reader(doc)
    for key in doc.data:
        if key not in TOP_KEYS:
            raise doc.error(f"unknown key {key!r}; known keys: {', '.join(TOP_KEYS)}", str(key))
    if doc.data.get("version", 1) != 1:
        raise doc.error("unsupported suite version (expected 1)", "version")
    name = r.text(doc.data, ("name",), required=True) or ""
    if not re.fullmatch(ID, name):
        raise doc.error(f"suite name {name!r} must be lowercase letters, digits, '.', '_' or '-'", "name")
    defaults = r.mapping(doc.data, ("defaults",), ("temperature", "max_tokens"))
    temperature = r.number(defaults, ("defaults", "temperature"), 0.0, low=0.0, high=2.0)
    max_tokens = r.integer(defaults, ("defaults", "max_tokens"), 64, low=1, high=32768)
    patterns = tuple(r.texts(doc.data, ("refusal_patterns",), required=False))
    for i, p in enumerate(patterns):
        try:
            re.compile(p)
        except re.error as e:
            raise doc.error(f"invalid regular expression: {e}", "refusal_patterns", str(i)) from None
    seen: dict[str, str] = {}
    counterfactual = tuple(_counterfactual(r, item, i, seen) for i, item in r.items(("counterfactual",)))
    bbq = tuple(_bbq(r, item, i, seen) for i, item in r.items(("bbq",)))
    safety_section = r.mapping(doc.data, ("safety",), ("disallowed", "benign"))
    safety = tuple(
        _safety(r, item, kind, i, seen)
        for kind in ("disallowed", "benign")
        for i, item in r.items(("safety", kind), safety_section.get(kind))
    )
    leak = r.mapping(doc.data, ("leakage",), ("system", "injections", "pii"))
    leakage_system = r.text(leak, ("leakage", "system"), required=bool(leak.get("injections")))
    if leakage_system is not None and "{secret}" not in leakage_system:
        raise doc.error("the leakage system prompt must plant the secret: put {secret} in it", "leakage", "system")
    injections = tuple(
        Injection(
            r.probe_id(item, ("leakage", "injections", str(i)), seen),
            r.prompts(item, ("leakage", "injections", str(i))),
            r.line("leakage", "injections", str(i)),
        )
        for i, item in r.items(("leakage", "injections"), leak.get("injections"), keys=("id", "prompts"))
    )
    pii = tuple(_pii(r, item, i, seen) for i, item in r.items(("leakage", "pii"), leak.get("pii")))
    documents, questions = _grounding(r, doc.data.get("grounding"), seen)
    rob = r.mapping(doc.data, ("robustness",), ("repeat",))
    repeat = r.integer(rob, ("robustness", "repeat"), 0, low=0, high=1000)
    suite = Suite(
        name=name,
        file=path,
        sha256=sha256_file(path),
        description=r.text(doc.data, ("description",)) or "",
        system=r.text(doc.data, ("system",)),
        temperature=temperature,
        max_tokens=max_tokens,
        refusal_patterns=patterns,
        counterfactual=counterfactual,
        bbq=bbq,
        safety=safety,
        leakage_system=leakage_system,
        injections=injections,
        pii=pii,
        documents=documents,
        questions=questions,
        repeat=repeat,
        display=display_name or str(path),
    )
    if suite.probe_count == 0:
        raise doc.error(
            "the suite has no probes",
            hint="add counterfactual, bbq, safety, leakage or grounding probes (see policies/llm_eval.yaml)",
        )
    return suite


def _counterfactual(r: _Reader, item: dict[str, Any], i: int, seen: dict[str, str]) -> Counterfactual:
    at = ("counterfactual", str(i))
    keys = ("id", "attribute", "groups", "prompts", "answer", "options", "max_tokens")
    r.known(item, at, keys)
    pid = r.probe_id(item, at, seen)
    attribute = r.label(item, (*at, "attribute"))
    groups_raw = item.get("groups")
    if not isinstance(groups_raw, dict) or len(groups_raw) < 2:
        raise r.doc.error("groups must map at least two group names to their terms", *at, "groups")
    groups: dict[str, dict[str, str]] = {}
    for g, terms in groups_raw.items():
        if not isinstance(g, str) or not re.fullmatch(ID, g):
            raise r.doc.error(f"group name {g!r} must be lowercase letters, digits, '.', '_' or '-'", *at, "groups")
        if not isinstance(terms, dict) or not terms or not all(isinstance(v, (str, int)) for v in terms.values()):
            raise r.doc.error("each group maps placeholder names to the words swapped in", *at, "groups", g)
        groups[g] = {str(k): str(v) for k, v in terms.items()}
    prompts = r.prompts(item, at)
    names = set(groups[next(iter(groups))])
    for g, terms in groups.items():
        if set(terms) != names:
            raise r.doc.error(
                f"group {g!r} defines {sorted(terms)}, but the first group defines {sorted(names)}",
                *at,
                "groups",
                g,
                hint="every group swaps in the same placeholders",
            )
    for j, p in enumerate(prompts):
        used = r.placeholders(p, (*at, "prompts", str(j)))
        missing = used - names
        if missing:
            raise r.doc.error(
                f"placeholder(s) {', '.join(sorted(missing))} not defined by the groups", *at, "prompts", str(j)
            )
        if not used:
            raise r.doc.error("the prompt swaps in nothing: use the groups' {placeholders}", *at, "prompts", str(j))
    answer = item.get("answer", "yes_no")
    if answer not in ("yes_no", "choice", "text"):
        raise r.doc.error(f"answer must be yes_no, choice or text, got {answer!r}", *at, "answer")
    options = tuple(r.texts(item, (*at, "options"), required=answer == "choice"))
    if answer == "choice" and len(options) < 2:
        raise r.doc.error("a choice question needs at least two options", *at, "options")
    max_tokens = r.integer(item, (*at, "max_tokens"), None, low=1, high=32768)
    return Counterfactual(pid, attribute, groups, prompts, answer, options, max_tokens, r.line(*at))


def _bbq(r: _Reader, item: dict[str, Any], i: int, seen: dict[str, str]) -> Bbq:
    at = ("bbq", str(i))
    keys = ("id", "attribute", "ambiguous", "disambiguated", "questions", "options", "polarity", "answer")
    r.known(item, at, keys)
    pid = r.probe_id(item, at, seen)
    attribute = r.label(item, (*at, "attribute"))
    ambiguous = r.text(item, (*at, "ambiguous"), required=True)
    disambiguated = r.text(item, (*at, "disambiguated"), required=True)
    questions = tuple(r.texts(item, (*at, "questions"), required=True))
    options = r.mapping(item, (*at, "options"), ("target", "other", "unknown"))
    values = {k: r.text(options, (*at, "options", k), required=True) for k in ("target", "other", "unknown")}
    if len({v.lower() for v in values.values() if v}) != 3:
        raise r.doc.error("the three options must differ", *at, "options")
    polarity = item.get("polarity", "negative")
    if polarity not in ("negative", "nonnegative"):
        raise r.doc.error(f"polarity must be negative or nonnegative, got {polarity!r}", *at, "polarity")
    answer = item.get("answer")
    if answer not in ("target", "other"):
        raise r.doc.error(
            f"answer must be target or other (the right option after the disambiguating context), got {answer!r}",
            *at,
            "answer",
        )
    return Bbq(
        pid,
        attribute,
        ambiguous or "",
        disambiguated or "",
        questions,
        values["target"] or "",
        values["other"] or "",
        values["unknown"] or "",
        polarity == "negative",
        answer,
        r.line(*at),
    )


def _safety(r: _Reader, item: dict[str, Any], kind: str, i: int, seen: dict[str, str]) -> Safety:
    at = ("safety", kind, str(i))
    r.known(item, at, ("id", "category", "prompts"))
    pid = r.probe_id(item, at, seen)
    category = r.label(item, (*at, "category"))
    return Safety(pid, kind, category, r.prompts(item, at), r.line(*at))  # type: ignore[arg-type]


def _pii(r: _Reader, item: dict[str, Any], i: int, seen: dict[str, str]) -> Pii:
    at = ("leakage", "pii", str(i))
    r.known(item, at, ("id", "kind", "value", "prompts"))
    pid = r.probe_id(item, at, seen)
    kind = item.get("kind")
    if kind not in PII_KINDS:
        raise r.doc.error(f"kind must be one of {', '.join(PII_KINDS)}, got {kind!r}", *at, "kind")
    value = r.text(item, (*at, "value")) or PII_VALUES[kind]
    prompts = r.prompts(item, at)
    for j, p in enumerate(prompts):
        if "value" not in r.placeholders(p, (*at, "prompts", str(j))):
            raise r.doc.error("the prompt must give the personal data: put {value} in it", *at, "prompts", str(j))
    return Pii(pid, kind, value, prompts, r.line(*at))


def _grounding(r: _Reader, raw: Any, seen: dict[str, str]) -> tuple[tuple[Document, ...], tuple[Question, ...]]:
    if raw is None:
        return (), ()
    section = r.mapping({"grounding": raw}, ("grounding",), ("documents", "questions"))
    documents: list[Document] = []
    doc_ids: set[str] = set()
    for i, item in r.items(("grounding", "documents"), section.get("documents"), keys=("id", "text")):
        at = ("grounding", "documents", str(i))
        did = r.label(item, (*at, "id"))
        if did in doc_ids:
            raise r.doc.error(f"duplicate document id {did!r}", *at, "id")
        doc_ids.add(did)
        documents.append(Document(did, r.text(item, (*at, "text"), required=True) or ""))
    questions: list[Question] = []
    keys = ("id", "prompts", "answers", "source", "answerable")
    for i, item in r.items(("grounding", "questions"), section.get("questions"), keys=keys):
        at = ("grounding", "questions", str(i))
        pid = r.probe_id(item, at, seen)
        answerable = item.get("answerable", True)
        if not isinstance(answerable, bool):
            raise r.doc.error("answerable must be true or false", *at, "answerable")
        answers = tuple(r.texts(item, (*at, "answers"), required=answerable))
        source = r.text(item, (*at, "source"), required=answerable)
        if source is not None and source not in doc_ids:
            raise r.doc.error(f"unknown document {source!r}; documents: {', '.join(sorted(doc_ids))}", *at, "source")
        questions.append(Question(pid, r.prompts(item, at), answers, source, answerable, r.line(*at)))
    if questions and not documents:
        raise r.doc.error("grounding questions need documents to retrieve from", "grounding", "documents")
    return tuple(documents), tuple(questions)


class _Reader:
    """Typed field access on a YamlDoc; each failure names file:line and the dotted field."""

    def __init__(self, doc: YamlDoc) -> None:
        self.doc = doc

    def line(self, *path: str) -> int:
        return self.doc.line(*path) or 0

    def known(self, item: dict[str, Any], at: tuple[str, ...], keys: tuple[str, ...]) -> None:
        for key in item:
            if key not in keys:
                raise self.doc.error(f"unknown key {key!r}; known keys: {', '.join(keys)}", *at, str(key))

    def mapping(self, parent: dict[str, Any], at: tuple[str, ...], keys: tuple[str, ...]) -> dict[str, Any]:
        raw = parent.get(at[-1])
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise self.doc.error(f"expected a mapping with {', '.join(keys)}", *at)
        self.known(raw, at, keys)
        return raw

    def items(
        self, at: tuple[str, ...], raw: Any = None, *, keys: tuple[str, ...] | None = None
    ) -> list[tuple[int, dict[str, Any]]]:
        if raw is None and len(at) == 1:
            raw = self.doc.data.get(at[0])
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise self.doc.error("expected a list of probes", *at)
        out = []
        for i, item in enumerate(raw):
            if not isinstance(item, dict):
                raise self.doc.error("each entry must be a mapping", *at, str(i))
            if keys is not None:
                self.known(item, (*at, str(i)), keys)
            out.append((i, item))
        return out

    def text(self, parent: dict[str, Any], at: tuple[str, ...], *, required: bool = False) -> str | None:
        value = parent.get(at[-1])
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise self.doc.error(f"required field {at[-1]!r} is missing", *at)
            return None
        if not isinstance(value, str):
            raise self.doc.error(f"expected text, got {value!r}", *at, hint="put the value in quotes")
        return value.strip()

    def texts(self, parent: dict[str, Any], at: tuple[str, ...], *, required: bool) -> list[str]:
        value = parent.get(at[-1])
        if value is None:
            if required:
                raise self.doc.error(f"required field {at[-1]!r} is missing", *at)
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            raise self.doc.error("expected text or a non-empty list of text", *at)
        for j, v in enumerate(value):
            if not isinstance(v, (str, int, float)) or isinstance(v, bool) or not str(v).strip():
                raise self.doc.error(f"expected text, got {v!r}", *at, str(j))
        return [str(v).strip() for v in value]

    def label(self, parent: dict[str, Any], at: tuple[str, ...]) -> str:
        value = self.text(parent, at, required=True) or ""
        if not re.fullmatch(ID, value):
            raise self.doc.error(f"{at[-1]} {value!r} must be lowercase letters, digits, '.', '_' or '-'", *at)
        return value

    def probe_id(self, item: dict[str, Any], at: tuple[str, ...], seen: dict[str, str]) -> str:
        pid = self.label(item, (*at, "id"))
        if pid in seen:
            raise self.doc.error(f"duplicate probe id {pid!r} (first at {seen[pid]})", *at, "id")
        seen[pid] = f"line {self.line(*at, 'id')}"
        return pid

    def prompts(self, item: dict[str, Any], at: tuple[str, ...]) -> tuple[str, ...]:
        """Paraphrases; only counterfactual and PII prompts are templates (their braces are placeholders)."""
        return tuple(self.texts(item, (*at, "prompts"), required=True))

    def placeholders(self, text: str, at: tuple[str, ...]) -> set[str]:
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
        except ValueError as e:
            raise self.doc.error(f"{e}; write {{{{ and }}}} for literal braces", *at) from None
        bad = [f for f in fields if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", f)]
        if bad:
            raise self.doc.error(f"placeholder {{{bad[0]}}} must be a plain name", *at)
        return fields

    def number(self, parent: dict[str, Any], at: tuple[str, ...], default: float, *, low: float, high: float) -> float:
        value = parent.get(at[-1], default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= float(value) <= high:
            raise self.doc.error(f"expected a number from {low:g} to {high:g}, got {value!r}", *at)
        return float(value)

    def integer(self, parent: dict[str, Any], at: tuple[str, ...], default: Any, *, low: int, high: int) -> Any:
        value = parent.get(at[-1], default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.doc.error(f"expected a whole number from {low} to {high}, got {value!r}", *at)
        return value
