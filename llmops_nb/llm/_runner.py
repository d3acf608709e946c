"""The LLM call runner shared by judges and experiments.

Async with a concurrency limit; paced to provider limits (requests and tokens per minute);
retries with exponential backoff and full jitter on 429, 5xx, timeouts and dropped connections
(honouring ``Retry-After``); an on-disk SQLite cache keyed by model, messages and parameters (a
rerun calls nothing and costs nothing); a cost ledger per model from litellm's price map; a
budget that stops cleanly; and a synchronous entry point that works inside a running event
loop (Jupyter) by running its own loop in a worker thread.

Nothing paid for is lost: each answer is committed to the cache the moment it arrives, before
any result row is written, so a run killed mid-way and resumed pays only for the calls that were
in flight. Credentials never leave in clear: every configured key (``api_key=`` and the
providers' environment variables) is scrubbed from error texts and log records.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import hashlib
import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson

from llmops_nb._secrets import (
    ScrubFilter,
    env_secrets,
    register_env_secrets,
    register_secret,
    scrub,
)

__all__ = [
    "LLMCall",
    "CallResult",
    "CallCache",
    "Runner",
    "BudgetExhausted",
    "LLMConfigError",
    "run_calls",
    "run_sync",
    "current_runner",
    "bind_runner",
    "progress_bar",
    "default_cache_path",
    "TRANSPORT_KEYS",
]

T = TypeVar("T")

TRANSPORT_KEYS = frozenset({"api_key", "api_base", "base_url", "timeout", "num_retries", "max_retries",
                            "extra_headers", "organization", "request_timeout", "stream_timeout"})
"""Transport and credential settings: they change where and how a call goes, never its answer,
so they are part of neither the cache key nor an evaluator's identity."""
_CREDENTIALS = frozenset({"api_key", "azure_ad_token", "aws_secret_access_key", "aws_session_token", "extra_headers"})
# also not in the cache key: metadata, and mock answers (never cached)
_TRANSPORT_KEYS = TRANSPORT_KEYS | {"metadata", "mock_response"}

# log records of the LLM client libraries may carry request details: scrubbed like ours
for _name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm", "openai", "httpx", "httpcore", "llmops_nb.llm"):
    logging.getLogger(_name).addFilter(ScrubFilter())
SIMULATED_PREFIXES = ("llmops-sim/",)

_current: contextvars.ContextVar[Runner | None] = contextvars.ContextVar("llmops_nb_runner", default=None)


def current_runner() -> Runner | None:
    """The runner of the enclosing :func:`llmops_nb.evaluate` call, if any.

    Example:
        >>> current_runner() is None
        True
    """
    return _current.get()


def bind_runner(runner: Runner) -> Callable[[], None]:
    """Make ``runner`` the :func:`current_runner` of this context (evaluators started inside
    share its cache, limits and budget); returns the function that restores the previous one.

    Example:
        >>> r = Runner(cache=False)
        >>> unbind = bind_runner(r); current_runner() is r
        True
        >>> unbind(); current_runner() is None
        True
    """
    token = _current.set(runner)
    return lambda: _current.reset(token)


