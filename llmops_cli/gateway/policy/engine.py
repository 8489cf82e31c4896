"""A policy compiled once per (re)load, and the request/response checks built from it.

Request order: auth → model allowlist → size limits → max_tokens cap → content (blocked patterns, injection,
PII) → rate limits (in the app, once the token cost is known). Every rule that fires is recorded as a
:class:`Decision` for the audit log and metrics.

The content checks see every free-text field the model sees (``fields.request_texts``): message ``content`` (a string
or text/refusal parts), ``name``, ``refusal``, ``reasoning_content``/``reasoning``, tool-call and legacy
``function_call`` arguments, ``prediction`` content, completions ``prompt`` and ``suffix``, embeddings
``input``, vLLM's RAG ``documents``. Each field counts as written by its message's role (tool-call arguments by
the assistant), so the injection heuristics skip system messages only. Tool definitions (``tools[].function`` /
``functions[]``: name, description, every string of the parameter schema) and output constraints
(``response_format``, vLLM's ``structured_outputs`` and ``guided_json``/``guided_regex``/``guided_choice``/
``guided_grammar``) are the operator's text, like a system prompt: blocked patterns and PII apply to them, the
injection heuristics do not. The end-user id ``user`` reaches the upstream but not the model: PII only.

Tool-call arguments are JSON text. The policies scan their decoded view (``\\u0020`` and ``\\n`` escapes
cannot hide a blocked phrase), and PII is redacted in the JSON text itself with ``jsontext.JsonEscapes``, which
shows the detectors the decoded text too (``alice\\u0040example.com`` is an e-mail address; a PEM key's ``\\n``
escapes are line breaks) and keeps the text valid JSON. In a response, every string is checked (``fields``: one rule
for streamed and non-streamed replies), and token-level fields (``logprobs``, ``token_ids``, …) are set to null
while an output detector redacts or denies: the tokens would spell out the text a redaction removed.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from llmops_cli.gateway.policy import injection, pii
from llmops_cli.gateway.policy.classifier import ClassifierError, InjectionClassifier
from llmops_cli.gateway.policy.fields import Getter, Setter, ShapeError, any_strings, request_texts, token_prompts
from llmops_cli.gateway.policy.jsontext import JsonEscapes, JsonField
from llmops_cli.gateway.policy.keys import KeyIndex
from llmops_cli.gateway.policy.media import media_urls, refused_media
from llmops_cli.gateway.policy.model import ApiKey, PiiActions, Policy
from llmops_cli.gateway.policy.patterns import BlockedMatcher, normalise, readable
from llmops_cli.gateway.policy.replyfields import (
    choices_fields,
    drop_token_fields,
    plain_reply_strings,
    reply_fields,
)

# Fields a client might use to steer the upstream (LiteLLM's `api_base` leak): never forwarded. vLLM's
# disaggregated-serving parameters are a router's, behind the gateway: `kv_transfer_params["prompt_token_ids"]` is
# the prompt a decode stage runs instead of tokenizing `messages` (unchecked token ids), and its `remote_host` /
# `remote_port` point the engine at a peer (vllm-project/vllm docs/features/disagg_prefill.md and
# vllm/entrypoints/openai/kv_transfer_params_sanitizer.py; `ec_transfer_params` is the encoder cache's twin).
# `request_id` names the request through vLLM's engine (another key's id, reused, collides with it) and `priority`
# orders its queue under priority scheduling (one key would go before all others): vLLM v0.34.0
# vllm/entrypoints/openai/chat_completion/protocol.py. vLLM makes up its own id without one.
UPSTREAM_OVERRIDE_FIELDS = frozenset(
    {
        "kv_transfer_params",
        "ec_transfer_params",
        "request_id",
        "priority",
        "api_base",
        "base_url",
        "api_key",
        "api_version",
        "custom_llm_provider",
        "extra_headers",
        "organization",
        "azure_endpoint",
        "aws_region_name",
        "vertex_project",
        "upstream",
        "proxy",
        "litellm_params",
    }
)


@dataclass(frozen=True)
class Decision:
    rule: str
    action: str
    detail: str = ""


class Denied(Exception):
    """A policy refused the request: HTTP status, OpenAI error type and a stable reason code."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        err_type: str = "invalid_request_error",
        retry_after: float | None = None,
        decisions: list[Decision] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.err_type = err_type
        self.retry_after = retry_after
        self.decisions = decisions or []


