"""The LLM client: one chunk in, a grounded `LLMResult` out, and nothing ever raised for a bad
answer or a bad connection.

How one call runs (`LLMClient.extract` / `LLMClient.verify`)::

    messages (prompts/) + response model (responses.py)
      -> cache lookup (cache.py)                             hit: no tokens spent
      -> instructor: validate the answer; on a validation error re-ask with the error,
         at most `max_reasks` times
           -> _send: one chat-completions request; transport errors (timeout, 429 with
              Retry-After, 5xx, dropped connection) retried with tenacity, exponential
              backoff + jitter, all inside the call's deadline; each answer body is read
              through `transport.py` (capped at `max_answer_bytes`, cut off at the attempt's
              wall-clock deadline even when it trickles in)
      -> ground strings to offsets, type-signature filter (answers.py, grounding.py); fuzzy
         grounding stops at the call's deadline (the mention is then ungrounded)
      -> LLMResult(status="ok") | LLMResult(status="llm_failed", error=<reason, at most
         `transport.ERROR_CHARS` characters, saying how much was cut>)

A cache that cannot be opened, read or written is a warning: the client goes on without it.

Backends: "openai" (any chat-completions server through the openai SDK, whose own retries are
turned off so that the policy above is the only one) and "local" (llama-cpp-python in process).
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, Self

import instructor
import openai
from instructor.core import IncompleteOutputException, InstructorRetryException
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from hybrid_ie.document import Document, Entity, Relation
from hybrid_ie.errors import HybridIEError, InputError
from hybrid_ie.llm.answers import (
    AnswerBuilder,
    Candidates,
    read_extraction,
    read_verification,
    verify_candidates,
)
from hybrid_ie.llm.cache import ResponseCache, cache_key
from hybrid_ie.llm.config import ConfigError, LLMConfig
from hybrid_ie.llm.grounding import empty_counts, grounding_deadline
from hybrid_ie.llm.prompts import extract_messages, verify_messages
from hybrid_ie.llm.responses import LabelSet, ListCaps, extraction_model, verification_model
from hybrid_ie.llm.transport import AnswerTooLarge, attempt_deadline, bounded_http_client, cut
from hybrid_ie.llm.usage import Usage, cost_of
from hybrid_ie.schema import Schema, load_schema

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
PLACEHOLDER_API_KEY = "not-needed"  # local servers ignore the key; the SDK insists on one


class LLMResult(BaseModel):
    """What the LLM tier found in one chunk, and what it cost."""

    model_config = ConfigDict(extra="forbid")

    task: Literal["extract", "verify"]
    entities: list[Entity] = Field(default_factory=list)
    relations: list[Relation] = Field(default_factory=list)
    status: Literal["ok", "llm_failed"] = "ok"
    error: str | None = None
    usage: Usage = Field(default_factory=Usage)
    grounding: dict[str, int] = Field(default_factory=empty_counts)
    schema_valid: bool = False  # the first answer passed validation without a re-ask
    dropped_relations: int = 0  # removed by the type-signature filter
    # entity id -> (grounding method: exact / case / space / fuzzy, or candidate for a verified
    # encoder span; similarity of the LLM's mention to the span text, 1.0 for exact)
    entity_grounding: dict[str, tuple[str, float]] = Field(default_factory=dict)

    def to_meta(self) -> dict[str, Any]:
        """The summary a Document keeps in `meta["llm"]`."""
        return {
            "task": self.task,
            "status": self.status,
            "error": self.error,
            "usage": self.usage.model_dump(),
            "grounding": dict(self.grounding),
            "schema_valid": self.schema_valid,
            "dropped_relations": self.dropped_relations,
        }


class DeadlineExceeded(Exception):
    """The call's total deadline ran out before an answer arrived."""


@dataclass
class _CallLedger:
    """Per-call accounting, filled in by `_send` while instructor drives the attempts."""

    deadline: float
    responses: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    last_error: BaseException | None = None

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code in RETRYABLE_STATUS


