"""Governance policies: YAML rules whose conditions are CEL expressions over one stage's metrics.

Rules are checked when the file is loaded, so a broken rule is bad input (exit 2, ``file:line: rule ID: …``),
never a policy violation: the expression must parse, read only metrics its stage produces, and type-check.
cel-python has no static checker, so the type check evaluates the rule once against a sample of its stage's
metrics built from the stage's schema (each leaf a value of its declared CEL type): a missing overload
(``double >= string``), an unknown function or a result that is not a bool is reported then. Evaluation
errors at check time (a missing attribute, a metric that is null because it could not be measured) make the
rule fail closed, with the reason in its message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from llmops_cli.govern.io import YamlDoc, read_yaml, sha256_file

Severity = Literal["error", "warning"]
Outcome = Literal["pass", "fail", "error"]
RULE_ID = r"^[a-z0-9][a-z0-9._-]{0,79}$"
RULE_KEYS = ("id", "stage", "expr", "severity", "controls", "message", "description")
TOP_KEYS = ("version", "model_card", "rules")
MACROS = {"all", "exists", "exists_one", "map", "filter"}


def stage_schemas() -> dict[str, dict[str, Any]]:
    """Stage name -> the shape of its metrics (nested dicts; ``"*"`` matches any key; a leaf is its CEL type
    name, ``"?"`` when it may be null, or None when untyped)."""
    from llmops_cli.govern.registry import STAGES

    return {name: stage.schema() for name, stage in STAGES.items()}


@dataclass(frozen=True)
class Rule:
    id: str
    stage: str
    expr: str
    severity: Severity
    controls: tuple[str, ...]
    message: str
    file: str
    line: int
    paths: tuple[tuple[str, ...], ...]  # metric paths the expression reads (for reports)
    program: Any = field(compare=False, repr=False)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class PolicySet:
    file: Path
    sha256: str
    rules: tuple[Rule, ...]
    model_card_required: tuple[str, ...]

    @property
    def stages(self) -> set[str]:
        return {r.stage for r in self.rules}


@dataclass(frozen=True)
class RuleResult:
    id: str
    stage: str
    severity: Severity
    outcome: Outcome
    expr: str
    message: str
    detail: str
    controls: tuple[str, ...]
    values: dict[str, Any]
    file: str
    line: int

    def failed(self, fail_on: Severity = "error") -> bool:
        if self.outcome == "pass":
            return False
        return self.severity == "error" or fail_on == "warning"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "stage": self.stage,
            "severity": self.severity,
            "outcome": self.outcome,
            "expr": self.expr,
            "message": self.message,
            "detail": self.detail,
            "controls": list(self.controls),
            "values": self.values,
            "file": self.file,
            "line": self.line,
        }


# ----------------------------------------------------------------------------------------- loading
def load_policies(path: Path, *, display_name: str | None = None) -> PolicySet:
    """Parse and check ``governance.yaml``; every problem is a ConfigError with file:line and the field."""
    doc = read_yaml(path, "governance policy file")
    name = display_name or str(path)
    doc = YamlDoc(Path(name), doc.data, doc.values, doc.keys, doc.text)
    for key in doc.data:
        if key not in TOP_KEYS:
            raise doc.error(f"unknown key {key!r}; known keys: {', '.join(TOP_KEYS)}", str(key))
    if doc.data.get("version", 1) != 1:
        raise doc.error("unsupported policy file version (expected 1)", "version")
    required = _model_card_required(doc)
    raw_rules = doc.data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise doc.error("expected a non-empty list of rules", "rules", hint="see policies/README.md")
    schemas = stage_schemas()
    known_controls = _known_controls()
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_rules):
        rule = _load_rule(doc, i, raw, schemas, known_controls)
        if rule.id in seen:
            raise doc.error(f"duplicate rule id {rule.id!r} (first at line {seen[rule.id]})", "rules", str(i), "id")
        seen[rule.id] = rule.line
        rules.append(rule)
    # The file's bytes, as `govern verify` hashes them: a CRLF file read as text would hash differently.
    return PolicySet(path, sha256_file(path), tuple(rules), required)


def _model_card_required(doc: YamlDoc) -> tuple[str, ...]:
    from llmops_cli.govern.stages.model_card import CARD_FIELDS

    section = doc.data.get("model_card") or {}
    if not isinstance(section, dict):
        raise doc.error("expected a mapping", "model_card")
    for key in section:
        if key != "required_fields":
            raise doc.error(f"unknown key {key!r}; known keys: required_fields", "model_card", str(key))
    fields = section.get("required_fields", [])
    if not isinstance(fields, list):
        raise doc.error("expected a list of model-card field names", "model_card", "required_fields")
    for j, f in enumerate(fields):
        if f not in CARD_FIELDS:
            raise doc.error(
                f"unknown model-card field {f!r}; known fields: {', '.join(CARD_FIELDS)}",
                "model_card",
                "required_fields",
                str(j),
            )
    return tuple(fields)


def _known_controls() -> set[str]:
    from llmops_cli.govern.mappings import control_ids

    return control_ids()


def _load_rule(doc: YamlDoc, i: int, raw: Any, schemas: Mapping[str, Any], known_controls: set[str]) -> Rule:
    at = ("rules", str(i))
    if not isinstance(raw, dict):
        raise doc.error("each rule must be a mapping with id, stage, expr, severity, message", *at)
    for key in raw:
        if key not in RULE_KEYS:
            raise doc.error(f"unknown key {key!r}; known keys: {', '.join(RULE_KEYS)}", *at, str(key))
    for key in ("id", "stage", "expr", "message"):
        value = raw.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise doc.error(f"required field {key!r} is missing", *at, key)
        if not isinstance(value, str):
            raise doc.error(f"{key} must be text, got {value!r}", *at, key, hint="put the value in quotes")
    rid = raw["id"]
    if not re.fullmatch(RULE_ID, rid):
        raise doc.error(f"rule id {rid!r} must be lowercase letters, digits, '.', '_' or '-'", *at, "id")
    stage = raw["stage"]
    if stage not in schemas:
        raise doc.error(f"unknown stage {stage!r}; stages: {', '.join(schemas)}", *at, "stage")
    severity = raw.get("severity", "error")
    if severity not in ("error", "warning"):
        raise doc.error(f"severity must be 'error' or 'warning', got {severity!r}", *at, "severity")
    controls = raw.get("controls", [])
    if not isinstance(controls, list) or not all(isinstance(c, str) for c in controls):
        raise doc.error("controls must be a list of framework IDs such as 'nist-ai-rmf:MEASURE 2.11'", *at, "controls")
    for j, c in enumerate(controls):
        if c not in known_controls:
            raise doc.error(
                f"unknown control {c!r}",
                *at,
                "controls",
                str(j),
                hint="write framework:ID (nist-ai-rmf, iso-42001, sg-genai, eu-ai-act): policies/README.md",
            )
    program, paths = compile_expr(raw["expr"], stage, schemas[stage], doc, at, rule_id=rid)
    line = doc.line(*at, "id") or doc.line(*at) or 0
    return Rule(
        id=rid,
        stage=stage,
        expr=raw["expr"].strip(),
        severity=severity,
        controls=tuple(controls),
        message=raw["message"].strip(),
        file=str(doc.path),
        line=line,
        paths=tuple(paths),
        program=program,
    )


# ----------------------------------------------------------------------------------------- CEL
def compile_expr(
    expr: str,
    stage: str,
    schema: Mapping[str, Any],
    doc: YamlDoc,
    at: Sequence[str],
    *,
    rule_id: str | None = None,
) -> tuple[Any, list[tuple[str, ...]]]:
    import celpy

    def error(message: str, hint: str | None = None) -> Exception:
        from llmops_cli.errors import ConfigError

        where = f"rule {rule_id}" if rule_id else ".".join((*at, "expr"))
        return ConfigError(message, file=str(doc.path), line=doc.line(*at, "expr"), path=where, hint=hint)

    env = celpy.Environment()
    try:
        ast = env.compile(expr)
    except celpy.CELParseError as e:
        raise error(f"invalid CEL expression: {_syntax_message(expr, e)}", hint="see https://cel.dev") from None
    paths = _metric_paths(ast)
    bound = _macro_variables(ast)
    for path in paths:
        root = path[0]
        if root in bound:
            continue
        if root != stage:
            raise error(f"expression reads {root!r}, but a '{stage}' rule can only read '{stage}.…' metrics")
        problem = _check_path(path, schema)
        if problem:
            raise error(problem, hint="see policies/README.md for each stage's metrics")
    program = env.program(ast, functions=_numeric_functions())
    read = [p for p in paths if p[0] not in bound]
    problem = _type_problem(program, stage, schema, read)
    if problem:
        raise error(problem, hint="see policies/README.md for each metric's type")
    return program, read


def _syntax_message(expr: str, e: Any) -> str:
    """Where the parser stopped, in words: no parser class names, no token dumps."""
    line, column = getattr(e, "line", None), getattr(e, "column", None)
    lines = expr.splitlines() or [""]
    token = getattr(e.__context__, "token", None)  # lark's UnexpectedToken: '$END' when input ran out
    if getattr(token, "type", None) == "$END":
        return "the expression ends too early"
    if isinstance(line, int) and isinstance(column, int) and 1 <= line <= len(lines):
        text = lines[line - 1]
        where = f"line {line}, column {column}" if len(lines) > 1 else f"column {column}"
        if column > len(text.rstrip()):
            return f"the expression ends too early ({where})"
        return f"unexpected {text[column - 1 :].split()[0][:20]!r} at {where}"
    return "syntax error"


_SAMPLES: dict[str, Any] = {
    "int": 1,
    "double": 0.5,
    "bool": True,
    "string": "x",
    "list": ["x"],
    "map": {},
    "list[map]": [{}],
}


def _sample(schema: Any, paths: Sequence[tuple[str, ...]]) -> Any:
    """Metrics shaped like ``schema`` with one value of each leaf's type; the keys ``paths`` name exist.

    None when a leaf the rule reads is untyped (then there is nothing to check against)."""
    if not isinstance(schema, dict):
        if schema is None:
            raise LookupError
        return _SAMPLES[schema.rstrip("?")]
    out: dict[str, Any] = {}
    for key, sub in schema.items():
        below = [p[1:] for p in paths if p and p[0] == key]
        if key == "*":
            names = {p[0] for p in paths if p and p[0] != "*" and p[0] not in schema} or {"x"}
            for name in names:
                out[name] = _sample(sub, [p[1:] for p in paths if p and p[0] == name])
        elif sub is not None or below:
            out[key] = _sample(sub, below)
    return out


def _type_problem(program: Any, stage: str, schema: Mapping[str, Any], paths: Sequence[tuple[str, ...]]) -> str | None:
    import celpy

    try:
        sample = _sample(schema, [p[1:] for p in paths])
    except LookupError:
        return None  # reads an untyped metric
    try:
        value = program.evaluate({stage: celpy.json_to_cel(sample)})
    except celpy.CELEvalError as e:
        value = e
    if isinstance(value, celpy.CELEvalError):
        return _type_message(value)
    if not isinstance(value, celpy.celtypes.BoolType):
        return f"the expression gives {_cel_type(type(value).__name__)}, not true/false"
    return None


_OPERATORS = {
    "relation_ge": ">=",
    "relation_gt": ">",
    "relation_le": "<=",
    "relation_lt": "<",
    "relation_eq": "==",
    "relation_ne": "!=",
    "relation_in": "in",
    "addition_add": "+",
    "addition_sub": "-",
    "multiplication_mul": "*",
    "multiplication_div": "/",
    "multiplication_mod": "%",
    "unary_neg": "-",
    "unary_not": "!",
}


def _cel_type(name: str) -> str:
    return {
        "DoubleType": "double",
        "IntType": "int",
        "UintType": "uint",
        "StringType": "string",
        "BoolType": "bool",
        "ListType": "list",
        "MapType": "map",
        "NoneType": "null",
        "float": "double",
        "int": "int",
        "str": "string",
        "bool": "bool",
    }.get(name, name)


def _type_message(e: Any) -> str | None:
    """A type error from the sample evaluation in CEL's words; None for errors that depend on the data."""
    args = tuple(getattr(e, "args", ()))
    text = str(args[0]) if args else ""
    kind = args[1] if len(args) > 1 else None
    if kind is KeyError and text.startswith("undeclared reference to"):
        name = re.search(r"undeclared reference to '([^']+)'", text)
        return f"unknown function or name {name.group(1)!r}" if name else "unknown function or name"
    if kind is not TypeError:
        return None  # a missing key, an index or a division by zero: only real data can tell
    op = re.search(r"Token\('RULE', '(\w+)'\)", text)
    types = [_cel_type(t) for t in re.findall(r"celtypes\.(\w+)'>", text)]
    if op and types:
        symbol = _OPERATORS.get(op.group(1), op.group(1))
        return f"type error: no {symbol!r} for {' and '.join(types)}"
    detail = str(args[2][0]) if len(args) > 2 and isinstance(args[2], tuple) and args[2] else text
    detail = re.sub(r"\b(\w+Type)\b", lambda m: _cel_type(m.group(1)), detail)
    detail = re.sub(r"\(\w+\(([^()]*)\)\)", r"(\1)", detail)
    return f"type error: {detail}"


