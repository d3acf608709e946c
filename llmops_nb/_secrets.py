"""Secrets that never leave the process in clear: a registry of every credential value seen
(connector credentials, judge ``api_key=``, provider environment variables) and ``scrub``,
which removes them from any text in every shape a server or a library may echo them:

- the value itself, or any fragment of it of 6 characters or more (a cut by a truncation);
- base64 (a basic-auth token ``user:password``, with or without ``Basic ``, whole or cut);
- URL-encoding (``%2D``, ``+``), also of a base64 token.

Shared by the connectors and the LLM runner; it imports nothing from the rest of the package.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import threading
from typing import Any
from urllib.parse import unquote, unquote_plus

__all__ = ["Secret", "register_secret", "register_env_secrets", "env_secrets", "scrub", "PROVIDER_KEY_VARS", "ScrubFilter"]

FRAGMENT = 6
"""The shortest run of a secret's characters that counts as a leak."""

# environment variables that hold provider credentials (litellm reads these)
PROVIDER_KEY_VARS = (
    "OPENAI_API_KEY", "AZURE_API_KEY", "AZURE_OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY",
    "GOOGLE_API_KEY", "VERTEX_API_KEY", "MISTRAL_API_KEY", "COHERE_API_KEY", "CO_API_KEY", "GROQ_API_KEY",
    "TOGETHER_API_KEY", "TOGETHERAI_API_KEY", "FIREWORKS_API_KEY", "FIREWORKS_AI_API_KEY", "DEEPSEEK_API_KEY",
    "XAI_API_KEY", "PERPLEXITYAI_API_KEY", "OPENROUTER_API_KEY", "HUGGINGFACE_API_KEY", "HF_TOKEN",
    "REPLICATE_API_KEY", "DEEPINFRA_API_KEY", "ANYSCALE_API_KEY", "CEREBRAS_API_KEY", "VOYAGE_API_KEY",
    "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID", "DATABRICKS_TOKEN", "NVIDIA_NIM_API_KEY",
    "WATSONX_APIKEY", "AI21_API_KEY", "NLP_CLOUD_API_KEY", "ALEPH_ALPHA_API_KEY", "CLOUDFLARE_API_KEY",
    "LITELLM_API_KEY", "LITELLM_MASTER_KEY", "OLLAMA_API_KEY",
)
_KEY_VAR = re.compile(r"(API_?KEY|_KEY|TOKEN|SECRET|SECRET_ACCESS_KEY|PASSWORD|PASSWD)$", re.I)

_LOCK = threading.Lock()
_SECRETS: set[str] = set()
_FRAGS: frozenset[str] = frozenset()
_SHORT: tuple[str, ...] = ()  # secrets shorter than FRAGMENT: matched whole


def register_secret(value: Any) -> None:
    """Remember ``value`` (4 characters or more) as a secret: :func:`scrub` removes it from then on.

    Example:
        >>> register_secret("s3cr3t-value")
        >>> scrub("got s3cr3t-value")
        'got ***'
    """
    global _FRAGS, _SHORT
    v = str(value or "")
    if len(v) < 4:
        return
    with _LOCK:
        if v in _SECRETS:
            return
        forms = {v}
        if v.lower().startswith(("bearer ", "basic ", "token ")):  # a header value: its token too
            forms.add(v.split(" ", 1)[1].strip())
        _SECRETS.update(f for f in forms if len(f) >= 4)
        frags = set(_FRAGS)
        short = list(_SHORT)
        for f in forms:
            if len(f) < FRAGMENT:
                short.append(f)
            else:
                frags.update(f[i:i + FRAGMENT] for i in range(len(f) - FRAGMENT + 1))
        _FRAGS = frozenset(frags)
        _SHORT = tuple(sorted(set(short), key=len, reverse=True))


def env_secrets() -> dict[str, str]:
    """The environment variables that hold credentials: the known provider variables
    (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``, ...) and any variable whose name ends in
    ``API_KEY``, ``_KEY``, ``TOKEN``, ``SECRET`` or ``PASSWORD`` and whose value is 8 characters
    or more (``TOKENIZERS_PARALLELISM`` or ``PASSWORD_STORE_DIR`` are not credentials).

    Example:
        >>> import os; os.environ["MY_GATEWAY_API_KEY"] = "gw-0123456789"
        >>> env_secrets()["MY_GATEWAY_API_KEY"], "TOKENIZERS_PARALLELISM" in env_secrets()
        ('gw-0123456789', False)
        >>> del os.environ["MY_GATEWAY_API_KEY"]
    """
    return {k: v for k, v in os.environ.items()
            if v and len(v) >= 8 and (k in PROVIDER_KEY_VARS or _KEY_VAR.search(k))}


def register_env_secrets(names: tuple[str, ...] | None = None) -> None:
    """Register the credentials held in the environment (:func:`env_secrets`, or the variables
    ``names``) as secrets."""
    for v in (env_secrets() if names is None else {n: os.environ.get(n, "") for n in names}).values():
        if v:
            register_secret(v)


