"""PII detection quality and speed on a mixed labelled corpus: llmops and Microsoft Presidio side by side.

The corpus is generated from a seed: support tickets, chats, logs, JSON lines and code, with personal data of
every type the gateway detects (valid values: Luhn, mod 97, libphonenumber, issued SSN ranges; from
``llmops_cli.gateway.testing.pii_values``) and look-alikes that are none (dates, log timestamps, ZIP+4,
coordinates, epochs, ISBNs, numeric ids, never-issued SSNs, versions, hashes, UUIDs). Each document is scored
twice: plain, and obfuscated (values and look-alikes written with Unicode look-alikes and invisible characters,
``pii_values.disguise``). Printed per type: precision, recall, F1 (a prediction is right when it overlaps a
labelled span of its type; each span counts once) and ``whole``, the share of found spans covered entirely
(a phone number found without its country code leaves the country code in clear); then the share of
look-alikes that a detector redacted, and throughput. Throughput is steady state: before a tool is timed it reads
``--warmup`` documents of another seed (both variants), untimed, so one-time costs (imports, libphonenumber's
per-country metadata, compiled patterns) are not counted; each timed corpus is read once, so its values are new
to both tools (no answer is cached); the figure is the median over ``--repeat`` corpora of the variant, the tools
taking turns on each. The issue's target is at least 100 times Presidio's throughput.

Presidio (``pip install presidio-analyzer``) runs with its default recognizers. No spaCy English model is on
PyPI (``en_core_web_sm`` is distributed from GitHub releases), so its NLP engine here is a blank spaCy English
pipeline: the pattern recognizers (e-mail, phone via libphonenumber, credit card, IBAN, US SSN, IP) work as
usual, but context words cannot raise scores (no lemmas), and its NER finds nothing (irrelevant to these
types). Its scores are not thresholded (its default, 0). Types Presidio does not detect (``secret``) are shown
for llmops only. Without presidio-analyzer installed, llmops alone is measured.

``--baseline REV`` adds the detectors as they were at git revision ``REV`` (``pii.py``, ``textview.py`` and
``checksums.py`` read from git, the rest shared) as a third tool, so a change's effect on speed and on every figure
is printed beside its baseline in one run, on the same corpora, taking turns.

    PYTHONPATH=. python benchmarks/pii_corpus.py [--docs N] [--seed S] [--warmup N] [--repeat N] [--baseline REV]
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable

from llmops_cli.gateway.testing import pii_values as pv

Span = tuple[str, int, int]  # kind, start, end
PRESIDIO_TYPES = {
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "CREDIT_CARD": "credit_card",
    "IBAN_CODE": "iban",
    "US_SSN": "us_ssn",
    "IP_ADDRESS": "ip_address",
}
KINDS = ["email", "phone", "credit_card", "iban", "us_ssn", "ip_address", "secret"]

# Sentences per document kind; `{}` is where a value or a look-alike goes.
TEMPLATES = {
    "ticket": [
        "Customer wrote: the value {} is not working since yesterday. ",
        "Please update the record to {} and confirm. ",
        "Reference {} was mentioned during the call. ",
        "Hi team, the contact on file is {}, thanks! ",
        "Escalated: see {} (reported twice). ",
    ],
    "chat": ["user: hey, it's {}\n", "assistant: I have noted {} for you.\n", "user: no wait, use {} instead\n"],
    "log": [
        "2024-05-01T10:00:{:02d}Z INFO worker-3 processed request from {} in 12ms\n",
        "2024-05-01 10:00:{:02d} WARN retry for {} attempt=3\n",
        "[{:02d}] DEBUG cache miss key={} ttl=300\n",
    ],
    "json": ['{{"field": "{}", "seq": {:d}}}\n', '{{"meta": {{"value": "{}"}}, "ok": true, "n": {:d}}}\n'],
    "code": ['config["value"] = "{}"  # set by ops\n', "const VALUE = '{}';\n", "export SETTING={}\n"],
}
SECRET_CONTEXTS = ["export API_KEY={}\n", "token = '{}'\n", "aws_secret_access_key = {}\n"]


def document(rng: random.Random, obfuscate: bool) -> tuple[str, list[Span], list[tuple[int, int]]]:
    """``(text, labelled spans, look-alike spans)``."""
    kind = rng.choice(sorted(TEMPLATES))
    parts: list[str] = []
    spans: list[Span] = []
    looks: list[tuple[int, int]] = []
    pos = 0
    for _ in range(rng.randint(3, 8)):
        roll = rng.random()
        if roll < 0.55:
            t = rng.choice(sorted(pv.GENERATORS))
            value = pv.GENERATORS[t](rng)
            template = rng.choice(TEMPLATES[kind])
            if t == "secret" and rng.random() < 0.5:
                template = rng.choice(SECRET_CONTEXTS)
                if template.startswith("aws_secret"):
                    value = pv.aws_secret_key(rng)
            label: str | None = t
        else:
            value = pv.lookalike(rng)[1]
            template = rng.choice(TEMPLATES[kind])
            label = None
        if obfuscate:
            value = pv.disguise(rng, value)
        before, after = _fill(template, rng)
        start = pos + len(before)
        parts.append(before + value + after)
        if label is not None:
            spans.append((label, start, start + len(value)))
        else:
            looks.append((start, start + len(value)))
        pos += len(before) + len(value) + len(after)
    return "".join(parts), spans, looks


def _fill(template: str, rng: random.Random) -> tuple[str, str]:
    """The text before and after the value slot, with numbered slots filled."""
    marker = "\x00"
    filled = template.replace("{}", marker, 1)
    filled = filled.replace("{:02d}", f"{rng.randint(0, 59):02d}").replace("{:d}", str(rng.randint(1, 999)))
    filled = filled.replace("{{", "{").replace("}}", "}")
    before, after = filled.split(marker, 1)
    return before, after


def corpus(n: int, seed: int, obfuscate: bool) -> list[tuple[str, list[Span], list[tuple[int, int]]]]:
    rng = random.Random(seed)
    return [document(rng, obfuscate) for _ in range(n)]


def llmops_detect() -> Callable[[str], list[Span]]:
    from llmops_cli.gateway.policy import pii

    return lambda text: [(f.kind, f.start, f.end) for f in pii.find(text)]


# The modules that make up the detectors, read from the baseline revision; the rest of the package is shared.
BASELINE_MODULES = ("checksums", "textview", "pii")


def baseline_detect(rev: str) -> Callable[[str], list[Span]]:
    """``pii.find`` as it was at git revision ``rev``: its modules are loaded under their own names, each
    installed as the package's module while the next one loads (so ``pii`` imports the baseline's ``textview``),
    then the current ones are put back."""
    import llmops_cli.gateway.policy as policy

    saved = {name: sys.modules.get(f"{policy.__name__}.{name}") for name in BASELINE_MODULES}
    loaded = {}
    try:
        for name in BASELINE_MODULES:
            path = f"llmops_cli/gateway/policy/{name}.py"
            source = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True, check=True).stdout
            spec = importlib.util.spec_from_loader(f"{policy.__name__}.{name}", loader=None)
            assert spec is not None
            module = importlib.util.module_from_spec(spec)
            exec(compile(source, f"{rev}:{path}", "exec"), module.__dict__)
            sys.modules[spec.name] = module
            setattr(policy, name, module)
            loaded[name] = module
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(f"{policy.__name__}.{name}", None)
            else:
                sys.modules[f"{policy.__name__}.{name}"] = module
                setattr(policy, name, module)
    find = loaded["pii"].find
    return lambda text: [(f.kind, f.start, f.end) for f in find(text)]


def presidio_detect() -> Callable[[str], list[Span]] | None:
    try:
        import spacy
        import tldextract
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import SpacyNlpEngine
    except ImportError:
        return None

    class BlankEnglish(SpacyNlpEngine):  # no spaCy model on PyPI: a blank English pipeline (see the docstring)
        def load(self) -> None:
            self.nlp = {"en": spacy.blank("en")}

    # Presidio's e-mail recognizer asks tldextract, which fetches the public suffix list unless told not to.
    tldextract.extract = tldextract.TLDExtract(suffix_list_urls=())
    engine = BlankEnglish(models=[{"lang_code": "en", "model_name": "blank"}])
    engine.load()
    analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])
    entities = list(PRESIDIO_TYPES)

    def detect(text: str) -> list[Span]:
        return [
            (PRESIDIO_TYPES[r.entity_type], r.start, r.end)
            for r in analyzer.analyze(text=text, language="en", entities=entities)
        ]

    return detect


def throughput(texts: list[str], detect: Callable[[str], list[Span]]) -> float:
    """Characters per second of this process's CPU time over ``texts``, read once (CPU time, so that other work
    on a shared machine does not count; both tools run in one thread)."""
    gc.collect()
    t0 = time.process_time()
    for text in texts:
        detect(text)
    return sum(map(len, texts)) / (time.process_time() - t0)


def score(
    docs: list[tuple[str, list[Span], list[tuple[int, int]]]], detect: Callable[[str], list[Span]]
) -> tuple[dict[str, Counter[str]], float]:
    """Per type counts (tp, fp, fn, whole) and the share of look-alikes redacted."""
    counts: dict[str, Counter[str]] = {k: Counter() for k in KINDS}
    hit_looks = total_looks = 0
    for text, gold, looks in docs:
        pred = detect(text)
        used = [False] * len(gold)
        for kind, s, e in pred:
            match = next(
                (i for i, (gk, gs, ge) in enumerate(gold) if not used[i] and gk == kind and s < ge and gs < e), None
            )
            if match is None:
                counts[kind]["fp"] += 1
                continue
            used[match] = True
            counts[kind]["tp"] += 1
            gs, ge = gold[match][1:]
            if s <= gs and e >= ge:
                counts[kind]["whole"] += 1
        for i, (gk, _, _) in enumerate(gold):
            if not used[i]:
                counts[gk]["fn"] += 1
        for ls, le in looks:
            total_looks += 1
            hit_looks += any(s < le and ls < e for _, s, e in pred)
    return counts, hit_looks / max(1, total_looks)


def prf(c: Counter[str]) -> tuple[float, float, float, float]:
    p = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 0.0
    r = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f, (c["whole"] / c["tp"] if c["tp"] else 0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=200, help="untimed documents each tool reads first")
    ap.add_argument("--repeat", type=int, default=3, help="corpora timed per variant (the median is shown)")
    ap.add_argument("--baseline", metavar="REV", help="also time the detectors as they were at this git revision")
    args = ap.parse_args()
    tools: dict[str, Callable[[str], list[Span]]] = {"llmops": llmops_detect()}
    if args.baseline:
        tools[f"@{args.baseline}"] = baseline_detect(args.baseline)
    presidio = presidio_detect()
    if presidio is not None:
        tools["presidio"] = presidio
    else:
        print("presidio-analyzer is not installed: llmops only (pip install presidio-analyzer)")
    speed: dict[str, list[float]] = {t: [] for t in tools}
    warm = [text for obf in (False, True) for text, _, _ in corpus(args.warmup, args.seed + 1, obf)]
    for fn in tools.values():
        for text in warm:
            fn(text)
    # What is loaded now (Presidio's spaCy pipeline, the corpora) is never garbage: the cyclic collector leaves it
    # alone, so its collections during a timed pass cost what the detectors allocate, not the size of the heap.
    gc.collect()
    gc.freeze()
    for variant in ("plain", "obfuscated"):
        obf = variant == "obfuscated"
        docs = corpus(args.docs, args.seed, obf)
        n_spans = sum(len(g) for _, g, _ in docs)
        n_looks = sum(len(lk) for _, _, lk in docs)
        print(f"\n== {variant}: {len(docs)} documents, {n_spans} labelled spans, {n_looks} look-alikes")
        # Throughput: the median over --repeat corpora of this variant (the scored one first), the tools taking
        # turns on each, so that drift of a shared machine falls on all of them.
        rates: dict[str, list[float]] = {name: [] for name in tools}
        for k in range(args.repeat):
            texts = [t for t, _, _ in (docs if k == 0 else corpus(args.docs, args.seed + 1000 * k, obf))]
            for name, fn in tools.items():
                rates[name].append(throughput(texts, fn))
        results = {name: (*score(docs, fn), statistics.median(rates[name])) for name, fn in tools.items()}
        header = f"{'type':<12}" + "".join(f"{name + ' P/R/F1/whole':>34}" for name in tools)
        print(header)
        for kind in KINDS:
            row = f"{kind:<12}"
            for name, (counts, _, _) in results.items():
                if name == "presidio" and kind not in PRESIDIO_TYPES.values():
                    row += f"{'(not detected)':>34}"
                    continue
                p, r, f, w = prf(counts[kind])
                row += f"{p:>10.3f}{r:>8.3f}{f:>8.3f}{w:>8.3f}"
            print(row)
        for name, (counts, fp_rate, cps) in results.items():
            covered = list(PRESIDIO_TYPES.values()) if name == "presidio" else KINDS
            total: Counter[str] = sum((counts[k] for k in covered), Counter())
            p, r, f, _ = prf(total)
            print(
                f"{name:<10} all types it covers: P {p:.3f} R {r:.3f} F1 {f:.3f}; look-alikes redacted "
                f"{fp_rate:.1%}; {cps / 1e6:.2f} M chars/s"
            )
            speed[name].append(cps)
        if args.baseline:
            base = tools[f"@{args.baseline}"]
            differ = sum(tools["llmops"](text) != base(text) for text, _, _ in docs)
            print(f"findings that differ from @{args.baseline}'s: {differ} of {len(docs)} documents")
    print()
    for name in speed:
        for other in ("presidio", f"@{args.baseline}"):
            if name != other and other in speed and name != "presidio":
                ratio = [a / b for a, b in zip(speed[name], speed[other], strict=True)]
                target = " (target: 100x)" if other == "presidio" else ""
                print(f"throughput {name} / {other}: plain {ratio[0]:.2f}x, obfuscated {ratio[1]:.2f}x{target}")


if __name__ == "__main__":
    main()