def _check_path(path: tuple[str, ...], schema: Mapping[str, Any]) -> str | None:
    node: Any = schema
    for depth, part in enumerate(path[1:], start=1):
        if not isinstance(node, dict):
            return f"metric {'.'.join(path[:depth])} has no field {part!r}"
        if part == "*":  # a dynamic index: anything below may exist
            return None
        if part in node:
            node = node[part]
        elif "*" in node:
            node = node["*"]
        else:
            known = ", ".join(k for k in node if k != "*")
            return f"stage '{path[0]}' does not produce metric {'.'.join(path[: depth + 1])!r}; known: {known}"
    return None


def _metric_paths(tree: Any) -> list[tuple[str, ...]]:
    """Maximal member chains rooted at an identifier: ``bias.sex.demographic_parity_ratio`` etc."""
    found: list[tuple[str, ...]] = []

    def chain(node: Any) -> tuple[str, ...] | None:
        if not hasattr(node, "data"):
            return None
        if node.data == "member" and len(node.children) == 1:
            return chain(node.children[0])
        if node.data == "primary" and len(node.children) == 1:
            child = node.children[0]
            if hasattr(child, "data") and child.data == "ident":
                return (str(child.children[0]),)
            return None
        if node.data == "member_dot":
            base = chain(node.children[0])
            return (*base, str(node.children[1])) if base else None
        if node.data == "member_index":
            base = chain(node.children[0])
            if not base:
                return None
            key = _string_literal(node.children[1])
            return (*base, key if key is not None else "*")
        return None

    def visit(node: Any, inside_chain: bool) -> None:
        if not hasattr(node, "data"):
            return
        c = chain(node) if node.data in ("member_dot", "member_index", "primary") else None
        if c is not None and not inside_chain:
            found.append(c)
        for i, child in enumerate(node.children):
            # the first child of member_dot / member_index is the same chain; other children start fresh
            continues = (
                node.data in ("member_dot", "member_index", "member") and i == 0 and (c is not None or inside_chain)
            )
            visit(child, continues)

    visit(tree, False)
    return found