def default_cache_path() -> Path:
    """``$LLMOPS_NB_CACHE`` or ``~/.cache/llmops_nb/llm_cache.sqlite``.

    Example:
        >>> default_cache_path().suffix
        '.sqlite'
    """
    env = os.environ.get("LLMOPS_NB_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "llmops_nb" / "llm_cache.sqlite"


class BudgetExhausted(RuntimeError):
    """Raised for a call refused because the run's budget is spent.

    Example:
        >>> issubclass(BudgetExhausted, RuntimeError)
        True
    """


class LLMConfigError(RuntimeError):
    """An authentication or configuration error (a missing or refused key, 401/403, an unknown
    model, a request the provider rejects as invalid): retrying cannot help, so the runner stops
    at once and every later call of the run raises it too. The message names the model, what the
    provider said and the fix (the provider's environment variable, or the argument to change).

    Example:
        >>> str(LLMConfigError("gpt-4o-mini: no API key; set OPENAI_API_KEY", model="gpt-4o-mini"))
        'gpt-4o-mini: no API key; set OPENAI_API_KEY'
    """

    def __init__(self, message: str, *, model: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.model = model
        self.status = status


# phrases of a missing or refused key, whatever exception type litellm wraps them in (a missing
# OpenAI key arrives as a 500 "InternalServerError: ... Missing credentials")
_KEY_PHRASES = ("missing credentials", "api_key client option must be set", "missing api key", "no api key",
                "invalid api key", "incorrect api key", "invalid x-api-key", "api key not valid", "api key is invalid",
                "invalid_api_key", "authentication_error", "unauthorized")
# 400s about one row's content, not the run's configuration
_ROW_400 = {"ContextWindowExceededError", "ContentPolicyViolationError"}


def _key_env_vars(model: str) -> list[str]:
    try:
        import litellm

        missing = list(litellm.validate_environment(model=model).get("missing_keys") or [])
    except Exception:  # noqa: BLE001 - an unknown provider: no hint from litellm
        missing = []
    if missing:
        return missing
    provider = model.split("/", 1)[0] if "/" in model else "openai"
    return [f"{provider.upper().replace('-', '_')}_API_KEY"]


def _config_error(e: BaseException, call: LLMCall, model_ok: bool) -> LLMConfigError | None:
    """The error as an :class:`LLMConfigError` when it is about credentials or configuration."""
    names = {c.__name__ for c in type(e).__mro__}
    if names & _ROW_400:
        return None
    status = _status_of(e)
    low = " ".join(str(e).split()).lower()
    said = " ".join(_clean_error(e, 300).split())  # what the provider said, scrubbed of keys
    model = call.model
    has_key = bool(call.params.get("api_key"))
    if "AuthenticationError" in names or status == 401 or any(p in low for p in _KEY_PHRASES):
        envs = _key_env_vars(model)
        set_now = [v for v in envs if os.environ.get(v)]
        if has_key:
            fix = "the key passed as api_key= was refused; pass a valid one"
        elif set_now:
            fix = f"{' / '.join(set_now)} is set but the provider refused it; set a valid key"
        else:
            fix = f"set the environment variable {' or '.join(envs)} (or pass api_key=...)"
        return LLMConfigError(f"model {model!r}: the provider needs a valid API key: {fix}. "
                              f"Not retried; nothing was charged. The provider said: {said}", model=model, status=status or 401)
    if "PermissionDeniedError" in names or status == 403:
        return LLMConfigError(f"model {model!r}: permission denied (403): the key has no access to this model or "
                              f"endpoint; use a key with access or another model=. Not retried. The provider said: {said}",
                              model=model, status=403)
    if model.startswith(SIMULATED_PREFIXES):
        return None  # the simulated judge refuses a prompt about an unknown trace: that row's error
    if ("NotFoundError" in names or status == 404 or "llm provider not provided" in low
            or "model_not_found" in low or "does not exist" in low and "model" in low):
        return LLMConfigError(f"model {model!r} is unknown to the provider or to litellm: pass a litellm model "
                              "name such as 'gpt-4o-mini', 'anthropic/claude-3-5-haiku-latest', 'ollama/llama3' or "
                              f"'openai/<name>' with api_base=... for a local server. Not retried. The provider said: {said}",
                              model=model, status=status or 404)
    if not model_ok and ("BadRequestError" in names or "UnsupportedParamsError" in names or status in (400, 422)):
        args = sorted(k for k in call.params if k not in _TRANSPORT_KEYS)
        return LLMConfigError(f"model {model!r} rejected the request as invalid ({status or 400}) before any call "
                              f"succeeded: check the arguments (model parameters {args}). Not retried. "
                              f"The provider said: {said}", model=model, status=status or 400)
    return None


@dataclass
class LLMCall:
    """One chat completion request: the model, the messages and the parameters; or, with
    ``input`` (a list of texts), one embeddings request (``litellm.aembedding``), whose vectors
    come back in :attr:`CallResult.embeddings`.

    ``params`` holds everything else passed to ``litellm.acompletion`` (temperature,
    response_format, max_tokens, api_base, api_key, ...). ``api_key``/``api_base``/``timeout`` are
    not part of the cache key. ``accept(text)``, when given, says whether an answer is usable
    (a judge's answer parses): an answer it refuses is returned but never cached, and a cached
    one it refuses is asked again.

    Example:
        >>> LLMCall("openai/gpt-4o-mini", [{"role": "user", "content": "hi"}]).cache_key()[:8]  # doctest: +ELLIPSIS
        '...'
        >>> LLMCall("openai/text-embedding-3-small", [], input=["refund"]).estimated_tokens()
        2
    """

    model: str
    messages: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    accept: Callable[[str | None], bool] | None = field(default=None, compare=False, repr=False)
    input: list[str] | None = None

    def __repr__(self) -> str:  # never shows a credential (an LLMCall may end up in a log or a traceback)
        params = {k: ("***" if k in _CREDENTIALS else v) for k, v in self.params.items()}
        if self.input is not None:
            return f"LLMCall(model={self.model!r}, input=<{len(self.input)} texts>, params={params!r})"
        return f"LLMCall(model={self.model!r}, messages=<{len(self.messages)} messages>, params={params!r})"

    def cache_key(self) -> str:
        p = {k: v for k, v in self.params.items() if k not in _TRANSPORT_KEYS}
        doc: dict[str, Any] = {"model": self.model, "messages": self.messages, "params": p}
        if self.input is not None:  # an embeddings request (chat keys stay as they were)
            doc["input"] = self.input
        payload = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)
        return hashlib.sha256(payload).hexdigest()

    def estimated_tokens(self) -> int:
        if self.input is not None:
            return sum(len(t or "") for t in self.input) // 4 + 1
        chars = sum(len(str(m.get("content") or "")) for m in self.messages)
        return chars // 4 + int(self.params.get("max_tokens") or 256)


@dataclass
class CallResult:
    """What a call returned: text, tool calls, tokens, cost, latency, whether it was cached,
    the number of attempts, and the error text when it failed after its retries.

    Example:
        >>> r = CallResult(text="hello", cost_usd=0.0)
        >>> r.text, r.error is None
        ('hello', True)
    """

    text: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    latency_ms: float | None = None
    cached: bool = False
    attempts: int = 0
    error: str | None = None
    model: str | None = None
    simulated: bool = False
    embeddings: list[list[float]] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class CallCache:
    """An on-disk cache of LLM answers in one SQLite file, safe across threads and processes.

    Each answer is committed as it arrives (``flush_every=1``, about 0.1 ms: nothing beside an
    LLM call), so a process killed mid-run keeps every answer it paid for and a resume reuses
    them. A larger ``flush_every`` batches commits (faster, but a kill loses the batch).

    Example:
        >>> import tempfile, os
        >>> c = CallCache(os.path.join(tempfile.mkdtemp(), "c.sqlite"))
        >>> c.put("k", "m", {"text": "hi"}); c.get("k")["text"]
        'hi'
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, flush_every: int = 1) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.flush_every = flush_every
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[str, bytes, float]] = {}
        self._con = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30, isolation_level=None)
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute("PRAGMA synchronous=NORMAL")
        self._con.execute(
            "CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, model TEXT, response BLOB, created REAL)"
        )
        import atexit
        import weakref

        ref = weakref.ref(self)
        def _flush_at_exit() -> None:
            c = ref()
            if c is not None:
                c._safe_flush()

        atexit.register(_flush_at_exit)

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            p = self._pending.get(key)
            if p is not None:
                return orjson.loads(p[1])
            row = self._con.execute("SELECT response FROM calls WHERE key = ?", (key,)).fetchone()
        return orjson.loads(row[0]) if row else None

    def put(self, key: str, model: str, response: Mapping[str, Any]) -> None:
        with self._lock:
            self._pending[key] = (model, orjson.dumps(dict(response)), time.time())
            if len(self._pending) >= self.flush_every:
                self._flush_locked()

    def flush(self) -> None:
        """Commit the buffered answers to disk."""
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._pending:
            return
        rows = [(k, m, r, t) for k, (m, r, t) in self._pending.items()]
        if len(rows) == 1:  # one answer (the default, committed as it arrives): one autocommitted statement
            self._con.execute("INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?)", rows[0])
            self._pending.clear()
            return
        self._con.execute("BEGIN")
        try:
            self._con.executemany("INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?)", rows)
            self._con.execute("COMMIT")
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        self._pending.clear()

    def _safe_flush(self) -> None:
        with contextlib.suppress(Exception):
            self.flush()

    def __len__(self) -> int:
        self.flush()
        with self._lock:
            return int(self._con.execute("SELECT count(*) FROM calls").fetchone()[0])

    def clear(self) -> None:
        """Forget every cached answer."""
        with self._lock:
            self._pending.clear()
            self._con.execute("DELETE FROM calls")

    def close(self) -> None:
        self.flush()
        with self._lock:
            self._con.close()

    def __repr__(self) -> str:
        return f"CallCache({str(self.path)!r})"


class _Pacer:
    """Spaces out acquisitions so at most ``per_minute`` units pass per minute (no burst)."""

    def __init__(self, per_minute: float) -> None:
        self.interval = 60.0 / float(per_minute)
        self.next = 0.0

    async def acquire(self, units: float = 1.0) -> None:
        now = time.monotonic()
        t = max(now, self.next)
        self.next = t + self.interval * units
        if t > now:
            await asyncio.sleep(t - now)

    def adjust(self, units: float) -> None:
        self.next += self.interval * units


@dataclass
class _Ledger:
    calls: int = 0
    cached: int = 0
    errors: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    saved_usd: float = 0.0


_ENV_SEEN: dict[str, str] = {}


def _register_keys(params: Mapping[str, Any]) -> None:
    """Remember the call's credentials (``api_key=`` and the providers' environment variables)
    as secrets, so error texts and log records are scrubbed of them."""
    for k in ("api_key", "azure_ad_token", "aws_secret_access_key", "aws_session_token"):
        v = params.get(k)
        if isinstance(v, str) and len(v) >= 8:
            register_secret(v)
    env = env_secrets()
    if env != _ENV_SEEN:
        _ENV_SEEN.clear()
        _ENV_SEEN.update(env)
        register_env_secrets(tuple(env))


def _clean_error(e: BaseException, n: int) -> str:
    """A provider's error text, scrubbed whole before it is cut to ``n`` characters."""
    text = scrub(str(e))
    return text if len(text) <= n else text[:n] + "..."