class Secret:
    """A credential value that shows itself as ``'***'`` in reprs, logs and messages.

    Example:
        >>> s = Secret("sk-123")
        >>> repr(s), str(s), s.value
        ("Secret('***')", '***', 'sk-123')
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = str(value)
        register_secret(self._value)

    @property
    def value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> Any:  # never pickled in clear into caches or stores
        raise TypeError("a Secret cannot be pickled")


_B64_RUN = re.compile(r"[A-Za-z0-9+/_-]{8,}={0,2}")
_TOKEN = re.compile(r"[^\s\"'<>,;{}\[\]()`]+")


def _leaks(text: str) -> bool:
    """Whether ``text`` holds a fragment of a secret (raw)."""
    frags = _FRAGS
    if frags and any(text[i:i + FRAGMENT] in frags for i in range(len(text) - FRAGMENT + 1)):
        return True
    return any(s in text for s in _SHORT)


def _b64_decodings(run: str) -> list[str]:
    """``run`` decoded as base64 (standard or URL-safe) from each of its first 4 offsets,
    cut to whole groups (a truncated token still decodes)."""
    out = []
    std = run.rstrip("=").replace("-", "+").replace("_", "/")
    for off in range(4):
        chunk = std[off:]
        chunk = chunk[: len(chunk) - len(chunk) % 4]
        if len(chunk) < 8:
            break
        try:
            out.append(base64.b64decode(chunk, validate=True).decode("latin-1"))
        except (binascii.Error, ValueError):
            continue
    return out


def _encoded_leak(token: str) -> bool:
    """Whether ``token`` holds a secret fragment once URL-decoded and/or base64-decoded."""
    cands = {token}
    if "%" in token or "+" in token:
        cands.add(unquote(token))
        cands.add(unquote_plus(token))
    for c in list(cands):
        if c != token and _leaks(c):
            return True
        for m in _B64_RUN.finditer(c):
            if any(_leaks(d) for d in _b64_decodings(m.group())):
                return True
    return False


def _scrub_raw(s: str) -> str:
    """Replace every stretch of text covered by secret fragments with ``***``."""
    frags = _FRAGS
    if frags:
        covered: list[list[int]] = []
        for i in range(len(s) - FRAGMENT + 1):
            if s[i:i + FRAGMENT] in frags:
                if covered and i <= covered[-1][1]:
                    covered[-1][1] = i + FRAGMENT
                else:
                    covered.append([i, i + FRAGMENT])
        for a, b in reversed(covered):
            s = s[:a] + "***" + s[b:]
    for sec in _SHORT:
        s = s.replace(sec, "***")
    return s


def scrub(text: Any) -> str:
    """``text`` with every known secret removed: the value, any 6+ character fragment of it,
    and its base64 (basic-auth) and URL-encoded forms, each replaced by ``***``.

    Scrub a text whole *before* cutting it to a length: a cut can leave a fragment that no
    longer matches a whole secret (this also catches fragments, but only of 6+ characters).

    Example:
        >>> _ = Secret("hunter22-secret")
        >>> scrub("token=hunter22-secret, cut: hunter22-s")
        'token=***, cut: ***'
        >>> import base64; tok = base64.b64encode(b"me:hunter22-secret").decode()
        >>> scrub("invalid credentials: " + tok[:18])
        'invalid credentials: ***'
    """
    s = str(text)
    if not _SECRETS:
        return s
    s = _scrub_raw(s)
    # encoded forms: any token that decodes to a fragment goes whole
    out, last = [], 0
    for m in _TOKEN.finditer(s):
        tok = m.group()
        if len(tok) >= 8 and _encoded_leak(tok):
            out.append(s[last:m.start()])
            out.append(_scrub_token(tok))
            last = m.end()
    if out:
        out.append(s[last:])
        s = "".join(out)
    return s


def _scrub_token(tok: str) -> str:
    """Only the encoded part of ``tok`` goes: ``key=<enc>`` keeps ``key=``."""
    parts = re.split(r"([=&?:])", tok)
    if len(parts) > 1:
        kept = [p if p in "=&?:" or len(p) < 8 or not _encoded_leak(p) else "***" for p in parts]
        joined = "".join(kept)
        if not _encoded_leak(joined):
            return joined
    return "***"


class ScrubFilter(logging.Filter):
    """A logging filter that scrubs secrets from a record's message and its exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            try:
                msg = record.getMessage()
            except Exception:  # noqa: BLE001 - a malformed record is left to logging
                return True
            clean = scrub(msg)
            if clean != msg:
                record.msg, record.args = clean, None
            if record.exc_info and record.exc_info[1] is not None:
                import traceback

                text = "".join(traceback.format_exception(*record.exc_info))
                clean = scrub(text)
                if clean != text:
                    record.exc_text = clean.rstrip("\n")
                    record.exc_info = None
        return True