def _string_literal(node: Any) -> str | None:
    """The value of an index expression when it is a plain string literal."""
    import ast as pyast

    cur = node
    while hasattr(cur, "data") and cur.data != "literal" and len(cur.children) == 1:
        cur = cur.children[0]
    if hasattr(cur, "data") and cur.data == "literal":
        tok = str(cur.children[0])
        if tok[:1] in ("'", '"'):
            try:
                value = pyast.literal_eval(tok)
            except (ValueError, SyntaxError):
                return None
            return value if isinstance(value, str) else None
    return None


def _macro_variables(tree: Any) -> set[str]:
    names: set[str] = set()

    def visit(node: Any) -> None:
        if not hasattr(node, "data"):
            return
        if node.data == "member_dot_arg" and len(node.children) >= 3 and str(node.children[1]) in MACROS:
            args = node.children[2]
            first = args.children[0] if hasattr(args, "children") and args.children else None
            c = _metric_paths(first) if first is not None else []
            if c and len(c[0]) == 1:
                names.add(c[0][0])
        for child in node.children:
            visit(child)

    visit(tree)
    return names


def _numeric_functions() -> dict[str, Any]:
    """Comparisons that accept int against double (CEL's heterogeneous numeric comparison)."""
    import operator

    from celpy import celtypes
    from celpy.evaluation import boolean

    numeric = (celtypes.IntType, celtypes.UintType, celtypes.DoubleType)

    def make(op: Any) -> Any:
        def compare(a: Any, b: Any) -> Any:
            if (
                isinstance(a, numeric)
                and isinstance(b, numeric)
                and type(a) is not type(b)
                and not isinstance(a, celtypes.BoolType)
                and not isinstance(b, celtypes.BoolType)
            ):
                return celtypes.BoolType(op(float(a), float(b)))
            return boolean(op)(a, b)

        return compare

    return {
        "_<_": make(operator.lt),
        "_<=_": make(operator.le),
        "_>_": make(operator.gt),
        "_>=_": make(operator.ge),
        "_==_": make(operator.eq),
        "_!=_": make(operator.ne),
    }