def _status_of(e: BaseException) -> int | None:
    s = getattr(e, "status_code", None)
    if isinstance(s, int):
        return s
    name = type(e).__name__
    if name in ("Timeout", "APITimeoutError", "TimeoutError"):
        return 408
    return None


def _retryable(e: BaseException) -> bool:
    if isinstance(e, (asyncio.TimeoutError, TimeoutError, ConnectionError)):
        return True
    name = type(e).__name__
    if name in ("Timeout", "APITimeoutError", "APIConnectionError", "RateLimitError", "InternalServerError",
                "ServiceUnavailableError", "BadGatewayError", "ServerDisconnectedError", "ClientConnectionError"):
        return True
    s = _status_of(e)
    return s is not None and (s in (408, 409, 425, 429) or s >= 500)


def _retry_after(e: BaseException) -> float | None:
    headers = None
    resp = getattr(e, "response", None)
    if resp is not None:
        headers = getattr(resp, "headers", None)
    headers = headers or getattr(e, "litellm_response_headers", None) or getattr(e, "headers", None)
    if not headers:
        return None
    try:
        v = headers.get("retry-after-ms")
        if v is not None:
            return float(v) / 1000
        v = headers.get("retry-after")
        if v is None:
            return None
        return float(v)
    except (TypeError, ValueError):
        try:
            from email.utils import parsedate_to_datetime

            return max(0.0, parsedate_to_datetime(str(v)).timestamp() - time.time())
        except Exception:
            return None