def _retry_after_s(exc: BaseException | None) -> float | None:
    """Seconds the server asked us to wait (Retry-After: seconds or an HTTP date), if any; a
    value that is neither (or not finite) is ignored: the usual backoff applies."""
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
            seconds = parsed.timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


TRUNCATED = "answer cut off at max_tokens (incomplete JSON)"
INVALID_ANSWER = "invalid answer after"


def is_answer_failure(reason: str) -> bool:
    """True for a failure of the answer itself (cut off at max_tokens, invalid after every
    re-ask), which the model gives again for the same request at temperature 0; False for a
    transport failure or a deadline."""
    return reason == TRUNCATED or reason.startswith(INVALID_ANSWER)


def describe_error(exc: BaseException) -> str:
    """A one-line reason for a failed call, naming the kind of failure."""
    if isinstance(exc, InstructorRetryException):
        cause = exc.__cause__
        if cause is not None and not isinstance(cause, (ValidationError, json.JSONDecodeError)):
            return describe_error(cause)
        first = str(cause or exc).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        return f"{INVALID_ANSWER} {exc.n_attempts} attempt(s): {detail}"
    if isinstance(exc, IncompleteOutputException):
        return TRUNCATED
    if isinstance(exc, AnswerTooLarge):
        return f"transport: {exc}"
    if isinstance(exc, openai.APITimeoutError):
        return "transport: request timed out"
    if isinstance(exc, openai.APIConnectionError):
        return f"transport: connection failed ({exc.__cause__ or exc})"
    if isinstance(exc, openai.APIStatusError):
        return f"transport: HTTP {exc.status_code} ({exc.message})"
    if isinstance(exc, DeadlineExceeded):
        return f"deadline: {exc}"
    return f"{type(exc).__name__}: {exc}"