# A chat template from the request (top level, or vLLM's `chat_template_kwargs.chat_template`) would replace the
# operator's: it is arbitrary Jinja run by the upstream (vLLM advisories GHSA-x567-49g5-p4cf and others: CPU and
# memory exhaustion), and its text reaches the model unchecked. The other template kwargs (`enable_thinking`, …)
# stay; their strings are checked like user text (see ``_extra_texts``).
_OVERRIDE_FIELDS = UPSTREAM_OVERRIDE_FIELDS | {"chat_template", "chat_template_kwargs"}


def _strip_overrides(body: dict[str, Any], decisions: list[Decision]) -> None:
    """Remove what would steer the upstream or replace its chat template; one ``strip`` decision each."""
    stripped = sorted(UPSTREAM_OVERRIDE_FIELDS.intersection(body))
    for name in stripped:
        del body[name]
    if stripped:
        decisions.append(Decision("upstream_override", "strip", ",".join(stripped)))
    template = []
    if "chat_template" in body:
        del body["chat_template"]
        template.append("chat_template")
    kwargs = body.get("chat_template_kwargs")
    if isinstance(kwargs, dict) and "chat_template" in kwargs:
        del kwargs["chat_template"]
        template.append("chat_template_kwargs.chat_template")
    if template:
        decisions.append(Decision("chat_template_override", "strip", ",".join(template)))


def _actions(a: PiiActions) -> dict[str, str]:
    return {k: v for k, v in a.model_dump().items() if v != "off"}


def model_allowed(patterns: list[str], model: str) -> bool:
    return any(p == "*" or p == model or fnmatch.fnmatchcase(model, p) for p in patterns)


@dataclass
class RequestCheck:
    """What the input policies made of a request: their decisions, the texts the model will see (after
    redaction), and those of them written by anyone but the operator (``system``): what an injection
    classifier reads."""

    decisions: list[Decision]
    texts: list[str]
    user_texts: list[str]
    token_ids: int = 0  # prompt tokens given as ids (``content.token_prompts: allow``)

    @property
    def prompt_tokens(self) -> int:
        """An estimate of the prompt's tokens: four characters a token, plus the token ids."""
        return sum(map(len, self.texts)) // 4 + 1 + self.token_ids