def _stamped_cost(response: Any) -> float | None:
    """The cost litellm computed for a response from its price map (``_hidden_params``), if any."""
    hp = getattr(response, "_hidden_params", None)
    v = hp.get("response_cost") if isinstance(hp, Mapping) else getattr(hp, "response_cost", None)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _cost(model: str, prompt_tokens: int, completion_tokens: int, response: Any = None) -> float | None:
    """Cost in USD from litellm's price map for the tokens reported (None when the model is not priced)."""
    import litellm

    try:
        a, b = litellm.cost_per_token(model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        return float(a + b)
    except Exception:
        pass
    if response is not None:
        try:
            return float(litellm.completion_cost(completion_response=response, model=model))
        except Exception:
            return None
    return None


class Runner:
    """Runs LLM calls (and other async work) with concurrency, rate limits, retries, cache and budget.

    - ``concurrency``: calls in flight at once.
    - ``requests_per_minute`` / ``tokens_per_minute``: pace calls per model (an int for every
      model, or ``{model: limit}``).
    - ``max_retries``, ``backoff_base_s``, ``backoff_max_s``, ``timeout_s``: retries with
      exponential backoff and full jitter on 5xx, timeouts and dropped connections. A 429 is
      retried until ``rate_limit_max_wait_s`` of waiting (a provider's limit is not a failure);
      its ``Retry-After`` header sets the wait and pauses the model's other calls too.
    - ``cache``: True (``$LLMOPS_NB_CACHE`` or ``~/.cache/llmops_nb``), a path, a
      :class:`CallCache`, or False.
    - ``budget_usd``: calls are refused (``BudgetExhausted``) once the spend plus the expected
      cost of the calls in flight would pass it. Cached answers are free.
    - ``rate_limiter``: where the paces come from when several processes share one limit (the
      Ray engine's cluster-wide limiter): an object whose ``pacer(kind, model, per_minute)``
      (kind ``"rpm"`` or ``"tpm"``) returns a pacer with ``async acquire(units)`` and
      ``adjust(units)``. None (default): this runner paces alone.
    - ``shared_budget``: where ``budget_usd`` is kept when several processes share one budget
      (the Ray engine's budget actor): an object with ``async reserve(model, estimate)`` returning
      ``(lease, spent_usd)`` (``lease`` None when refused, else an opaque handle of the
      reservation) and ``async settle(model, lease, cost)``. None (default): this runner keeps its
      budget alone. After a run on Ray, ``budget_state`` is that keeper's last word (``spent_usd``,
      ``reserved_usd``, ``remaining_usd``, ``paid_calls``, ``refused``, ``lost_calls``: calls whose
      worker died mid-call, counted at their expected cost).

    ``ledger()`` is the cost and call count per model.

    Example:
        >>> r = Runner(concurrency=4, cache=False)
        >>> res = r.run([LLMCall("openai/gpt-4o-mini", [{"role": "user", "content": "hi"}],
        ...                      {"mock_response": "hello"})])  # doctest: +SKIP
        >>> res[0].text  # doctest: +SKIP
        'hello'
    """

    def __init__(
        self,
        *,
        concurrency: int = 8,
        requests_per_minute: int | Mapping[str, int] | None = None,
        tokens_per_minute: int | Mapping[str, int] | None = None,
        max_retries: int = 8,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        timeout_s: float = 60.0,
        cache: bool | str | os.PathLike[str] | CallCache | None = True,
        budget_usd: float | None = None,
        rate_limit_max_wait_s: float = 600.0,
        seed: int | None = None,
        rate_limiter: Any = None,
        shared_budget: Any = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency={concurrency!r}; it must be at least 1")
        self.concurrency = int(concurrency)
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.max_retries = int(max_retries)
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.timeout_s = timeout_s
        self.cache_setting = cache
        self.budget_usd = budget_usd
        self.rate_limit_max_wait_s = rate_limit_max_wait_s
        self._rng = random.Random(seed)
        self.rate_limiter = rate_limiter
        self.shared_budget = shared_budget
        # (not `if cache`: an empty CallCache has len 0 and would read as "no cache")
        self._cache: CallCache | None | bool = False if cache is None or cache is False else None
        self._ledger: dict[str, _Ledger] = {}
        self._pacers: dict[tuple[str, str], _Pacer] = {}
        self._cooldown: dict[str, float] = {}
        self._sem: asyncio.Semaphore | None = None
        self._sem_loop: Any = None
        self._reserved = 0.0
        self.spent_usd = 0.0
        self.budget_stopped = False
        self.budget_state: dict[str, float] | None = None
        self._unpriced: set[str] = set()
        self._fatal: LLMConfigError | None = None
        self._model_ok: set[str] = set()

    def __repr__(self) -> str:
        return (f"Runner(concurrency={self.concurrency}, requests_per_minute={self.requests_per_minute}, "
                f"budget_usd={self.budget_usd}, spent_usd={self.spent_usd:.6f})")

    # ------------------------------------------------------------------ pieces
    @property
    def cache(self) -> CallCache | None:
        """The call cache (None when disabled)."""
        if self._cache is False:
            return None
        if self._cache is None:
            c = self.cache_setting
            self._cache = c if isinstance(c, CallCache) else CallCache(None if c is True else c)  # type: ignore[arg-type]
        return self._cache  # type: ignore[return-value]

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._sem is None or self._sem_loop is not loop:
            self._sem = asyncio.Semaphore(self.concurrency)
            self._sem_loop = loop
        return self._sem

    def _limit(self, setting: Any, model: str) -> int | None:
        if setting is None:
            return None
        if isinstance(setting, Mapping):
            return setting.get(model)
        return int(setting)

    def _pacer(self, kind: str, model: str) -> Any:
        limit = self._limit(self.requests_per_minute if kind == "rpm" else self.tokens_per_minute, model)
        if not limit:
            return None
        p = self._pacers.get((kind, model))
        if p is None:
            shared = self.rate_limiter
            p = self._pacers[(kind, model)] = _Pacer(limit) if shared is None else shared.pacer(kind, model, limit)
        return p

    def ledger_for(self, model: str) -> _Ledger:
        led = self._ledger.get(model)
        if led is None:
            led = self._ledger[model] = _Ledger()
        return led

    def ledger(self) -> Any:
        """Calls, cache hits, retries, errors, tokens and cost per model (one row per model).

        Example:
            >>> Runner(cache=False).ledger().shape[0]
            0
        """
        import pandas as pd

        rows = [{"model": m, **vars(v)} for m, v in self._ledger.items()]
        cols = ["model", "calls", "cached", "errors", "retries", "prompt_tokens", "completion_tokens", "cost_usd", "saved_usd"]
        return pd.DataFrame(rows, columns=cols)

    def _expected_cost(self, call: LLMCall) -> float:
        led = self._ledger.get(call.model)
        paid = (led.calls - led.cached) if led else 0
        if led and paid > 0 and led.cost_usd > 0:
            return led.cost_usd / paid
        c = _cost(call.model, call.estimated_tokens() - int(call.params.get("max_tokens") or 256), 64)
        return c or 0.0

    # ------------------------------------------------------------------ one call
    async def acall(self, call: LLMCall) -> CallResult:
        """Make one call (cache, budget, limits, retries); never raises for a failed call: the
        result's ``error`` says what went wrong (scrubbed of every configured key). The exception
        is an authentication or configuration error (:class:`LLMConfigError`): it is raised at
        once, not retried, and every later call of this runner raises it too, so a run stops
        instead of failing each row."""
        if self._fatal is not None:
            raise self._fatal
        key = call.cache_key()
        cache = self.cache
        led = self.ledger_for(call.model)
        simulated = call.model.startswith(SIMULATED_PREFIXES)
        if cache is not None:
            hit = cache.get(key)
            if hit is not None and (call.accept is None or call.accept(hit.get("text"))):
                led.calls += 1
                led.cached += 1
                led.saved_usd += hit.get("cost_usd") or 0.0
                return CallResult(text=hit.get("text"), tool_calls=hit.get("tool_calls"),
                                  prompt_tokens=hit.get("prompt_tokens"), completion_tokens=hit.get("completion_tokens"),
                                  cost_usd=0.0, latency_ms=0.0, cached=True, attempts=0, model=call.model,
                                  simulated=simulated, embeddings=hit.get("embeddings"))
        _register_keys(call.params)  # a call will reach the provider: scrub its keys from what it says
        async with self._semaphore():
            reserve = 0.0
            lease: Any = None
            shared = self.shared_budget if self.budget_usd is not None else None
            if shared is not None:  # one budget for several processes: the keeper decides
                lease, spent = await shared.reserve(call.model, self._expected_cost(call))
                if lease is None:
                    return self._refused(call, led, spent, simulated)
            elif self.budget_usd is not None:
                reserve = self._expected_cost(call)
                if self.spent_usd + self._reserved + reserve > self.budget_usd + 1e-12 or self.spent_usd >= self.budget_usd:
                    return self._refused(call, led, self.spent_usd, simulated)
                self._reserved += reserve
            cost = 0.0
            try:
                res = await self._call_with_retries(call, key, led, simulated)
                cost = res.cost_usd or 0.0
                return res
            finally:
                if shared is not None:  # settled before this slot frees: the next reservation sees it
                    await shared.settle(call.model, lease, cost)
                else:
                    self._reserved -= reserve

    def _refused(self, call: LLMCall, led: _Ledger, spent: float, simulated: bool) -> CallResult:
        self.budget_stopped = True
        led.errors += 1
        return CallResult(error=(
            f"budget exhausted: spent ${spent:.6f} of budget_usd=${self.budget_usd:.6f}; "
            "rerun with the same run_id and a larger budget_usd to resume"), model=call.model, simulated=simulated)

    async def _call_with_retries(self, call: LLMCall, key: str, led: _Ledger, simulated: bool) -> CallResult:
        import litellm

        litellm.suppress_debug_info = True
        params = dict(call.params)
        params.setdefault("timeout", self.timeout_s)
        params["num_retries"] = 0
        params["max_retries"] = 0
        rpm = self._pacer("rpm", call.model)
        tpm = self._pacer("tpm", call.model)
        est = call.estimated_tokens()
        attempt = 0
        failures = 0
        waited_429 = 0.0
        t0 = time.perf_counter()
        last_error = ""
        while True:
            attempt += 1
            wait = self._cooldown.get(call.model, 0.0) - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if rpm is not None:
                await rpm.acquire(1)
            if tpm is not None:
                await tpm.acquire(est)
            if self._fatal is not None:
                raise self._fatal
            try:
                if call.input is not None:
                    resp = await litellm.aembedding(model=call.model, input=call.input, **params)
                else:
                    resp = await litellm.acompletion(model=call.model, messages=call.messages, **params)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - classified below
                fatal = _config_error(e, call, call.model in self._model_ok)
                if fatal is not None:
                    if self._fatal is None:
                        self._fatal = fatal
                    raise self._fatal from None
                last_error = f"{type(e).__name__}: {_clean_error(e, 500)}"
                is_429 = _status_of(e) == 429 or type(e).__name__ == "RateLimitError"
                if not is_429:
                    failures += 1
                if (not _retryable(e) or failures > self.max_retries
                        or (is_429 and waited_429 >= self.rate_limit_max_wait_s)):
                    led.errors += 1
                    led.calls += 1
                    return CallResult(error=f"{last_error} (after {attempt} attempt(s))", attempts=attempt,
                                      latency_ms=(time.perf_counter() - t0) * 1000, model=call.model,
                                      simulated=simulated)
                led.retries += 1
                ra = _retry_after(e)
                backoff = self._rng.uniform(0, min(self.backoff_max_s, self.backoff_base_s * 2 ** (min(attempt, 16) - 1)))
                if ra is not None:  # the provider said when: wait that long, plus a little jitter
                    delay = ra + self._rng.uniform(0, self.backoff_base_s)
                else:
                    delay = backoff
                if is_429:
                    waited_429 += delay
                if ra is not None and ra > 0:
                    self._cooldown[call.model] = max(self._cooldown.get(call.model, 0.0), time.monotonic() + ra)
                await asyncio.sleep(delay)
                continue
            break
        latency = (time.perf_counter() - t0) * 1000
        self._model_ok.add(call.model)
        text, tcs, vectors = None, None, None
        if call.input is not None:
            data = sorted(resp.data, key=lambda d: d["index"] if isinstance(d, dict) else d.index)
            vectors = [list(d["embedding"] if isinstance(d, dict) else d.embedding) for d in data]
        else:
            msg = resp.choices[0].message
            text = getattr(msg, "content", None)
            if getattr(msg, "tool_calls", None):
                tcs = [{"id": tc.id, "name": tc.function.name, "arguments": tc.function.arguments}
                       for tc in msg.tool_calls]
        usage = getattr(resp, "usage", None)
        pt = int(getattr(usage, "prompt_tokens", 0) or 0) if usage else None
        ct = int(getattr(usage, "completion_tokens", 0) or 0) if usage else None
        if "mock_response" in params:
            cost = 0.0  # mock usage is not real usage
        elif not usage:
            cost = None
        else:  # litellm priced the response already (same price map); else price it, unless the
            # model was found unpriced before in this run (each lookup costs about a millisecond)
            cost = _stamped_cost(resp)
            if cost is None and call.model not in self._unpriced:
                cost = _cost(call.model, pt or 0, ct or 0, resp)
        if cost is None and "mock_response" not in params and call.model not in self._unpriced:
            self._unpriced.add(call.model)
            import warnings

            warnings.warn(
                f"model {call.model!r} has no price in litellm's price map, so its calls cost None and "
                f"budget_usd cannot count them; declare it with litellm.register_model({{{call.model!r}: "
                "{'input_cost_per_token': ..., 'output_cost_per_token': ...}})", stacklevel=2)
        if tpm is not None and pt is not None:
            tpm.adjust((pt + (ct or 0)) - est)
        led.calls += 1
        led.prompt_tokens += pt or 0
        led.completion_tokens += ct or 0
        led.cost_usd += cost or 0.0
        self.spent_usd += cost or 0.0
        res = CallResult(text=text, tool_calls=tcs, prompt_tokens=pt, completion_tokens=ct, cost_usd=cost,
                         latency_ms=latency, cached=False, attempts=attempt, model=call.model, simulated=simulated,
                         embeddings=vectors)
        cache = self.cache
        if cache is not None and "mock_response" not in params and (call.accept is None or call.accept(text)):
            answer: dict[str, Any] = {"text": text, "tool_calls": tcs, "prompt_tokens": pt,
                                      "completion_tokens": ct, "cost_usd": cost}
            if vectors is not None:
                answer["embeddings"] = vectors
            cache.put(key, call.model, answer)
        return res

    # ------------------------------------------------------------------ many
    async def arun(self, calls: Sequence[LLMCall], *, progress: bool | None = None) -> list[CallResult]:
        """Run calls concurrently; results in the order of ``calls``."""
        return await self.amap(self.acall, list(calls), progress=progress, desc="llm calls")

    def run(self, calls: Sequence[LLMCall], *, progress: bool | None = None) -> list[CallResult]:
        """Run calls and wait for them (works inside a running event loop too).

        Example:
            >>> Runner(cache=False).run([])
            []
        """
        return run_sync(self.arun(calls, progress=progress))

    async def amap(self, fn: Callable[[Any], Awaitable[T]], items: Sequence[Any], *,
                   progress: bool | None = None, desc: str = "") -> list[T]:
        """Apply an async ``fn`` to every item, at most ``concurrency`` at once, with a progress bar.

        Results keep the order of ``items``. ``fn`` should not raise (wrap errors yourself);
        :meth:`acall` never does.
        """
        token = _current.set(self)
        bar = None
        try:
            bar = progress_bar(len(items), desc, progress)
            out: list[Any] = [None] * len(items)
            sem = asyncio.Semaphore(max(self.concurrency * 4, 64))

            async def one(i: int, item: Any) -> None:
                async with sem:
                    out[i] = await fn(item)
                if bar is not None:
                    bar.update(1)

            tasks = [asyncio.ensure_future(one(i, it)) for i, it in enumerate(items)]
            if tasks:
                try:
                    await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
                finally:  # an error (or our own cancellation): stop the rest and wait for them
                    error = await _settle(tasks)
                if error is not None:  # a configuration error (or a bug), the first in item order
                    raise error
            return out
        finally:
            if bar is not None:
                bar.close()
            _current.reset(token)
            if isinstance(self._cache, CallCache):
                self._cache.flush()


async def _settle(tasks: Sequence[asyncio.Future[Any]]) -> BaseException | None:
    """Cancel the tasks still running, wait until every task has finished, and retrieve every
    failure (asyncio reports "Task exception was never retrieved" for any left unread); returns
    the first failure in the order of ``tasks``, or None."""
    for t in tasks:
        if not t.done():
            t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)  # reads every exception
    return next((t.exception() for t in tasks if not t.cancelled() and t.exception() is not None), None)


def progress_bar(total: int, desc: str, progress: bool | None) -> Any:
    """A tqdm.auto bar (notebook widget or terminal), or None when disabled.

    ``progress=None`` shows it in notebooks and terminals for 100 items or more.

    Example:
        >>> progress_bar(10, "evaluate", None) is None  # few items, no terminal: no bar
        True
    """
    if progress is False or total == 0:
        return None
    if progress is None:
        import sys

        in_nb = "ipykernel" in sys.modules
        if total < 100 or not (in_nb or sys.stderr.isatty()):
            return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False)