class LLMClient:
    """Extract or verify entities and relations in one chunk with a generative LLM.

    `extract(text, schema)` reads the chunk from scratch; `verify(text, schema, candidates)`
    judges the encoder's candidates for the chunk (`candidates.text` must be `text`). Both
    return an `LLMResult`; transport and validation failures come back as
    `status="llm_failed"` with the reason, never as exceptions.
    """

    def __init__(self, config: LLMConfig | None = None, **overrides: Any):
        self.config = config if config is not None else LLMConfig.load(**overrides)
        self._create = self._make_backend()
        self._mode = instructor.Mode.TOOLS if self._uses_tools else instructor.Mode.JSON_SCHEMA
        self._slots = threading.BoundedSemaphore(self.config.max_concurrency)
        self.cache: ResponseCache | None = None
        if self.config.cache:
            try:
                self.cache = ResponseCache(self.config.resolved_cache_path)
            except HybridIEError as exc:
                log.warning("%s; going on without the LLM cache", exc)

    # -- public API ----------------------------------------------------------------------------
    def extract(self, text: str, schema: Schema | str) -> LLMResult:
        schema = load_schema(schema)
        labels = LabelSet.of(schema, self.config.label_style)
        messages = extract_messages(text, schema, labels, few_shot=self.config.few_shot)
        caps = ListCaps.for_text(text)

        def ask(caps: ListCaps) -> LLMResult:
            return self._run("extract", text, schema, messages, extraction_model(labels, caps),
                             lambda answer: read_extraction(text, schema, labels, answer))

        result = ask(caps)
        if result.error == TRUNCATED and caps.entities > 1:
            # A runaway list ran past max_tokens: ask once more, allowing half as many items.
            log.info("LLM extract answer cut off; asking again with list caps halved")
            first = result.usage
            result = ask(caps.halved())
            result.usage = first + result.usage
        return result

    def verify(self, text: str, schema: Schema | str, candidates: Document) -> LLMResult:
        schema = load_schema(schema)
        if candidates.text != text:
            raise InputError(
                f"verify: the candidates document {candidates.id!r} is not for this text "
                "(its text differs; offsets must index into the chunk text)"
            )
        found = verify_candidates(candidates, self.config.max_candidates)
        if not schema.relation_types:
            found = Candidates(found.entities, [])
        unknown = {c.label for c in found.entities} - set(schema.entity_labels)
        if unknown:
            raise InputError(f"verify: candidate labels {sorted(unknown)} are not entity types of {schema.name!r}")
        labels = LabelSet.of(schema, self.config.label_style)
        messages = verify_messages(
            text, schema, labels, found.entity_rows(labels), found.relation_rows(labels),
            few_shot=self.config.few_shot,
        )
        model = verification_model(labels, len(found.entities), len(found.relations), ListCaps.for_text(text))
        return self._run("verify", text, schema, messages, model,
                         lambda answer: read_verification(text, schema, labels, found, answer))

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one call ------------------------------------------------------------------------------
    def _run(
        self,
        task: Literal["extract", "verify"],
        text: str,
        schema: Schema,
        messages: list[dict[str, str]],
        response_model: type[BaseModel],
        read: Callable[[Any], AnswerBuilder],
    ) -> LLMResult:
        started = time.monotonic()
        key = self._cache_key(task, schema, messages, response_model)
        cached = self.cache.get(key) if self.cache is not None else None
        answer = None
        if cached is not None and cached.error is not None:  # a failure the model would give again
            usage = Usage(latency_s=time.monotonic() - started, cache_hit=True, cache_hits=1)
            return LLMResult(task=task, status="llm_failed", error=cached.error, usage=usage)
        if cached is not None:
            try:
                answer = response_model.model_validate_json(cached.answer)
            except ValidationError:
                log.warning("LLM cache: a stored answer no longer validates; asking again")
        if answer is not None:
            usage = Usage(latency_s=time.monotonic() - started, cache_hit=True, cache_hits=1)
            return self._result(task, read(answer), usage, schema_valid=True)

        ledger = _CallLedger(deadline=started + self.config.deadline_s)
        structured = instructor.patch(create=partial(self._send, ledger), mode=self._mode)
        try:
            answer = structured(
                response_model=response_model,
                messages=messages,
                model=self.config.model,
                max_retries=self.config.max_reasks,
                **self.config.generation_params(),
            )
            with grounding_deadline(ledger.deadline):
                built = read(answer)
        except Exception as exc:  # noqa: BLE001 - the contract: a failed call is a result, never raised
            reason = cut(describe_error(exc))
            log.warning("LLM %s call failed: %s", task, reason)
            if self.cache is not None and self.config.temperature == 0 and is_answer_failure(reason):
                self.cache.put_failure(key, model=self.config.model, error=reason,
                                       prompt_tokens=ledger.prompt_tokens, completion_tokens=ledger.completion_tokens)
            return LLMResult(task=task, status="llm_failed", error=reason,
                             usage=self._usage(ledger, started))
        if self.cache is not None:
            self.cache.put(key, model=self.config.model, answer=answer.model_dump_json(),
                           prompt_tokens=ledger.prompt_tokens, completion_tokens=ledger.completion_tokens)
        return self._result(task, built, self._usage(ledger, started), schema_valid=ledger.responses == 1)

    def _send(self, ledger: _CallLedger, **kwargs: Any) -> Any:
        """One chat-completions request with transport retries, inside the call's deadline."""
        kwargs = self._format_request(kwargs)
        retrying = Retrying(
            stop=stop_after_attempt(self.config.max_retries + 1),
            wait=partial(self._backoff, ledger),
            retry=retry_if_exception(_is_transient),
            before_sleep=partial(self._note_retry, ledger),
            reraise=True,
        )
        response = None
        for attempt in retrying:
            with attempt:
                remaining = ledger.remaining()
                if remaining <= 0:
                    last = ledger.last_error
                    reason = f"; last error: {describe_error(last)}" if last else ""
                    raise DeadlineExceeded(f"{self.config.deadline_s:g} s used up{reason}")
                timeout = min(self.config.timeout_s, remaining)
                with self._slots, attempt_deadline(time.monotonic() + timeout):
                    response = self._create(timeout=timeout, **kwargs)
        ledger.responses += 1
        usage = getattr(response, "usage", None)
        ledger.prompt_tokens += getattr(usage, "prompt_tokens", 0) or 0
        ledger.completion_tokens += getattr(usage, "completion_tokens", 0) or 0
        return response

    @staticmethod
    def _note_retry(ledger: _CallLedger, state: RetryCallState) -> None:
        ledger.retries += 1
        ledger.last_error = state.outcome.exception() if state.outcome else None

    def _backoff(self, ledger: _CallLedger, state: RetryCallState) -> float:
        """Retry-After when the server sent one, else exponential backoff with jitter; never
        past the deadline (the next attempt then fails with DeadlineExceeded)."""
        exc = state.outcome.exception() if state.outcome else None
        wait = _retry_after_s(exc)
        if wait is None:
            wait = wait_exponential_jitter(
                initial=self.config.backoff_s, max=self.config.backoff_max_s, jitter=self.config.backoff_s
            )(state)
        return max(0.0, min(wait, ledger.remaining()))

    # -- helpers -------------------------------------------------------------------------------
    @property
    def _uses_tools(self) -> bool:
        return self.config.backend == "openai" and self.config.request_format == "tools"

    def _make_backend(self) -> Callable[..., Any]:
        cfg = self.config
        if cfg.backend == "local":
            from hybrid_ie.llm.local import local_backend

            return local_backend(cfg.model, n_ctx=cfg.n_ctx, n_threads=cfg.n_threads, seed=cfg.seed).create
        api_key = os.environ.get(cfg.api_key_env)
        if not api_key:
            if not cfg.base_url:
                raise ConfigError(
                    f"the openai backend needs an API key in ${cfg.api_key_env} (or a base_url of a local server)"
                )
            api_key = PLACEHOLDER_API_KEY
        http_client = bounded_http_client(timeout_s=cfg.timeout_s, max_answer_bytes=cfg.max_answer_bytes)
        client = openai.OpenAI(base_url=cfg.base_url, api_key=api_key, timeout=cfg.timeout_s, max_retries=0,
                               http_client=http_client)  # fmt: skip
        return client.chat.completions.create

    def _format_request(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """llama.cpp servers accept only `{"type": "json_object", "schema": ...}`: send that
        through `extra_body` instead of the OpenAI `json_schema` format instructor builds."""
        fmt = kwargs.get("response_format")
        if (
            self.config.backend == "openai"
            and self.config.request_format == "json_object_schema"
            and isinstance(fmt, dict)
            and fmt.get("type") == "json_schema"
        ):
            kwargs = dict(kwargs)
            del kwargs["response_format"]
            schema = fmt["json_schema"]["schema"]
            kwargs["extra_body"] = {"response_format": {"type": "json_object", "schema": schema}}
        return kwargs

    def _cache_key(self, task: str, schema: Schema, messages: list[dict[str, str]], model: type[BaseModel]) -> str:
        cfg = self.config
        return cache_key(
            task=task, backend=cfg.backend, model=cfg.model, request_format=cfg.request_format,
            messages=messages, response_schema=model.model_json_schema(), schema=schema.fingerprint,
            params=cfg.generation_params(),
        )

    def _usage(self, ledger: _CallLedger, started: float) -> Usage:
        cfg = self.config
        price_model = cfg.model if cfg.backend == "openai" else ""
        return Usage(
            prompt_tokens=ledger.prompt_tokens,
            completion_tokens=ledger.completion_tokens,
            latency_s=time.monotonic() - started,
            retries=ledger.retries,
            reasks=max(0, ledger.responses - 1),
            cost=cost_of(price_model, ledger.prompt_tokens, ledger.completion_tokens, cfg.prices),
        )

    @staticmethod
    def _result(task: Literal["extract", "verify"], built: AnswerBuilder, usage: Usage, *,
                schema_valid: bool) -> LLMResult:
        return LLMResult(
            task=task,
            entities=built.entities,
            relations=built.relations,
            usage=usage,
            grounding=built.grounding,
            schema_valid=schema_valid,
            dropped_relations=built.dropped_relations,
            entity_grounding=dict(built.entity_grounding),
        )
