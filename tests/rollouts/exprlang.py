"""The expression language Argo Rollouts evaluates successCondition/failureCondition in, for the test stand-in.

Argo Rollouts v1.9.0 compiles each condition with github.com/antonmedv/expr v1.15.5 (its go.mod) against the
environment of utils/evaluate/evaluate.go ``EvalCondition`` (``result``, ``asInt``, ``asFloat``, ``isNaN``,
``isInf``, ``isNil``, ``default``) and requires a bool. This module implements the part of that language the
rendered templates (and reasonable hand-written ones) use, with the semantics of that release, read from
expr-lang/expr v1.15.5 (the same code under its new module path):

- operators and precedence: parser/operator/operator.go (``or ||`` 10, ``and &&`` 15, comparisons and ``in``
  20, ``+ -`` 30, ``* / %`` 60, ``** ^`` 100 right-associative, unary ``not ! - +``; the conditional
  ``? :`` below all binary operators, parser/parser.go parseExpression);
- ``&&``/``||`` short-circuit (compiler/compiler.go: OpJumpIfFalse/OpJumpIfTrue), and their operands must be
  bools (checker/checker.go BinaryNode);
- numbers: Go int and float64; ``/`` always gives a float, ``**`` a float, ``%`` needs ints; int and float
  compare and add across types (vm/runtime/generated.go Less, Equal, Add...); NaN compares false;
- indexing (vm/runtime/runtime.go Fetch): a negative index counts from the end, out of range is an error;
- builtins (builtin/builtin.go): ``len``, ``all``/``any``/``none``/``one``/``filter``/``count`` with a predicate
  (``{# > 0}`` or ``# > 0``), ``abs``, ``int``, ``float``, ``max``, ``min``.

Anything outside that raises ``Unsupported`` so a template using it fails the test instead of being judged by
rules this stand-in does not have. Errors (type mismatches, index out of range, a non-bool result) raise
``ExprError``: Argo Rollouts turns those into an Error measurement.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class ExprError(Exception):
    """Compile or run error: the measurement's phase is Error."""


class Unsupported(Exception):
    """A construct this stand-in does not implement."""


_TOKEN = re.compile(
    r"""\s*(?:
    (?P<num>\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\d+)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<op>\*\*|==|!=|<=|>=|&&|\|\||\?\?|\.\.|[-+*/%^<>!()\[\],?:{}#.])
  | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
)""",
    re.X,
)

BINARY = {
    "or": 10, "||": 10, "and": 15, "&&": 15,
    "==": 20, "!=": 20, "<": 20, ">": 20, ">=": 20, "<=": 20, "in": 20,
    "matches": 20, "contains": 20, "startsWith": 20, "endsWith": 20,
    "+": 30, "-": 30, "*": 60, "/": 60, "%": 60, "**": 100, "^": 100,
}  # fmt: skip
RIGHT = {"**", "^"}
UNARY = {"not": 50, "!": 50, "-": 90, "+": 90}
PREDICATES = {"all", "any", "none", "one", "filter", "count"}


@dataclass(frozen=True)
class Tok:
    kind: str  # num | str | op | name | end
    text: str


def tokens(src: str) -> list[Tok]:
    out: list[Tok] = []
    pos = 0
    src = src.rstrip()
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if m is None or m.end() == pos:
            raise ExprError(f"unexpected character {src[pos : pos + 1]!r} at {pos}")
        kind = m.lastgroup or ""
        out.append(Tok(kind, m.group(kind)))
        pos = m.end()
    out.append(Tok("end", ""))
    return out


