"""The analysis condition language: what it accepts, what it computes, what it refuses."""

from __future__ import annotations

import contextlib
import math
import operator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kprism.model.expr import (
    MAX_DEPTH,
    MAX_LENGTH,
    Condition,
    EvalError,
    ExprError,
    parse,
)


def ev(text: str, result: Any = None) -> bool:
    return parse(text).evaluate(result)


@pytest.mark.parametrize(
    ("text", "result", "want"),
    [
        ("result < 0.05", 0.01, True),
        ("result < 0.05", 0.05, False),
        ("result <= 0.05", 0.05, True),
        ("result > 1", 2, True),
        ("result >= 2", 2, True),
        ("result == 3", 3.0, True),
        ("result != 3", 3, False),
        ("result[0] < 0.05", [0.01, 0.5], True),
        ("result[-1] < 0.05", [0.01, 0.5], False),
        ("result[1] == 0.5", [0.01, 0.5], True),
        ("len(result) == 0", [], True),
        ("len(result) == 2", [1, 2], True),
        ("len(result) == 2", "ab", True),
        ("len(result) == 1", {"a": 1}, True),
        ("isNaN(result)", math.nan, True),
        ("isNaN(result[0])", [1.0], False),
        ("not isNaN(result) and result < 1", 0.5, True),
        ("!isNaN(result) && result < 1", math.nan, False),
        ("isInf(result)", math.inf, True),
        ("result > 0 or result < -10", -20, True),
        ("result > 0 || result < -10", -5, False),
        ("0 <= result < 1", 0.5, True),
        ("0 <= result < 1", 1, False),
        ("1 < 2 < 3 < 4", None, True),
        ("3 > 2 > 2", None, False),
        ('result["status"] == "ok"', {"status": "ok"}, True),
        ("result['checks'][1] > 3", {"checks": [1, 5]}, True),
        ('result == "up"', "up", True),
        ('"ok" in result', "all ok here", True),
        ('"a" in result', {"a": 1}, True),
        ("2 in result", [1, 2, 3], True),
        ("4 not in result", [1, 2, 3], True),
        ("result in [200, 204]", 204, True),
        ("result == [1, 2]", [1, 2], True),
        ("result == [1, 2]", [1, 2, 3], False),
        ("result == nil", None, True),
        ("result == null", None, True),
        ("result == None", None, True),
        ("result == true", True, True),
        ("result == True", True, True),
        ("result == 1", True, False),  # a boolean is not a number
        ("result == false", False, True),
        ("result", True, True),
        ("not result", True, False),
        ("not not result", True, True),
        ("-result < 0", 3, True),
        ("+result == 3", 3, True),
        ("result * 100 < 5", 0.01, True),
        ("result / 2 == 0.25", 0.5, True),
        ("result % 3 == 1", 7, True),
        ("result + 1 - 2 == 0", 1, True),
        ("2 + 3 * 4 == 14", None, True),
        ("(2 + 3) * 4 == 20", None, True),
        ("-2 ** 2 == 4" if False else "- -2 == 2", None, True),
        ("abs(result) < 1", -0.5, True),
        ("min(result) > 0", [3, 1, 2], True),
        ("max(result) == 3", [3, 1, 2], True),
        ("max(1, 5, 3) == 5", None, True),
        ("sum(result) == 6", [1, 2, 3], True),
        ("sum(result) == 0", [], True),
        ("avg(result) == 2", [1, 2, 3], True),
        ("float(result) > 0.5", "0.75", True),
        ("int(result) == 3", 3.9, True),
        ('string(result) == "3"', 3, True),
        ("default(result, 0) == 0", None, True),
        ("default(result, 0) == 0", math.nan, True),
        ("default(result, 0) == 5", 5, True),
        ('"a" < "b"', None, True),
        ('"a" + "b" == "ab"', None, True),
        ("1e-3 == 0.001", None, True),
        (".5 == 0.5", None, True),
        ('"say \\"hi\\"" == result', 'say "hi"', True),
        ("'tab\\there' == result", "tab\there", True),
        ("result and false", True, False),
        ("false and result", 3, False),  # short-circuit: result is never looked at
        ("true or result", 3, True),
        # NaN never passes a comparison: the evaluator's Prometheus rule relies on it
        ("result < 1", math.nan, False),
        ("result >= 0", math.nan, False),
        ("result != result", math.nan, True),
    ],
)
def test_evaluates(text: str, result: Any, want: bool) -> None:
    assert ev(text, result) is want


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ("", 1, "empty condition"),
        ("   ", 1, "empty condition"),
        ("result <", 9, "expected a value, found the end"),
        ("result < < 1", 10, "expected a value"),
        ("result = 1", 8, "'=' is not an operator"),
        ("result & 1", 8, "'&' alone"),
        ("result | 1", 8, "'|' alone"),
        ("result[0", 9, "expected ']'"),
        ("(result < 1", 12, "expected ')'"),
        ("result < 1)", 11, "expected an operator or the end"),
        ("result.status", 7, "unexpected character '.'"),
        ("foo < 1", 1, "unknown name 'foo'"),
        ("__import__('os')", 1, "unknown function '__import__'"),
        ("eval('1')", 1, "unknown function 'eval'"),
        ("len()", 1, "len() takes 1 argument, got 0"),
        ("len(1, 2)", 1, "len() takes 1 argument, got 2"),
        ("default(1)", 1, "default() takes 2 arguments, got 1"),
        ("'open", 1, "a string that is never closed"),
        ("'a\\qb' == result", 3, "unknown escape"),
        ("result < 1 and", 15, "expected a value, found the end"),
        ("and result", 1, "expected a value, found 'and'"),
        ("result @ 1", 8, "unexpected character '@'"),
        ("result[0] < 1e999", 13, "too large"),
        ("[1, 2", 6, "expected ',' or ']'"),
        ("lambda x", 1, "unknown name 'lambda'"),
        ("result if true else 1", 8, "expected an operator or the end"),
        ("result; 1", 7, "unexpected character ';'"),
    ],
)
def test_refuses_with_the_column(text: str, column: int, fragment: str) -> None:
    with pytest.raises(ExprError) as info:
        parse(text)
    assert info.value.column == column, str(info.value)
    assert fragment in str(info.value)
    assert str(info.value).startswith(f"at column {column}: ")