def run_sync(coro: Awaitable[T]) -> T:
    """Run a coroutine to completion from sync code, also inside a running event loop
    (a Jupyter cell): then it runs in a worker thread with its own loop. An interrupt
    (KeyboardInterrupt) cancels the work, so an evaluation stops and keeps what it stored.

    Example:
        >>> import asyncio
        >>> async def two(): return 2
        >>> run_sync(two())
        2
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    box: dict[str, Any] = {}

    def work() -> T:
        loop = asyncio.new_event_loop()
        box["loop"] = loop
        try:
            task: asyncio.Task[T] = loop.create_task(coro)  # type: ignore[arg-type]
            box["task"] = task
            return loop.run_until_complete(task)
        finally:
            try:  # as asyncio.run does: cancel what is left (library background tasks too)
                pending = asyncio.all_tasks(loop)
                for t in pending:
                    t.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    ctx = contextvars.copy_context()
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="llmops-nb-eval") as ex:
        fut = ex.submit(ctx.run, work)
        try:
            return fut.result()
        except KeyboardInterrupt:
            loop, task = box.get("loop"), box.get("task")
            if loop is not None and task is not None and not loop.is_closed():
                loop.call_soon_threadsafe(task.cancel)
            raise


def run_calls(calls: Iterable[LLMCall], *, progress: bool | None = None, **runner_kwargs: Any) -> list[CallResult]:
    """Run LLM calls with a fresh :class:`Runner` (``runner_kwargs`` go to it).

    Example:
        >>> run_calls([], cache=False)
        []
    """
    return Runner(**runner_kwargs).run(list(calls), progress=progress)


def embed(texts: Sequence[str], model: str, *, batch_size: int = 128, runner: Runner | None = None,
          concurrency: int = 4, max_retries: int = 4, **params: Any) -> Any:
    """L2-normalised ``float32`` vectors (one row per text) from any embedding model litellm
    reaches, in batches of ``batch_size`` through the runner: ``runner``, else the runner of an
    enclosing evaluation, else a new one without call cache. ``params`` go to
    ``litellm.aembedding`` (``api_base``, ``api_key``, ``dimensions``...). A batch that still
    fails after its retries raises ``RuntimeError`` naming the model.

    Example:
        >>> embed([], "openai/text-embedding-3-small").shape
        (0, 0)
    """
    import numpy as np

    texts = [t if t else " " for t in ("" if t is None else str(t) for t in texts)]
    r = runner or current_runner() or Runner(concurrency=concurrency, cache=False, max_retries=max_retries)
    calls = [LLMCall(model, [], dict(params), input=texts[i: i + batch_size]) for i in range(0, len(texts), batch_size)]
    out: list[list[float]] = []
    for res in r.run(calls, progress=False) if calls else []:
        if res.error is not None or res.embeddings is None:
            raise RuntimeError(f"embedding with {model!r} failed: {res.error or 'no vectors returned'}")
        out += res.embeddings
    if not out:
        return np.zeros((0, 0), dtype=np.float32)
    arr = np.asarray(out, dtype=np.float32)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return arr / np.where(norms > 0, norms, 1.0)