# ----------------------------------------------------------------------------------------- parser
class Parser:
    def __init__(self, src: str) -> None:
        self.toks = tokens(src)
        self.i = 0
        self.depth_closure = 0

    def peek(self) -> Tok:
        return self.toks[self.i]

    def take(self, text: str | None = None) -> Tok:
        t = self.toks[self.i]
        if text is not None and t.text != text:
            raise ExprError(f"expected {text!r}, got {t.text!r}")
        self.i += 1
        return t

    def parse(self) -> tuple:
        node = self.expression()
        if self.peek().kind != "end":
            raise ExprError(f"unexpected token {self.peek().text!r}")
        return node

    def expression(self) -> tuple:
        cond = self.binary(0)
        if self.peek().text == "?" and self.peek().kind == "op":
            self.take("?")
            yes = self.expression()
            self.take(":")
            no = self.expression()
            return ("cond", cond, yes, no)
        if self.peek().text == "??":
            raise Unsupported("??")
        return cond

    def binary(self, min_prec: int) -> tuple:
        left = self.unary()
        while True:
            t = self.peek()
            op = t.text if t.kind in ("op", "name") else None
            if op == "not" and self.toks[self.i + 1].text == "in":
                raise Unsupported("not in")
            if op not in BINARY or BINARY[op] < min_prec or op in ("?", ":"):
                return left
            if op in ("matches", "contains", "startsWith", "endsWith", "..", "^") and op != "^":
                raise Unsupported(op)
            self.take()
            prec = BINARY[op]
            right = self.binary(prec if op in RIGHT else prec + 1)
            left = ("bin", op, left, right)

    def unary(self) -> tuple:
        t = self.peek()
        if t.text in UNARY and t.kind in ("op", "name"):
            self.take()
            operand = self.binary(UNARY[t.text])
            return ("un", t.text, operand)
        return self.postfix(self.primary())

    def primary(self) -> tuple:
        t = self.take()
        if t.kind == "num":
            return ("lit", float(t.text) if any(c in t.text for c in ".eE") else int(t.text))
        if t.kind == "str":
            return ("lit", _unquote(t.text))
        if t.kind == "name":
            if t.text in ("true", "false"):
                return ("lit", t.text == "true")
            if t.text == "nil":
                return ("lit", None)
            if self.peek().text == "(":
                return self.call(t.text)
            return ("var", t.text)
        if t.text == "(":
            node = self.expression()
            self.take(")")
            return node
        if t.text == "#":
            if not self.depth_closure:
                raise ExprError("# outside a predicate")
            return ("pointer",)
        if t.text == "[":
            items = []
            while self.peek().text != "]":
                items.append(self.expression())
                if self.peek().text == ",":
                    self.take(",")
            self.take("]")
            return ("array", items)
        raise ExprError(f"unexpected token {t.text!r}")

    def call(self, name: str) -> tuple:
        self.take("(")
        args: list[tuple] = []
        if name in PREDICATES:
            args.append(self.expression())
            self.take(",")
            self.depth_closure += 1
            if self.peek().text == "{":
                self.take("{")
                body = self.expression()
                self.take("}")
            else:
                body = self.expression()
            self.depth_closure -= 1
            self.take(")")
            return ("pred", name, args[0], body)
        while self.peek().text != ")":
            args.append(self.expression())
            if self.peek().text == ",":
                self.take(",")
            elif self.peek().text != ")":
                raise ExprError(f"expected , or ) in the call of {name}")
        self.take(")")
        return ("call", name, args)

    def postfix(self, node: tuple) -> tuple:
        while True:
            t = self.peek()
            if t.text == "[":
                self.take("[")
                if self.peek().text == ":":
                    raise Unsupported("slices")
                index = self.expression()
                if self.peek().text == ":":
                    raise Unsupported("slices")
                self.take("]")
                node = ("index", node, index)
            elif t.text == ".":
                raise Unsupported("member access")
            else:
                return node


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)), body)


# ----------------------------------------------------------------------------------------- evaluation
def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _type(v: Any) -> str:
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (list, tuple)):
        return "array"
    return type(v).__name__


def _compare(op: str, a: Any, b: Any) -> bool:
    if _is_num(a) and _is_num(b):
        x, y = float(a), float(b)
        if math.isnan(x) or math.isnan(y):
            return False
        return {"<": x < y, ">": x > y, "<=": x <= y, ">=": x >= y}[op]
    if isinstance(a, str) and isinstance(b, str):
        return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
    raise ExprError(f"invalid operation: {op} (mismatched types {_type(a)} and {_type(b)})")


def _equal(a: Any, b: Any) -> bool:
    if _is_num(a) and _is_num(b):
        return float(a) == float(b)  # NaN == NaN is false, as in Go
    if _type(a) != _type(b):
        return False
    return bool(a == b)


def _arith(op: str, a: Any, b: Any) -> Any:
    if not (_is_num(a) and _is_num(b)):
        if op == "+" and isinstance(a, str) and isinstance(b, str):
            return a + b
        raise ExprError(f"invalid operation: {op} (mismatched types {_type(a)} and {_type(b)})")
    both_int = isinstance(a, int) and isinstance(b, int)
    if op == "/":
        if float(b) == 0.0:
            x = float(a)
            return math.nan if x == 0 or math.isnan(x) else math.copysign(math.inf, x)
        return float(a) / float(b)
    if op in ("**", "^"):
        return math.pow(float(a), float(b))
    if op == "%":
        if not both_int:
            raise ExprError(f"invalid operation: % (mismatched types {_type(a)} and {_type(b)})")
        if b == 0:
            raise ExprError("integer divide by zero")
        return int(math.fmod(a, b))  # Go's % truncates toward zero
    if both_int:
        return {"+": a + b, "-": a - b, "*": a * b}[op]
    return {"+": float(a) + float(b), "-": float(a) - float(b), "*": float(a) * float(b)}[op]