def test_nesting_and_length_are_bounded() -> None:
    deep = "(" * (MAX_DEPTH + 1) + "result" + ")" * (MAX_DEPTH + 1)
    with pytest.raises(ExprError, match="nested more than"):
        parse(deep)
    ok = "(" * (MAX_DEPTH - 1) + "result" + ")" * (MAX_DEPTH - 1)
    assert parse(ok).evaluate(True) is True
    with pytest.raises(ExprError, match="longer than"):
        parse("result == 1 " + " " * MAX_LENGTH)
    with pytest.raises(ExprError, match="nested more than"):
        parse("not " * (MAX_DEPTH + 1) + "result")
    with pytest.raises(ExprError, match="nested more than"):
        parse("-" * (MAX_DEPTH + 1) + "1 < 0")


@pytest.mark.parametrize(
    ("text", "result", "fragment"),
    [
        ("result < 1", "text", "cannot compare the string 'text' < the number 1"),
        ("result < 1", None, "cannot compare nil < the number 1"),
        ("result < 1", [0.5], "cannot compare a list of 1 < the number 1"),
        ("result[0] < 1", [], "index 0 is out of range: a list of 0"),
        ("result[3] < 1", [1, 2], "index 3 is out of range"),
        ("result['a'] < 1", {"b": 1}, "no key 'a'"),
        ("result[0] < 1", {"b": 1}, "an object is indexed by a string"),
        ("result['a'] < 1", [1], "indexed by a whole number"),
        ("result[0] < 1", 5, "cannot index the number 5"),
        ("result", 1, "gave the number 1, not true or false"),
        ("result[0]", ["x"], "gave the string 'x'"),
        ("result and true", 1, "`and` takes true or false, got the number 1"),
        ("result or true", "s", "`or` takes true or false"),
        ("not result", None, "`not` takes true or false, got nil"),
        ("isNaN(result)", [1.0], "isNaN takes a number, got a list of 1"),
        ("isNaN(result)", True, "isNaN takes a number, got true"),
        ("len(result) == 0", 3, "len() takes a list, string or object"),
        ("result / 0 == 1", 1, "division by zero"),
        ("result % 0 == 1", 1, "division by zero"),
        ("result + 1 == 1", "a", "cannot compute the string 'a' + the number 1"),
        ("-result == 1", "a", "cannot compute -the string 'a'"),
        ("min(result) == 1", [], "min() of an empty list"),
        ("max(result) == 1", ["a"], "max takes a number"),
        ("avg(result) == 1", [], "avg() of an empty list"),
        ("float(result) == 1", "x1", "float() of the string 'x1'"),
        ("int(result) == 1", math.nan, "int() of the number nan"),
        ("string(result) == ''", [1], "string() takes a number"),
        ("1 in result", 5, "`in` needs a list"),
        ("1 in result", "abc", "`in` a string needs a string"),
    ],
)
def test_evaluation_errors_name_the_problem(text: str, result: Any, fragment: str) -> None:
    with pytest.raises(EvalError) as info:
        ev(text, result)
    assert fragment in str(info.value)


