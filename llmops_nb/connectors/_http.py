"""The HTTP layer of the connectors: one aiohttp session per pull, bounded concurrency,
retries with exponential backoff on 429 (honouring ``Retry-After``), 5xx and dropped
connections, and secrets that never leave this module in clear.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import orjson

from llmops_nb._secrets import ScrubFilter, Secret, scrub

__all__ = ["Secret", "Retry", "HttpClient", "PullError", "scrub", "safe_url", "excerpt"]

log = logging.getLogger("llmops_nb.connectors")

log.addFilter(ScrubFilter())


def excerpt(body: Any, n: int) -> str:
    """At most ``n`` characters of a server's answer, scrubbed whole *before* the cut (a cut
    secret would no longer match)."""
    text = body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else str(body)
    clean = scrub(text)
    return clean if len(clean) <= n else clean[:n] + "..."


def safe_url(url: str) -> str:
    """``url`` without user info (``user:pass@``) and without query values that look secret.

    Example:
        >>> safe_url("https://me:pw@host:5000/api?x=1")
        'https://host:5000/api?x=1'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return scrub(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return scrub(urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")))


class PullError(RuntimeError):
    """A pull that could not complete: says which request failed, why, and what to do.

    The message never holds a credential (it is scrubbed).

    Example:
        >>> isinstance(PullError("HTTP 401 from https://cloud.langfuse.com: check the keys"), RuntimeError)
        True
    """

    def __init__(self, message: str) -> None:
        super().__init__(scrub(message))


@dataclass(frozen=True)
class Retry:
    """When and how long to retry a request.

    Retries 429 (waiting ``Retry-After`` when the server sends it), 5xx and dropped
    connections, with exponential backoff ``base_delay * 2**attempt`` (plus jitter) capped at
    ``max_delay``, at most ``max_attempts`` attempts in all.

    Example:
        >>> Retry(max_attempts=3, base_delay=0.01).delay(2)  # doctest: +SKIP
        0.04...
    """

    max_attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 30.0
    retry_statuses: tuple[int, ...] = (408, 425, 429, 500, 502, 503, 504)
    timeout_s: float = 60.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        d = min(self.base_delay * (2**attempt), self.max_delay)
        return d * (0.5 + random.random() / 2)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    v = headers.get("Retry-After") or headers.get("retry-after")
    if not v:
        for k in ("X-RateLimit-Reset", "x-ratelimit-reset"):  # Datadog: seconds until reset
            if headers.get(k):
                try:
                    return float(headers[k])
                except ValueError:
                    return None
        return None
    try:
        return float(v)
    except ValueError:
        try:
            dt = email.utils.parsedate_to_datetime(v)
            return max(0.0, dt.timestamp() - time.time())
        except (TypeError, ValueError):
            return None


@dataclass
class HttpStats:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    bytes: int = 0


@dataclass
class HttpClient:
    """An async JSON client for one backend: base URL, headers (secrets wrapped), a semaphore
    for concurrency and an optional requests-per-second cap.

    Constructing it opens nothing; ``async with client:`` opens the session.

    Example:
        >>> HttpClient("https://api.example.com/").base_url
        'https://api.example.com'
    """

    base_url: str
    headers: dict[str, str | Secret] = field(default_factory=dict)
    concurrency: int = 4
    rate_per_s: float | None = None
    retry: Retry = field(default_factory=Retry)
    auth: tuple[str, Secret] | None = None
    stats: HttpStats = field(default_factory=HttpStats)
    max_body_bytes: ClassVar[int] = 1 << 30
    """The largest answer read into memory (1 GiB): a bigger one stops the pull with a clear
    error instead of exhausting memory (lower ``page_size`` to get smaller answers)."""

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self._session: Any = None
        self._sem: asyncio.Semaphore | None = None
        self._next_slot = 0.0
        self._slot_lock: asyncio.Lock | None = None

    def __repr__(self) -> str:
        return f"HttpClient({safe_url(self.base_url)!r}, concurrency={self.concurrency})"

    async def __aenter__(self) -> HttpClient:
        import aiohttp

        hdrs = {k: (v.value if isinstance(v, Secret) else v) for k, v in self.headers.items()}
        hdrs.setdefault("Accept", "application/json")
        hdrs.setdefault("User-Agent", "llmops-nb-connector")
        auth = aiohttp.BasicAuth(self.auth[0], self.auth[1].value) if self.auth else None
        self._session = aiohttp.ClientSession(
            headers=hdrs,
            auth=auth,
            timeout=aiohttp.ClientTimeout(total=self.retry.timeout_s),
            connector=aiohttp.TCPConnector(limit=max(self.concurrency * 2, 4)),
        )
        self._sem = asyncio.Semaphore(max(1, self.concurrency))
        self._slot_lock = asyncio.Lock()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _pace(self) -> None:
        if not self.rate_per_s:
            return
        assert self._slot_lock is not None
        async with self._slot_lock:
            now = time.monotonic()
            wait = self._next_slot - now
            self._next_slot = max(now, self._next_slot) + 1.0 / self.rate_per_s
        if wait > 0:
            await asyncio.sleep(wait)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        what: str = "",
        allow_404: bool = False,
        raw: bool = False,
        accept: str | None = None,
        hints: Mapping[int, str] | None = None,
    ) -> Any:
        """Send one request and return the decoded JSON, retrying what can be retried.

        Raises :class:`PullError` naming the request, the last status or error and the fix
        (``hints``: the fix per status, for writes; the defaults are for reads).
        """
        import aiohttp

        assert self._session is not None and self._sem is not None, "use `async with client:`"
        url = path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"
        clean_params: list[tuple[str, str]] = []
        for k, v in (params or {}).items():
            for x in (v if isinstance(v, (list, tuple)) else [v]):
                if x is not None:
                    clean_params.append((k, str(x).lower() if isinstance(x, bool) else str(x)))
        label = f"{method} {safe_url(url)}" + (f" ({what})" if what else "")
        last = ""
        for attempt in range(self.retry.max_attempts):
            await self._pace()
            retry_after: float | None = None
            async with self._sem:
                self.stats.requests += 1
                try:
                    async with self._session.request(
                        method, url, params=clean_params or None,
                        data=orjson.dumps(json) if json is not None else None,
                        headers={**({"Content-Type": "application/json"} if json is not None else {}),
                                 **({"Accept": accept} if accept else {})} or None,
                    ) as resp:
                        body = await self._read(resp, label)
                        self.stats.bytes += len(body)
                        if resp.status < 300 and raw:
                            return body
                        if resp.status < 300:
                            if not body.strip():
                                return None
                            try:
                                return orjson.loads(body)
                            except orjson.JSONDecodeError:
                                last = f"a 200 response that is not JSON ({excerpt(body, 80)!r})"
                        elif resp.status == 404 and allow_404:
                            return None
                        elif resp.status in self.retry.retry_statuses:
                            if resp.status == 429:
                                self.stats.rate_limited += 1
                            retry_after = _retry_after(resp.headers)
                            last = f"HTTP {resp.status} {excerpt(body, 200)}"
                        else:
                            hint = {
                                401: "check the credentials (environment variables or credentials=)",
                                403: "the credentials lack the read permission for this project",
                                404: "check the host URL and the project name",
                                400: "check since/until and filters",
                                422: "check since/until and filters",
                            }.get(resp.status, "see the server's message")
                            if hints and resp.status in hints:
                                hint = hints[resp.status]
                            raise PullError(
                                f"{label} failed: HTTP {resp.status}: "
                                f"{excerpt(body, 300)}. Fix: {hint}."
                            )
                except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, asyncio.TimeoutError) as e:
                    # the error's text only (never its request info: it carries the headers)
                    last = f"{type(e).__name__}: {excerpt(e, 200)}" if str(e) else type(e).__name__
            if attempt + 1 < self.retry.max_attempts:
                self.stats.retries += 1
                d = self.retry.delay(attempt, retry_after)
                log.info("retrying %s in %.2fs after %s", label, d, scrub(last))
                await asyncio.sleep(d)
        raise PullError(
            f"{label} failed after {self.retry.max_attempts} attempts; last error: {last}. "
            "Nothing after the last stored page was lost: run the same pull again to resume "
            "(or raise retry=Retry(max_attempts=...), lower concurrency=)."
        )

    async def _read(self, resp: Any, label: str) -> bytes:
        """The answer's body, refusing (before reading it) one larger than ``max_body_bytes``."""
        limit = self.max_body_bytes
        declared = resp.content_length
        if declared is not None and declared > limit:
            raise PullError(
                f"{label}: the server announced an answer of {declared:,} bytes, over the {limit:,}-byte limit; "
                "lower page_size= (or raise HttpClient.max_body_bytes if the server is trusted)"
            )
        chunks, size = [], 0
        async for chunk in resp.content.iter_chunked(1 << 20):
            size += len(chunk)
            if size > limit:
                raise PullError(
                    f"{label}: the server's answer exceeds the {limit:,}-byte limit; lower page_size= "
                    "(or raise HttpClient.max_body_bytes if the server is trusted)"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    async def request_bytes(self, method: str, path: str, **kw: Any) -> bytes | None:
        """Like :meth:`request` but returns the raw body (for Arrow and other binary answers)."""
        return await self.request(method, path, raw=True, **kw)  # type: ignore[no-any-return]