class Evaluator:
    def __init__(self, env: Mapping[str, Any]) -> None:
        self.env = env

    def run(self, node: tuple, pointer: Any = None) -> Any:
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "var":
            if node[1] not in self.env:
                raise ExprError(f"unknown name {node[1]}")
            return self.env[node[1]]
        if kind == "pointer":
            return pointer
        if kind == "array":
            return [self.run(x, pointer) for x in node[1]]
        if kind == "cond":
            c = self.run(node[1], pointer)
            if not isinstance(c, bool):
                raise ExprError(f"non-bool expression (type {_type(c)}) used as condition")
            return self.run(node[2] if c else node[3], pointer)
        if kind == "un":
            v = self.run(node[2], pointer)
            if node[1] in ("!", "not"):
                if not isinstance(v, bool):
                    raise ExprError(f"invalid operation: {node[1]} (mismatched type {_type(v)})")
                return not v
            if not _is_num(v):
                raise ExprError(f"invalid operation: {node[1]} (mismatched type {_type(v)})")
            return -v if node[1] == "-" else v
        if kind == "bin":
            return self.binary(node, pointer)
        if kind == "index":
            return self.index(self.run(node[1], pointer), self.run(node[2], pointer))
        if kind == "call":
            return self.call(node[1], [self.run(a, pointer) for a in node[2]])
        if kind == "pred":
            return self.predicate(node[1], self.run(node[2], pointer), node[3])
        raise Unsupported(kind)

    def binary(self, node: tuple, pointer: Any) -> Any:
        op, left, right = node[1], node[2], node[3]
        if op in ("&&", "and", "||", "or"):
            a = self.run(left, pointer)
            if not isinstance(a, bool):
                raise ExprError(f"invalid operation: {op} (mismatched types {_type(a)} and bool)")
            if (op in ("&&", "and") and not a) or (op in ("||", "or") and a):
                return a
            b = self.run(right, pointer)
            if not isinstance(b, bool):
                raise ExprError(f"invalid operation: {op} (mismatched types bool and {_type(b)})")
            return b
        a, b = self.run(left, pointer), self.run(right, pointer)
        if op == "==":
            return _equal(a, b)
        if op == "!=":
            return not _equal(a, b)
        if op in ("<", ">", "<=", ">="):
            return _compare(op, a, b)
        if op == "in":
            if not isinstance(b, (list, tuple)):
                raise ExprError(f"invalid operation: in (mismatched types {_type(a)} and {_type(b)})")
            return any(_equal(a, x) for x in b)
        return _arith(op, a, b)

    @staticmethod
    def index(seq: Any, i: Any) -> Any:
        if not isinstance(seq, (list, tuple, str)):
            raise ExprError(f"cannot fetch {i} from {_type(seq)}")
        if not (isinstance(i, int) and not isinstance(i, bool)):
            raise ExprError(f"invalid index type {_type(i)}")
        j = len(seq) + i if i < 0 else i
        if not 0 <= j < len(seq):
            raise ExprError(f"index out of range [{i}] with length {len(seq)}")
        return seq[j]

    def call(self, name: str, args: list[Any]) -> Any:
        builtins: dict[str, Callable[..., Any]] = {
            "len": _len,
            "abs": lambda x: abs(x) if _is_num(x) else _bad("abs", x),
            "int": lambda x: int(x) if _is_num(x) else _bad("int", x),
            "float": lambda x: float(x) if _is_num(x) else _bad("float", x),
            "max": lambda *xs: _minmax(max, xs),
            "min": lambda *xs: _minmax(min, xs),
        }
        fn = self.env.get(name) if name in self.env else builtins.get(name)
        if fn is None or not callable(fn):
            raise ExprError(f"unknown func {name}")
        return fn(*args)

    def predicate(self, name: str, seq: Any, body: tuple) -> Any:
        if not isinstance(seq, (list, tuple)):
            raise ExprError(f"builtin {name} takes only array (got {_type(seq)})")
        results = []
        for item in seq:
            r = self.run(body, item)
            if not isinstance(r, bool):
                raise ExprError(f"predicate should return boolean (got {_type(r)})")
            results.append(r)
            # all/any/none stop at the first deciding element (builtin's OpJumpIf... in the loop)
            if name == "all" and not r:
                return False
            if name == "any" and r:
                return True
            if name == "none" and r:
                return False
        if name == "all":
            return True
        if name == "any":
            return False
        if name == "none":
            return True
        if name == "one":
            return sum(results) == 1
        if name == "count":
            return sum(results)
        return [x for x, r in zip(seq, results, strict=True) if r]


def _len(v: Any) -> int:
    if isinstance(v, (list, tuple, str, dict)):
        return len(v)
    raise ExprError(f"invalid argument for len (type {_type(v)})")


def _bad(name: str, v: Any) -> Any:
    raise ExprError(f"invalid argument for {name} (type {_type(v)})")


def _minmax(fn: Callable[..., Any], xs: Sequence[Any]) -> Any:
    if not xs or not all(_is_num(x) for x in xs):
        raise ExprError("invalid argument for max/min")
    return fn(xs)


def evaluate(src: str, env: Mapping[str, Any]) -> Any:
    return Evaluator(env).run(Parser(src).parse())