# ----------------------------------------------------------------------------------------- evaluation
def evaluate(policies: PolicySet, metrics: Mapping[str, Mapping[str, Any]]) -> list[RuleResult]:
    """Evaluate every rule against its stage's metrics; stages missing from ``metrics`` are an error."""
    import logging

    import celpy

    # cel-python logs every evaluation error at ERROR level; the rule result carries the reason instead.
    logging.getLogger("celpy").setLevel(logging.CRITICAL)
    activations = {stage: celpy.json_to_cel(dict(m)) for stage, m in metrics.items()}
    results: list[RuleResult] = []
    for rule in policies.rules:
        values = {".".join(p): _lookup(metrics.get(rule.stage, {}), p[1:]) for p in rule.paths}
        outcome: Outcome
        detail = ""
        if rule.stage not in activations:
            outcome, detail = "error", f"stage '{rule.stage}' did not run"
        else:
            try:
                value = rule.program.evaluate({rule.stage: activations[rule.stage]})
            except celpy.CELEvalError as e:
                outcome, detail = "error", _eval_reason(e, metrics[rule.stage], rule.paths)
            else:
                if isinstance(value, celpy.CELEvalError):
                    outcome, detail = "error", _eval_reason(value, metrics[rule.stage], rule.paths)
                elif isinstance(value, celpy.celtypes.BoolType):
                    outcome = "pass" if bool(value) else "fail"
                else:
                    outcome, detail = "error", f"expression gave {type(value).__name__}, not true/false"
        results.append(
            RuleResult(
                id=rule.id,
                stage=rule.stage,
                severity=rule.severity,
                outcome=outcome,
                expr=rule.expr,
                message=rule.message,
                detail=detail,
                controls=rule.controls,
                values=values,
                file=rule.file,
                line=rule.line,
            )
        )
    return results