class CompiledPolicy:
    def __init__(self, policy: Policy, source: str = "") -> None:
        self.policy = policy
        self.source = source
        self.keys = KeyIndex(policy)
        self.blocked = BlockedMatcher(policy.content.blocked_patterns)
        self.pii_in = _actions(policy.content.pii.input)
        self.pii_out = _actions(policy.content.pii.output)
        self.holdback = policy.streams.holdback_chars
        # Streamed token logprobs could spell out text the output policies hold back, redact or deny.
        self.strip_logprobs = any(a != "log" for a in self.pii_out.values())
        media = policy.content.media
        self.media_remote = media.remote_urls == "allow"
        self.media_hosts = tuple(h.lower() for h in media.allowed_hosts)
        inj = policy.content.injection
        self.classifier = (
            InjectionClassifier(inj.classifier) if inj.classifier is not None and inj.action != "off" else None
        )
        self._clean_models: set[str] = set()

    # ------------------------------------------------------------------ auth
    def authenticate(self, authorization: str | None, x_api_key: str | None = None) -> ApiKey | None:
        """The caller's key; None when keys are not required and none was given. Raises Denied (401)."""
        token = None
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() == "bearer" and value.strip():
                token = value.strip()
        if x_api_key and x_api_key.strip():
            if token is not None and token != x_api_key.strip():
                raise Denied(
                    400,
                    "ambiguous_credentials",
                    "The request names two different API keys (`Authorization` and `x-api-key`); send one.",
                    err_type="authentication_error",
                )
            token = x_api_key.strip()
        if token is None:
            if self.policy.auth.required:
                raise Denied(
                    401,
                    "missing_api_key",
                    "Missing API key: send `Authorization: Bearer <key>`.",
                    err_type="authentication_error",
                )
            return None
        key = self.keys.lookup(token)
        if key is None:
            raise Denied(401, "invalid_api_key", "Invalid or revoked API key.", err_type="authentication_error")
        return key

    # ------------------------------------------------------------------ request
    def check_request(self, route: str, body: dict[str, Any], key: ApiKey | None) -> list[Decision]:
        """Validate and rewrite ``body`` in place (redaction, clamping, override stripping); the decisions."""
        return self.admit_request(route, body, key).decisions

    def admit_request(self, route: str, body: dict[str, Any], key: ApiKey | None) -> RequestCheck:
        """Validate and rewrite ``body`` in place (redaction, clamping, override stripping). Raises Denied."""
        decisions: list[Decision] = []
        lim = self.policy.limits
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise Denied(400, "missing_model", "`model` is required and must be a string.")
        if not model_allowed(lim.models, model) or (key is not None and not model_allowed(key.models, model)):
            raise Denied(
                403,
                "model_not_allowed",
                f"Model {model!r} is not allowed for this key.",
                err_type="permission_error",
                decisions=[Decision("model_allowlist", "deny", model)],
            )
        self._check_model_name(model, key, decisions)
        if not _OVERRIDE_FIELDS.isdisjoint(body):
            _strip_overrides(body, decisions)
        msgs = body.get("messages")
        if route == "chat":
            if not isinstance(msgs, list) or not msgs:
                raise Denied(400, "invalid_messages", "`messages` must be a non-empty list.")
            if len(msgs) > lim.max_messages:
                raise Denied(
                    400,
                    "too_many_messages",
                    f"At most {lim.max_messages} messages are allowed.",
                    decisions=[Decision("max_messages", "deny", str(len(msgs)))],
                )
        if route != "embeddings":
            self._cap_max_tokens(body, decisions)
            self._check_sampling(body)
        if route != "completions" and msgs:
            self._check_media(msgs, decisions)
        try:
            token_ids = self._check_token_prompts(route, body, decisions)
            return self._check_content(route, body, decisions, token_ids)
        except ShapeError as e:
            raise Denied(400, e.code, e.message, decisions=decisions) from None

    def recordable_model(self, model: Any, key: ApiKey | None) -> str | None:
        """``model`` where it may be recorded (audit log, metric label) although its request was refused: a name
        that would pass :meth:`_check_model_name`, allowed or not; else None. A refused name is the client's free
        text: personal data, a blocked phrase, a megabyte of anything."""
        if not isinstance(model, str) or not model:
            return None
        try:
            self._check_model_name(model, key, [], remember=False)  # (a refused name takes no cache entry)
        except Denied:
            return None
        return model

    def _check_model_name(
        self, model: str, key: ApiKey | None, decisions: list[Decision], *, remember: bool = True
    ) -> None:
        """The model name goes to the upstream, into the audit log and into a metric label: a name the
        operator did not list by name (a wildcard let it through) must be a plain name, with nothing a
        blocked pattern or a PII detector finds in it. Refused rather than redacted: a redacted name would ask
        for another model."""
        listed = model in self.policy.limits.models and (key is None or model in key.models)
        if listed or model in self._clean_models:
            return
        if len(model) > 256 or not model.isprintable() or any(c.isspace() for c in model):
            raise Denied(400, "invalid_model", "`model` must be a model name: printable, no spaces, at most 256.")
        hit = self.blocked.search(normalise(model))
        if hit is not None:
            d = Decision(f"blocked_pattern:{hit}", "deny")
            raise Denied(400, "blocked_content", "The request contains blocked content.", decisions=[*decisions, d])
        if self.pii_in:
            findings = pii.find(model, self.pii_in)
            if findings:
                kinds = sorted({f.kind for f in findings})
                ds = [Decision(f"pii.input.{k}", "deny" if self.pii_in[k] != "log" else "log") for k in kinds]
                if any(self.pii_in[k] != "log" for k in kinds):
                    raise Denied(
                        400,
                        "invalid_model",
                        f"`model` contains personal data ({', '.join(kinds)}); name the model itself.",
                        decisions=[*decisions, *ds],
                    )
                decisions.extend(ds)
                return
        if remember and len(self._clean_models) < 256:  # names found clean under this policy (a reload: afresh)
            self._clean_models.add(model)

    def _check_token_prompts(self, route: str, body: dict[str, Any], decisions: list[Decision]) -> int:
        """A prompt given as token ids (or embeddings) is text the gateway cannot read without the model's
        tokenizer: refused unless ``content.token_prompts: allow``. Returns the number of token ids."""
        field, count = token_prompts(route, body)
        if field is None:
            return 0
        if self.policy.content.token_prompts != "allow":  # noqa: S105 - a policy setting, not a credential
            raise Denied(
                400,
                "token_prompt_not_allowed",
                f"`{field}` holds token ids or embeddings, which this gateway cannot check; send text.",
                decisions=[*decisions, Decision("token_prompt", "deny", field)],
            )
        decisions.append(Decision("token_prompt", "allow", field))
        return count

    def _check_media(self, messages: Any, decisions: list[Decision]) -> None:
        """Refuse a media URL the upstream would fetch unless the policy allows it (see ``media``)."""
        for url in media_urls(messages):
            what = refused_media(url, self.media_remote, self.media_hosts)
            if what is not None:
                raise Denied(
                    400,
                    "media_url_not_allowed",
                    f"This gateway does not let the model server fetch media from {what}; send the media inline "
                    "as a data: URL.",
                    decisions=[*decisions, Decision("media_url", "deny", what)],
                )

    def _cap_max_tokens(self, body: dict[str, Any], decisions: list[Decision]) -> None:
        mt = self.policy.limits.max_tokens
        for field in ("max_tokens", "max_completion_tokens"):
            v = body.get(field)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise Denied(400, "invalid_max_tokens", f"`{field}` must be a positive integer.")
            if mt.cap is not None and v > mt.cap:
                if mt.action == "reject":
                    raise Denied(
                        400,
                        "max_tokens_exceeded",
                        f"`{field}` may be at most {mt.cap}.",
                        decisions=[Decision("max_tokens", "deny", str(v))],
                    )
                body[field] = mt.cap
                decisions.append(Decision("max_tokens", "clamp", f"{v}->{mt.cap}"))

    @property
    def default_max_tokens(self) -> int:
        """``max_tokens`` forwarded (and reserved) for a request that gives none: ``max_tokens.default``, at
        most the cap."""
        mt = self.policy.limits.max_tokens
        return min(mt.default, mt.cap) if mt.cap else mt.default

    def bind_max_tokens(self, body: dict[str, Any]) -> None:
        """A request without ``max_tokens``/``max_completion_tokens`` is forwarded with ``max_tokens:
        <default>``: without one, vLLM generates up to the context length, beyond what was reserved."""
        if body.get("max_tokens") is None and body.get("max_completion_tokens") is None:
            body["max_tokens"] = self.default_max_tokens

    def completion_budget(self, route: str, body: dict[str, Any]) -> int:
        """The most tokens the upstream may generate for ``body`` (checked: see ``_check_sampling``): the
        ``max_tokens`` it is forwarded with, for each of ``max(n, best_of)`` sequences, for each prompt of a
        batched completions request. Embeddings generate none."""
        if route == "embeddings":
            return 0
        v = body.get("max_completion_tokens") or body.get("max_tokens")
        per = v if type(v) is int else self.default_max_tokens
        sequences = max(body.get("n") or 1, body.get("best_of") or 1)
        prompt = body.get("prompt") if route == "completions" else None
        prompts = len(prompt) if type(prompt) is list and prompt and type(prompt[0]) is not int else 1
        return per * sequences * prompts

    def _check_sampling(self, body: dict[str, Any]) -> None:
        """``n`` and ``best_of`` (sequences generated per prompt) are positive integers, or absent."""
        for field in ("n", "best_of"):
            v = body.get(field)
            if v is not None and (type(v) is not int or v < 1):
                raise Denied(400, f"invalid_{field}", f"`{field}` must be a positive integer.")

    def _check_content(
        self, route: str, body: dict[str, Any], decisions: list[Decision], token_ids: int = 0
    ) -> RequestCheck:
        if "user" in body and self.pii_in:
            # The end-user id: not prompt text (the model never sees it), but the upstream logs it and it is
            # often an e-mail address. PII only: a blocked phrase or an injection heuristic would refuse a user
            # for their name, and a blocked phrase there reaches no model.
            for get, put in any_strings(body, "user"):  # (a string; any other shape is checked all the same)
                self.redact_field(get, put, self.pii_in, "input", decisions)
        texts = list(request_texts(route, body))
        if not texts:
            return RequestCheck(decisions, [], [], token_ids)
        normalised = [(role, normalise(get())) for role, get, _ in texts]
        joined = "\n".join(n for _, n in normalised)
        hit = self.blocked.search(joined)
        if hit is not None:
            d = Decision(f"blocked_pattern:{hit}", "deny")
            raise Denied(400, "blocked_content", "The request contains blocked content.", decisions=[*decisions, d])
        self._check_injection([n for role, n in normalised if role != "system"], decisions)
        if self.pii_in:
            # Many fields (a long chat, tool schemas): one prefilter pass over all of them usually says no detector
            # can match anywhere. Valid for JSON text too: its decoded view and what the detectors scan
            # (``JsonEscapes``) differ only in characters that no prefilter pattern contains.
            values = [get() for _, get, _ in texts]
            # could_match reads the normalised view too: a disguised value (NBSP, fullwidth digits) still counts.
            if len(texts) == 1 or pii.could_match("\n".join(values)):
                changed = False
                for _, get, put in texts:
                    changed |= self.redact_field(get, put, self.pii_in, "input", decisions)
                if changed:  # read again, walking afresh: a redacted key has a new name
                    values = [get() for _, get, _ in request_texts(route, body)]
        else:
            values = [get() for _, get, _ in texts]
        user_texts = [v for (role, _, _), v in zip(texts, values, strict=True) if role != "system"]
        return RequestCheck(decisions, values, user_texts, token_ids)

    def _check_injection(self, user_texts: list[str], decisions: list[Decision]) -> None:
        """The injection heuristics over what anyone but the operator wrote (normalised), all texts joined so an
        attack split across messages or fields is seen whole. Report only: they flag, and only the classifier
        (``screen_injection``, after all input checks in ``admission``) refuses."""
        inj = self.policy.content.injection
        if inj.action == "off":
            return
        fired = injection.detect("\n".join(user_texts))
        if len(fired) >= inj.threshold:
            decisions.extend(Decision(f"injection:{name}", "flag") for name in sorted(fired))

    async def screen_injection(self, user_texts: list[str]) -> list[Decision]:
        """The prompt-injection classifier's verdict on the request's non-system texts (as the PII policies left
        them, read through ``patterns.readable``: invisible characters and marks cannot split a word for its
        tokenizer, and every script keeps its letters); [] when the
        policy sets no classifier. Call after :meth:`check_request` and admission. Raises Denied: 400
        ``prompt_injection`` under ``deny``, 503 ``injection_check_unavailable`` when the classifier gives no
        verdict and ``on_error`` is ``closed``."""
        clf = self.classifier
        if clf is None:
            return []
        texts = [readable(t) for t in user_texts]
        try:
            score = await clf.score(texts)
        except ClassifierError as e:
            if clf.cfg.on_error == "open":
                return [Decision("injection:classifier_error", "flag", str(e))]
            raise Denied(
                503,
                "injection_check_unavailable",
                "The prompt-injection check is unavailable; retry shortly.",
                err_type="api_error",
                retry_after=1,
                decisions=[Decision("injection:classifier_error", "deny", str(e))],
            ) from e
        if score < clf.cfg.threshold:
            return []
        action = self.policy.content.injection.action
        d = Decision("injection:classifier", action, f"{score:.3f}")
        if action == "deny":
            raise Denied(400, "prompt_injection", "The request looks like a prompt injection.", decisions=[d])
        return [d]

    # ------------------------------------------------------------------ both directions
    def apply_pii(self, text: str, actions: dict[str, str], direction: str, decisions: list[Decision]) -> str:
        """Apply PII actions; returns ``text`` itself when nothing changed. Raises Denied on `deny`."""
        findings = pii.find(text, actions)
        if not findings:
            return text
        return self.apply_findings(text, findings, actions, direction, decisions)

    @staticmethod
    def apply_findings(
        text: str, findings: list[pii.Finding], actions: dict[str, str], direction: str, decisions: list[Decision]
    ) -> str:
        """Record a decision per finding and redact the ``redact`` ones (findings already computed, e.g. on a
        longer text that ``text`` is the start of). Raises Denied on `deny`."""
        redact = []
        for f in findings:
            act = actions[f.kind]
            decisions.append(Decision(f"pii.{direction}.{f.kind}", act))
            if act == "deny":
                raise Denied(
                    400,
                    "content_policy_violation",
                    f"The {direction} contains personal data ({f.kind}) that this gateway does not allow.",
                    decisions=decisions,
                )
            if act == "redact":
                redact.append(f)
        return pii.redact(text, redact) if redact else text

    def redact_json(self, text: str, actions: dict[str, str], direction: str, decisions: list[Decision]) -> str:
        """:meth:`apply_pii` for JSON text (tool-call arguments): the result stays valid JSON where ``text`` was.
        Returns ``text`` itself when nothing changed."""
        j = JsonEscapes()
        masked = j.mask(text, final=True)
        new = self.apply_pii(masked, actions, direction, decisions)
        return text if new is masked else j.unmask(new)

    def redact_field(
        self, get: Getter, put: Setter, actions: dict[str, str], direction: str, decisions: list[Decision]
    ) -> bool:
        """Apply PII actions to one text field in place (JSON text through :meth:`redact_json`); True when it
        changed."""
        if type(put) is JsonField:
            old = put.raw()
            new = self.redact_json(old, actions, direction, decisions)
        else:
            old = get()
            new = self.apply_pii(old, actions, direction, decisions)
        if new is old:
            return False
        put(new)
        return True

    def redact_output(self, route: str, payload: dict[str, Any], decisions: list[Decision]) -> bool:
        """Check every string of a non-streamed reply, in place (see ``fields``: the same rule as streams);
        True when something changed. Token-level fields are set to null while an output detector redacts or
        denies: their tokens could spell out what was redacted. Raises Denied (``deny``) or
        ``replyfields.ReplyShapeError`` (a reply it cannot check)."""
        choices = payload.get("choices")
        if self.strip_logprobs:
            drop_token_fields(payload)
            for choice in choices if type(choices) is list else ():
                if type(choice) is dict:
                    drop_token_fields(choice)
        if not self.pii_out:
            return False
        plain = plain_reply_strings(payload, route)
        if plain is not None:  # the usual reply: its strings where they stand, without the generic walk
            changed = False
            for holder, key in plain:
                old = holder[key]
                new = self.apply_pii(old, self.pii_out, "output", decisions)
                if new is not old:
                    holder[key] = new
                    changed = True
            return changed
        fields = reply_fields(payload, route)
        if type(choices) is list:
            fields += choices_fields(choices, route, streamed=False)
        changed = False
        for get, put in fields:
            changed |= self.redact_field(get, put, self.pii_out, "output", decisions)
        return changed
