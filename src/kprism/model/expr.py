"""The condition language of analysis metrics: small, safe, and never Python's ``eval``.

A metric's ``successCondition`` / ``failureCondition`` is an expression over ``result``,
what the provider measured (a number, a list of numbers for a Prometheus vector, a string
or JSON from an HTTP check)::

    result[0] < 0.05
    len(result) == 0 or isNaN(result[0])
    result >= 0.95 and result <= 1
    result["status"] == "ok" && !(result["checks"][0] > 3)

Grammar (lowest precedence first)::

    expr    := or
    or      := and   (("or"  | "||") and)*
    and     := not   (("and" | "&&") not)*
    not     := ("not" | "!") not | compare
    compare := sum   (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not in") sum)*   chained as in Python
    sum     := product (("+" | "-") product)*
    product := unary   (("*" | "/" | "%") unary)*
    unary   := "-" unary | "+" unary | postfix
    postfix := atom ("[" expr "]")*
    atom    := number | string | true | false | nil | result | NAME "(" args ")" | "(" expr ")" | "[" items "]"

Functions: ``len``, ``isNaN``, ``isInf``, ``abs``, ``min``, ``max``, ``sum``, ``avg``,
``float``, ``int``, ``string``, ``default(x, fallback)`` (``fallback`` when ``x`` is nil or
NaN). ``true``/``false``/``nil`` may also be written ``True``/``False``/``None``/``null``.

It is its own tokenizer and recursive-descent parser (so a mistake is reported with its
column, and nothing but the nodes below can ever be built) and a tree-walking evaluator
with strict types: ``and``/``or``/``not`` take booleans, ordering compares numbers with
numbers and strings with strings, and the whole condition must give ``true`` or
``false``. Anything else is an :class:`EvalError`, which the evaluator turns into an
*Error* measurement, never a pass. Lists are at most :data:`MAX_ITEMS` long and strings
at most :data:`MAX_TEXT` characters in literals, so an expression cannot build anything
large. Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_LENGTH = 1000  # characters in one condition
MAX_DEPTH = 40  # nesting of parentheses, indexes and calls
MAX_ITEMS = 1000  # items of a list literal
MAX_TEXT = 1000  # characters of a string literal

Value = Any  # None | bool | int | float | str | list[Value] | dict[str, Value]


class ExprError(ValueError):
    """A condition that does not parse; ``column`` is 1-based."""

    def __init__(self, message: str, *, column: int) -> None:
        super().__init__(f"at column {column}: {message}")
        self.column = column
        self.reason = message


class EvalError(ValueError):
    """A condition that parsed but cannot be evaluated on this result (a type mismatch,
    an index out of range, a division by zero)."""


# -- tokens ------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>&&|\|\||==|!=|<=|>=|[<>!+\-*/%()\[\],])
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}


@dataclass(frozen=True)
class _Tok:
    kind: str  # num, str, name, op, end
    text: str
    col: int  # 1-based


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            ch = text[pos]
            if ch in "\"'":
                raise ExprError("a string that is never closed", column=pos + 1)
            if ch == "=":
                raise ExprError("'=' is not an operator: compare with '=='", column=pos + 1)
            if ch in "&|":
                raise ExprError(f"'{ch}' alone is not an operator: use '{ch * 2}'", column=pos + 1)
            raise ExprError(f"unexpected character {ch!r}", column=pos + 1)
        kind = m.lastgroup or ""
        if kind != "ws":
            out.append(_Tok(kind, m.group(), pos + 1))
        pos = m.end()
    out.append(_Tok("end", "", len(text) + 1))
    return out


def _unquote(tok: _Tok) -> str:
    body = tok.text[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1]
            if nxt not in _ESCAPES:
                raise ExprError(f"unknown escape '\\{nxt}' in a string", column=tok.col + i + 1)
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(ch)
            i += 1
    text = "".join(out)
    if len(text) > MAX_TEXT:
        raise ExprError(f"a string of more than {MAX_TEXT} characters", column=tok.col)
    return text


# -- the tree ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Const:
    value: Value


@dataclass(frozen=True)
class Result:
    """The measured value."""


@dataclass(frozen=True)
class ListOf:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Index:
    target: Node
    index: Node
    col: int


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Node, ...]
    col: int


@dataclass(frozen=True)
class Unary:
    op: str  # "-", "+", "not"
    operand: Node
    col: int


@dataclass(frozen=True)
class Binary:
    op: str  # + - * / %
    left: Node
    right: Node
    col: int


@dataclass(frozen=True)
class Compare:
    first: Node
    rest: tuple[tuple[str, Node, int], ...]  # (op, operand, column)


@dataclass(frozen=True)
class Logic:
    op: str  # "and", "or"
    operands: tuple[Node, ...]
    col: int


Node = Const | Result | ListOf | Index | Call | Unary | Binary | Compare | Logic

_CONSTANTS: dict[str, Value] = {
    "true": True,
    "True": True,
    "false": False,
    "False": False,
    "nil": None,
    "null": None,
    "None": None,
}
_CMP = ("==", "!=", "<", "<=", ">", ">=", "in")


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def _take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def _at(self, *texts: str) -> bool:
        return self.tok.kind in ("op", "name") and self.tok.text in texts

    def _expect(self, text: str, what: str) -> _Tok:
        if not (self.tok.kind == "op" and self.tok.text == text):
            raise ExprError(f"expected {what}, found {_shown(self.tok)}", column=self.tok.col)
        return self._take()

    def _nest(self, col: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(f"nested more than {MAX_DEPTH} levels deep", column=col)

    def parse(self) -> Node:
        node = self._or()
        if self.tok.kind != "end":
            raise ExprError(
                f"expected an operator or the end, found {_shown(self.tok)}", column=self.tok.col
            )
        return node

    def _or(self) -> Node:
        col = self.tok.col
        operands = [self._and()]
        while self._at("or", "||"):
            self._take()
            operands.append(self._and())
        return operands[0] if len(operands) == 1 else Logic("or", tuple(operands), col)

    def _and(self) -> Node:
        col = self.tok.col
        operands = [self._not()]
        while self._at("and", "&&"):
            self._take()
            operands.append(self._not())
        return operands[0] if len(operands) == 1 else Logic("and", tuple(operands), col)

    def _not(self) -> Node:
        if self._at("not", "!"):
            tok = self._take()
            self._nest(tok.col)
            node = Unary("not", self._not(), tok.col)
            self.depth -= 1
            return node
        return self._compare()

    def _compare(self) -> Node:
        first = self._sum()
        rest: list[tuple[str, Node, int]] = []
        while True:
            col = self.tok.col
            if self._at(*_CMP):
                op = self._take().text
            elif self._at("not") and self.toks[self.i + 1].text == "in":
                self.i += 2
                op = "not in"
            else:
                break
            rest.append((op, self._sum(), col))
        return Compare(first, tuple(rest)) if rest else first

    def _sum(self) -> Node:
        node = self._product()
        while self._at("+", "-"):
            tok = self._take()
            node = Binary(tok.text, node, self._product(), tok.col)
        return node

    def _product(self) -> Node:
        node = self._unary()
        while self._at("*", "/", "%"):
            tok = self._take()
            node = Binary(tok.text, node, self._unary(), tok.col)
        return node

    def _unary(self) -> Node:
        if self._at("-", "+"):
            tok = self._take()
            self._nest(tok.col)
            node = Unary(tok.text, self._unary(), tok.col)
            self.depth -= 1
            return node
        return self._postfix()

    def _postfix(self) -> Node:
        node = self._atom()
        while self._at("["):
            tok = self._take()
            self._nest(tok.col)
            index = self._or()
            self._expect("]", "']'")
            self.depth -= 1
            node = Index(node, index, tok.col)
        return node

    def _atom(self) -> Node:
        tok = self.tok
        if tok.kind == "num":
            self._take()
            number = float(tok.text)
            if not math.isfinite(number):
                raise ExprError(f"number {tok.text} is too large", column=tok.col)
            is_int = tok.text.isdigit()
            return Const(int(tok.text) if is_int else number)
        if tok.kind == "str":
            self._take()
            return Const(_unquote(tok))
        if tok.kind == "name":
            self._take()
            if tok.text in _CONSTANTS:
                return Const(_CONSTANTS[tok.text])
            if tok.text == "result":
                return Result()
            if tok.text in ("and", "or", "not", "in"):
                raise ExprError(f"expected a value, found '{tok.text}'", column=tok.col)
            if self._at("("):
                return self._call(tok)
            raise ExprError(
                f"unknown name {tok.text!r}: a condition reads `result` (and true, false, nil)",
                column=tok.col,
            )
        if self._at("("):
            self._take()
            self._nest(tok.col)
            node = self._or()
            self._expect(")", "')'")
            self.depth -= 1
            return node
        if self._at("["):
            self._take()
            self._nest(tok.col)
            items = self._items("]")
            self.depth -= 1
            if len(items) > MAX_ITEMS:
                raise ExprError(f"a list of more than {MAX_ITEMS} items", column=tok.col)
            return ListOf(tuple(items))
        raise ExprError(f"expected a value, found {_shown(tok)}", column=tok.col)

    def _call(self, name: _Tok) -> Node:
        if name.text not in FUNCTIONS:
            raise ExprError(
                f"unknown function {name.text!r}: use one of {', '.join(sorted(FUNCTIONS))}",
                column=name.col,
            )
        self._take()  # (
        self._nest(name.col)
        args = self._items(")")
        self.depth -= 1
        low, high = FUNCTIONS[name.text].arity
        if not low <= len(args) <= high:
            want = str(low) if low == high else f"{low} to {high}"
            raise ExprError(
                f"{name.text}() takes {want} argument{'s' if high != 1 else ''}, got {len(args)}",
                column=name.col,
            )
        return Call(name.text, tuple(args), name.col)

    def _items(self, close: str) -> list[Node]:
        items: list[Node] = []
        if self._at(close):
            self._take()
            return items
        while True:
            items.append(self._or())
            if self._at(","):
                self._take()
                continue
            self._expect(close, f"',' or '{close}'")
            return items


def _shown(tok: _Tok) -> str:
    return "the end" if tok.kind == "end" else f"{tok.text!r}"


@dataclass(frozen=True)
class Condition:
    """A parsed condition: ``Condition.parse(text)``, then ``evaluate(result)``."""

    text: str
    tree: Node

    @classmethod
    def parse(cls, text: str) -> Condition:
        if len(text) > MAX_LENGTH:
            raise ExprError(f"longer than {MAX_LENGTH} characters", column=MAX_LENGTH + 1)
        if not text.strip():
            raise ExprError("empty condition", column=1)
        return cls(text, _Parser(text).parse())

    def evaluate(self, result: Value) -> bool:
        """True or False; :class:`EvalError` when it cannot say."""
        value = _eval(self.tree, result)
        if not isinstance(value, bool):
            raise EvalError(f"`{self.text}` gave {_describe(value)}, not true or false")
        return value


def parse(text: str) -> Condition:
    return Condition.parse(text)


# -- evaluation --------------------------------------------------------------------------


def _describe(value: Value) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)}"
    if isinstance(value, Mapping):
        return f"an object with {len(value)} keys"
    return type(value).__name__


def _number(value: Value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _want_number(name: str, value: Value) -> float:
    if not _number(value):
        raise EvalError(f"{name} takes a number, got {_describe(value)}")
    return float(value)


def _numbers(name: str, args: Sequence[Value]) -> list[float]:
    items = args[0] if len(args) == 1 and isinstance(args[0], list | tuple) else args
    if not items:
        raise EvalError(f"{name}() of an empty list")
    return [_want_number(name, v) for v in items]


def _sum(v: Value) -> Value:
    if isinstance(v, list | tuple) and not v:
        return 0
    return math.fsum(_numbers("sum", [v]))


def _avg(v: Value) -> Value:
    items = _numbers("avg", [v])
    return math.fsum(items) / len(items)


def _len(v: Value) -> Value:
    if isinstance(v, str | list | tuple | Mapping):
        return len(v)
    raise EvalError(f"len() takes a list, string or object, got {_describe(v)}")


def _to_float(v: Value) -> Value:
    if _number(v):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            raise EvalError(f"float() of {_describe(v)}") from None
    raise EvalError(f"float() takes a number or a string, got {_describe(v)}")


def _to_int(v: Value) -> Value:
    number = _to_float(v)
    if not math.isfinite(number):
        raise EvalError(f"int() of {_describe(v)}")
    return int(number)


def _string(v: Value) -> Value:
    if isinstance(v, str):
        return v
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "true" if v else "false"
    if _number(v):
        return repr(v)
    raise EvalError(f"string() takes a number, string or boolean, got {_describe(v)}")


def _default(v: Value, fallback: Value) -> Value:
    if v is None or (_number(v) and math.isnan(v)):
        return fallback
    return v


@dataclass(frozen=True)
class Function:
    arity: tuple[int, int]
    fn: Callable[..., Value]


FUNCTIONS: dict[str, Function] = {
    "len": Function((1, 1), _len),
    "isNaN": Function((1, 1), lambda v: math.isnan(_want_number("isNaN", v))),
    "isInf": Function((1, 1), lambda v: math.isinf(_want_number("isInf", v))),
    "abs": Function((1, 1), lambda v: abs(_want_number("abs", v))),
    "min": Function((1, 100), lambda *a: min(_numbers("min", a))),
    "max": Function((1, 100), lambda *a: max(_numbers("max", a))),
    "sum": Function((1, 1), _sum),
    "avg": Function((1, 1), _avg),
    "float": Function((1, 1), _to_float),
    "int": Function((1, 1), _to_int),
    "string": Function((1, 1), _string),
    "default": Function((2, 2), _default),
}


def _eq(a: Value, b: Value) -> bool:
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_eq(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _order(op: str, a: Value, b: Value) -> bool:
    if not ((_number(a) and _number(b)) or (isinstance(a, str) and isinstance(b, str))):
        raise EvalError(f"cannot compare {_describe(a)} {op} {_describe(b)}")
    match op:
        case "<":
            return bool(a < b)
        case "<=":
            return bool(a <= b)
        case ">":
            return bool(a > b)
        case _:
            return bool(a >= b)


def _contains(a: Value, b: Value) -> bool:
    if isinstance(b, str):
        if not isinstance(a, str):
            raise EvalError(f"`in` a string needs a string, got {_describe(a)}")
        return a in b
    if isinstance(b, list | tuple):
        return any(_eq(a, x) for x in b)
    if isinstance(b, Mapping):
        return a in b if isinstance(a, str) else False
    raise EvalError(f"`in` needs a list, string or object on its right, got {_describe(b)}")


def _compare(op: str, a: Value, b: Value) -> bool:
    match op:
        case "==":
            return _eq(a, b)
        case "!=":
            return not _eq(a, b)
        case "in":
            return _contains(a, b)
        case "not in":
            return not _contains(a, b)
        case _:
            return _order(op, a, b)


def _index(target: Value, index: Value) -> Value:
    if isinstance(target, list | tuple | str):
        if not (isinstance(index, int) and not isinstance(index, bool)):
            raise EvalError(
                f"a list or string is indexed by a whole number, not {_describe(index)}"
            )
        if not -len(target) <= index < len(target):
            raise EvalError(f"index {index} is out of range: {_describe(target)}")
        return target[index]
    if isinstance(target, Mapping):
        if not isinstance(index, str):
            raise EvalError(f"an object is indexed by a string, not {_describe(index)}")
        if index not in target:
            raise EvalError(f"no key {index!r} in {_describe(target)}")
        return target[index]
    raise EvalError(f"cannot index {_describe(target)}")


def _arith(op: str, a: Value, b: Value) -> Value:
    if op == "+" and isinstance(a, str) and isinstance(b, str):
        return a + b
    if not (_number(a) and _number(b)):
        raise EvalError(f"cannot compute {_describe(a)} {op} {_describe(b)}")
    try:
        match op:
            case "+":
                return a + b
            case "-":
                return a - b
            case "*":
                return a * b
            case "/":
                return a / b
            case _:
                return a % b
    except ZeroDivisionError:
        raise EvalError(f"division by zero in {a!r} {op} {b!r}") from None
    except OverflowError:
        raise EvalError(f"{a!r} {op} {b!r} is too large") from None


def _want_bool(op: str, value: Value) -> bool:
    if not isinstance(value, bool):
        raise EvalError(f"`{op}` takes true or false, got {_describe(value)}")
    return value


def _eval(node: Node, result: Value) -> Value:
    match node:
        case Const(value=value):
            return value
        case Result():
            return result
        case ListOf(items=items):
            return [_eval(i, result) for i in items]
        case Index(target=target, index=index):
            return _index(_eval(target, result), _eval(index, result))
        case Call(name=name, args=args):
            return FUNCTIONS[name].fn(*(_eval(a, result) for a in args))
        case Unary(op="not", operand=operand):
            return not _want_bool("not", _eval(operand, result))
        case Unary(op=op, operand=operand):
            value = _eval(operand, result)
            if not _number(value):
                raise EvalError(f"cannot compute {op}{_describe(value)}")
            return -value if op == "-" else +value
        case Binary(op=op, left=left, right=right):
            return _arith(op, _eval(left, result), _eval(right, result))
        case Compare(first=first, rest=rest):
            left = _eval(first, result)
            for op, operand, _col in rest:
                right = _eval(operand, result)
                if not _compare(op, left, right):
                    return False
                left = right
            return True
        case Logic(op="and", operands=operands):
            return all(_want_bool("and", _eval(o, result)) for o in operands)
        case Logic(operands=operands):
            return any(_want_bool("or", _eval(o, result)) for o in operands)
    raise AssertionError(f"unknown node {node!r}")  # pragma: no cover