def _lookup(metrics: Any, path: Sequence[str]) -> Any:
    cur = metrics
    for part in path:
        if part == "*":
            return None
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        else:
            return None
    if isinstance(cur, Mapping):
        return None  # a whole sub-tree: not useful in a one-line report
    return cur


def _eval_reason(e: Any, metrics: Mapping[str, Any], paths: Sequence[tuple[str, ...]]) -> str:
    for path in paths:
        cur: Any = metrics
        for depth, part in enumerate(path[1:], start=1):
            if part == "*" or not isinstance(cur, Mapping):
                break
            if part not in cur:
                where = ".".join(path[:depth])
                known = ", ".join(sorted(str(k) for k in cur)[:12])
                return f"cannot evaluate: {where} has no {part!r} (has: {known})"
            cur = cur[part]
    nulls = [".".join(p) for p in paths if _lookup(metrics, p[1:]) is None and _exists(metrics, p[1:])]
    if nulls:
        why = metrics.get("unmeasured")
        if isinstance(why, list) and why:
            return f"cannot evaluate: {', '.join(nulls)} not measured: {'; '.join(str(w) for w in why)}"
        return f"cannot evaluate: {', '.join(nulls)} not available (too few groups, or input missing)"
    args: tuple[Any, ...] = tuple(getattr(e, "args", ()))
    return f"cannot evaluate: {args[0] if args else e}"


def _exists(metrics: Any, path: Sequence[str]) -> bool:
    cur = metrics
    for part in path:
        if not isinstance(cur, Mapping) or part not in cur:
            return False
        cur = cur[part]
    return cur is None