def test_a_long_string_is_shortened_in_messages() -> None:
    with pytest.raises(EvalError) as info:
        ev("result < 1", "x" * 100)
    assert "..." in str(info.value)
    assert len(str(info.value)) < 120


def test_parse_keeps_the_text() -> None:
    cond = Condition.parse("result < 1")
    assert cond.text == "result < 1"


# -- properties --------------------------------------------------------------------------

numbers = st.one_of(
    st.integers(min_value=-1000, max_value=1000),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(lambda f: round(f, 3)),
)


def _num_text(n: float) -> str:
    return repr(n) if n >= 0 else f"({n!r})"


@st.composite
def arith(draw: st.DrawFn, depth: int = 0) -> tuple[str, Any]:
    """An arithmetic expression over literals and ``result``, with its Python value."""
    if depth > 1 or draw(st.booleans()):
        if draw(st.booleans()):
            return "result", None
        n = draw(numbers)
        return _num_text(n), n
    op = draw(st.sampled_from(["+", "-", "*"]))
    lt, _ = draw(arith(depth + 1))
    rt, _ = draw(arith(depth + 1))
    return f"({lt} {op} {rt})", None


@st.composite
def boolean(draw: st.DrawFn, depth: int = 0) -> str:
    if depth > 2 or draw(st.integers(0, 2)) == 0:
        lt, _ = draw(arith())
        rt, _ = draw(arith())
        op = draw(st.sampled_from(["<", "<=", ">", ">=", "==", "!="]))
        return f"{lt} {op} {rt}"
    kind = draw(st.sampled_from(["and", "or", "not"]))
    if kind == "not":
        return f"not ({draw(boolean(depth + 1))})"
    return f"({draw(boolean(depth + 1))}) {kind} ({draw(boolean(depth + 1))})"


_OPS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


@settings(max_examples=120, deadline=None)
@given(boolean(), numbers)
def test_agrees_with_python_on_arithmetic_and_logic(text: str, result: float) -> None:
    """The oracle is Python itself, on the same text: only in this test, never in kprism."""
    want = eval(text, {"__builtins__": {}}, {"result": result})
    assert parse(text).evaluate(result) is want


@settings(max_examples=200, deadline=None)
@given(
    st.lists(numbers, max_size=5),
    st.sampled_from(list(_OPS)),
    numbers,
    st.integers(-6, 6),
)
def test_indexing_agrees_with_python(items: list[float], op: str, bound: float, i: int) -> None:
    text = f"result[{i}] {op} {_num_text(bound)}" if i >= 0 else f"result[-{-i}] {op} {bound!r}"
    if -len(items) <= i < len(items):
        assert parse(text).evaluate(items) is _OPS[op](items[i], bound)
    else:
        with pytest.raises(EvalError, match="out of range"):
            parse(text).evaluate(items)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_any_text_parses_or_fails_with_a_column(text: str) -> None:
    """No input crashes the parser: it either parses or says where it went wrong."""
    column: int | None = None
    try:
        cond: Condition | None = parse(text)
    except ExprError as exc:
        cond, column = None, exc.column
    if cond is None:
        assert column is not None
        assert 1 <= column <= len(text) + 1 or column == MAX_LENGTH + 1
        return
    with contextlib.suppress(EvalError):
        cond.evaluate(0.5)
