"""A non-streamed reply of the usual shape (``replyfields.plain_reply_strings``) is checked without the generic
walk, with the generic result: the property checks generated replies (the usual shape, and replies that differ
from it in one key or value: a custom role, tool calls, an unknown key, a string in ``usage``, a non-standard
``finish_reason``, logprobs, personal data in any string) both ways, under policies that redact, only log and
deny, and compares the reply, the decisions, whether it changed and a refusal."""

from __future__ import annotations

import copy
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmops_cli.gateway.policy import engine
from llmops_cli.gateway.policy.engine import CompiledPolicy, Denied
from llmops_cli.gateway.policy.replyfields import ReplyShapeError, plain_reply_strings

from .conftest import output_pii_policies

EMAIL = "zorblax@example.com"
POLICIES = output_pii_policies()
_TEXT = st.sampled_from(["Hello.", f"Mail {EMAIL} now.", "Call +1 415 555 2671.", "", "é\u200b", "4111 1111 1111 1111"])


def _message() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"role": st.just("assistant"), "content": st.one_of(_TEXT, _TEXT, st.none())},
        optional={"refusal": st.none(), "reasoning_content": _TEXT, "tool_calls": st.sampled_from([None, []])},
    )


def _choice() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"index": st.just(0), "message": _message()},
        optional={"finish_reason": st.sampled_from([None, "stop"]), "stop_reason": st.none(), "logprobs": st.none()},
    )


def _usual_reply() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "id": st.sampled_from(["chatcmpl-1", f"id {EMAIL}"]),
            "object": st.just("chat.completion"),
            "created": st.just(1),
            "model": st.sampled_from(["m-1", f"m {EMAIL}"]),
            "choices": st.lists(_choice(), min_size=1, max_size=2),
        },
        optional={
            "usage": st.sampled_from([None, {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}]),
            "system_fingerprint": st.sampled_from([None, "fp-1", f"fp {EMAIL}"]),
        },
    )


def _first_message(reply: dict[str, Any]) -> dict[str, Any]:
    choice = reply["choices"][0]
    if type(choice.get("message")) is not dict:
        choice["message"] = {"role": "assistant"}
    return choice["message"]


# One change to a usual reply each: where the usual shape ends (a string or key to check, a value the format
# does not fix, something the generic walk refuses).
_CHANGES = {
    "extra key": lambda r: r.update({"extra": EMAIL}),
    "key with null": lambda r: r.update({f"x {EMAIL}": None}),
    "service_tier": lambda r: r.update({"service_tier": EMAIL}),
    "usage text": lambda r: r.update({"usage": {"prompt_tokens": 1, "note": EMAIL}}),
    "usage key": lambda r: r.update({"usage": {EMAIL: 1}}),
    "usage nested": lambda r: r.update({"usage": {"prompt_tokens_details": {"cached_tokens": 1, EMAIL: 2}}}),
    "usage string": lambda r: r.update({"usage": EMAIL}),
    "created string": lambda r: r.update({"created": EMAIL}),
    "id number": lambda r: r.update({"id": 7}),
    "object": lambda r: r.update({"object": f"o {EMAIL}"}),
    "token field": lambda r: r.update({"prompt_logprobs": [{EMAIL: 0.5}]}),
    "choices text": lambda r: r.update({"choices": EMAIL}),
    "choice text": lambda r: r["choices"].append(EMAIL),
    "finish_reason": lambda r: r["choices"][0].update({"finish_reason": f"odd {EMAIL}"}),
    "stop_reason": lambda r: r["choices"][0].update({"stop_reason": EMAIL}),
    "logprobs": lambda r: r["choices"][0].update({"logprobs": {"content": [{"token": EMAIL}]}}),
    "choice key": lambda r: r["choices"][0].update({"extra": EMAIL}),
    "index": lambda r: r["choices"][0].update({"index": EMAIL}),
    "no message": lambda r: r["choices"][0].update({"message": None}),
    "text of completions": lambda r: r["choices"][0].update({"text": EMAIL}),
    "role": lambda r: _first_message(r).update({"role": f"wizard {EMAIL}"}),
    "no role": lambda r: _first_message(r).update({"role": None}),
    "name": lambda r: _first_message(r).update({"name": EMAIL}),
    "message key": lambda r: _first_message(r).update({f"x {EMAIL}": None}),
    "content parts": lambda r: _first_message(r).update({"content": [{"type": "text", "text": EMAIL}]}),
    "tool calls": lambda r: _first_message(r).update({"tool_calls": [{"id": EMAIL, "type": "function"}]}),
    "function_call": lambda r: _first_message(r).update({"function_call": {"name": EMAIL, "arguments": "{}"}}),
    "audio": lambda r: _first_message(r).update({"audio": {"data": "AAAA"}}),
    "reasoning number": lambda r: _first_message(r).update({"reasoning": 5}),
}


def _check(policy: CompiledPolicy, reply: dict[str, Any], route: str) -> tuple[Any, ...]:
    reply = copy.deepcopy(reply)
    decisions: list[Any] = []
    try:
        changed: Any = policy.redact_output(route, reply, decisions)
    except (Denied, ReplyShapeError) as e:
        changed = (type(e).__name__, str(e))
    return reply, decisions, changed


def _generic(reply: dict[str, Any], route: str) -> None:
    return None


@pytest.mark.parametrize("change", [None, *sorted(_CHANGES)])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_usual_reply(), st.sampled_from(sorted(POLICIES)), st.sampled_from(["chat", "chat", "chat", "completions"]))
def test_usual_replies_are_checked_without_the_walk_with_the_walks_result(
    change: str | None, reply: dict[str, Any], name: str, route: str
) -> None:
    if change is not None:
        _CHANGES[change](reply)
    policy = POLICIES[name]
    short = _check(policy, reply, route)
    with mock.patch.object(engine, "plain_reply_strings", _generic):
        generic = _check(policy, reply, route)
    assert short == generic


def test_a_vllm_reply_is_usual() -> None:
    """Not a vacuous property: the reply vLLM sends is of the usual shape, and its strings are all checked."""
    reply = {
        "id": "chatcmpl-9",
        "object": "chat.completion",
        "created": 5,
        "model": "m-1",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": f"Mail {EMAIL}", "refusal": None, "tool_calls": []},
                "logprobs": None,
                "finish_reason": "stop",
                "stop_reason": None,
            }
        ],
        "usage": {"prompt_tokens": 3, "total_tokens": 5, "completion_tokens": 2, "prompt_tokens_details": None},
        "prompt_logprobs": None,
    }
    got = plain_reply_strings(reply, "chat")
    assert got is not None and [k for _, k in got] == ["id", "model", "content"]
    assert POLICIES["redact"].redact_output("chat", reply, []) is True
    assert reply["choices"][0]["message"]["content"] == "Mail [REDACTED:EMAIL]"
