"""The stand-in for Argo Rollouts' condition language behaves as expr v1.15.5 and EvaluateResult do (sources in
tests/rollouts/exprlang.py and argo.py): precedence, short-circuits, Go number rules, NaN, index errors, and the
four success/failure combinations."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from .argo import evaluate_result, go_float
from .exprlang import ExprError, Unsupported, evaluate

ENV = {"isNaN": lambda x: isinstance(x, float) and math.isnan(x), "isInf": lambda x: math.isinf(x)}


def ev(src: str, **env: object) -> object:
    return evaluate(src, {**ENV, **env})


@pytest.mark.parametrize(
    ("src", "want"),
    [
        ("1 + 2 * 3 == 7", True),  # * (60) binds tighter than + (30)
        ("2 ** 3 ** 2", 512.0),  # ** is right-associative and gives a float
        ("-2 ** 2", -4.0),  # unary minus (90) below ** (100)
        ("!true && false", False),  # ! (50) binds tighter than && (15)
        ("true || false && false", True),  # && (15) above || (10)
        ("7 / 2", 3.5),  # / always divides as floats
        ("7 % 3", 1),
        ("-7 % 3", -1),  # Go's % truncates toward zero
        ("1 == 1.0", True),  # int and float compare as numbers
        ("1 < 2 ? 'yes' : 'no'", "yes"),
        ("len([1, 2, 3])", 3),
        ("all([1, 2], {# > 0})", True),
        ("any([1, 2], # > 1)", True),
        ("count([1, 2, 3], # >= 2)", 2),
        ("2 in [1, 2]", True),
        ("not (1 > 2)", True),
        ("'a' < 'b'", True),
    ],
)
def test_precedence_and_number_rules(src, want):
    got = ev(src)
    assert got == want and type(got) is type(want)


@pytest.mark.parametrize(
    "src",
    [
        "result[0] > 1",  # an empty vector has no first element
        "result[0.0] > 1",  # an index is an int
        "1 && true",  # && takes bools
        "!1",
        "7.5 % 2",  # % takes ints
        "'a' < 1",
        "unknown > 1",
        "(1 > 2",
    ],
)
def test_errors_are_errors(src):
    with pytest.raises(ExprError):
        ev(src, result=[])


def test_short_circuits_guard_the_index():
    assert ev("len(result) > 0 && result[0] > 1", result=[]) is False
    assert ev("len(result) == 0 || result[0] > 1", result=[]) is True
    assert ev("result[-1]", result=[1.0, 2.0]) == 2.0


def test_nan_compares_false_and_unequal():
    nan = float("nan")
    assert ev("result[0] < 1 || result[0] >= 1", result=[nan]) is False
    assert ev("result[0] != result[0]", result=[nan]) is True
    assert ev("isNaN(result[0])", result=[nan]) is True


def test_what_this_stand_in_does_not_implement_is_refused_not_guessed():
    for src in ("a ?? b", "result[0:1]", "x.y", "'a' matches 'a'"):
        with pytest.raises((Unsupported, ExprError)):
            ev(src, result=[1.0], a=1, b=2, x={})


THRESHOLD = "len(result) > 0 && !isNaN(result[0]) && result[0] <= {t}"


@given(
    values=st.lists(st.floats(allow_infinity=False) | st.just(float("nan")), max_size=3),
    t=st.floats(min_value=0, max_value=1, allow_nan=False),
)
def test_the_rendered_ratio_conditions_match_their_meaning(values, t):
    """success: there is a number and it is within the limit; failure: there is one and it is over; neither
    (Inconclusive) when the query found nothing or NaN (no traffic)."""
    metric = {"successCondition": THRESHOLD.format(t=repr(t)),
              "failureCondition": "len(result) > 0 && !isNaN(result[0]) && result[0] > " + repr(t)}  # fmt: skip
    phase = evaluate_result(values, metric)
    if not values or math.isnan(values[0]):
        assert phase == "Inconclusive"
    else:
        assert phase == ("Successful" if values[0] <= t else "Failed")


@pytest.mark.parametrize(
    ("success", "failure", "want"),
    [
        ("", "", "Successful"),  # no conditions: every measurement passes
        ("result[0] > 1", "", "Failed"),  # only success: not success is failure
        ("", "result[0] > 1", "Successful"),  # only failure: not failure is success
        ("result[0] > 1", "result[0] < 0", "Inconclusive"),  # both false: inconclusive
        ("result[0] < 1", "result[0] < 1", "Failed"),  # both true: failure wins
    ],
)
def test_evaluate_result_combinations(success, failure, want):
    assert evaluate_result([0.5], {"successCondition": success, "failureCondition": failure}) == want


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_sample_values_print_as_go_shortest_floats(v):
    text = go_float(v)
    assert float(text) == v
    assert "e" not in text.lower()
