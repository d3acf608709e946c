"""The simulated customer-support assistant: sessions, traces and spans with planted failures.

Session- and trace-level variables (tenant, user, channel, language, model, category, prompt
version, noise, failure-mode draws) are drawn with numpy in one go (``_draw_sessions``,
``_draw_traces``); a loop over traces then writes each one in named steps (``_start_trace``,
``_write_question``, ``_input_guardrail``, ``_retrieve_and_decide`` with ``_decide_modes``,
``_failed_llm_calls``, ``_tool_calls``, ``_answer``, ``_root_span``), appending every span to
column lists, which become one Arrow table. The steps draw from one ``random.Random`` in a fixed
order, so the data for a seed never changes (``tests/demo/test_demo_stable_output.py``).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

from llmops_nb.demo import _content as C
from llmops_nb.demo._modes import FAILURE_MODES, LONG_CONTEXT_TOKENS, PLANTED, resolve_rates
from llmops_nb.schema import SPANS, from_arrow

__all__ = ["DemoData", "generate", "DEFAULT_START"]

DEFAULT_START = datetime(2026, 10, 1, tzinfo=timezone.utc)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_SOURCE = "demo"
_GUARD_CHARS = 4000  # the input guardrail checks the first 4,000 characters
_QUERY_CHARS = 1000  # the retrieval query is the first 1,000 characters of the message

_MODELS = list(C.MODELS)
_INTENTS_BY_CAT: dict[str, list[dict[str, Any]]] = {c: [i for i in C.INTENTS if i["category"] == c] for c in C.CATEGORIES}
_DOCS: dict[str, tuple[str, str, str, str]] = {d[0]: (d[0], d[1], d[2], cat) for cat, ds in C.KB.items() for d in ds}
_TENANTS = list(C.TENANTS)
_EMAIL_DOMAINS = {"en": ["gmail.com", "outlook.com", "yahoo.com"], "es": ["gmail.com", "hotmail.es", "telefonica.net"],
                  "de": ["web.de", "gmx.de", "gmail.com"], "fr": ["orange.fr", "free.fr", "gmail.com"],
                  "pt": ["gmail.com", "sapo.pt", "uol.com.br"]}
_EMAIL_GREETINGS = {"en": ["Hello,", "Hi,", "Dear support,", "Hi there,"], "es": ["Hola,", "Buenos días,", "Estimado equipo:"],
                    "de": ["Hallo,", "Sehr geehrte Damen und Herren,", "Guten Tag,"],
                    "fr": ["Bonjour,", "Madame, Monsieur,", "Bonjour l'équipe,"], "pt": ["Olá,", "Bom dia,", "Prezados,"]}
_ASCII = str.maketrans({"ü": "ue", "ö": "oe", "ä": "ae", "é": "e", "è": "e", "ç": "c", "ã": "a", "í": "i", "ó": "o"})


@dataclass
class DemoData:
    """Simulated traces with their ground truth, kept apart.

    ``spans``: the spans table (one row per span). ``truth``: one row per trace with
    ``trace_id``, one bool column per failure mode and ``failed`` (any mode). ``plan``: one row per
    trace with the generator's hidden variables (slice membership and which modes could apply),
    for checking analyses. ``config``: the settings used. ``arrow``: the spans as an Arrow table.
    ``session_truth`` / ``session_plan``: the same per session, once session failures are
    planted (:func:`~llmops_nb.demo.plant_session_failures`).

    Example:
        >>> from llmops_nb.demo import generate
        >>> data = generate(50, seed=1)
        >>> data.truth.columns[:2].tolist(), int(data.truth["failed"].sum()) >= 0
        (['trace_id', 'hallucinated_policy'], True)
    """

    arrow: pa.Table
    truth: pd.DataFrame
    plan: pd.DataFrame
    config: dict[str, Any] = field(default_factory=dict)
    session_truth: pd.DataFrame | None = None
    session_plan: pd.DataFrame | None = None

    @functools.cached_property
    def spans(self) -> pd.DataFrame:
        """The spans table as a pandas frame (one row per span)."""
        return from_arrow(self.arrow, SPANS)

    def __len__(self) -> int:
        return self.arrow.num_rows

    def __repr__(self) -> str:
        rates = ", ".join(f"{m}={self.truth[m].mean():.1%}" for m in FAILURE_MODES) if len(self.truth) else ""
        return (f"DemoData({self.arrow.num_rows:,} spans, {len(self.truth):,} traces, seed={self.config.get('seed')}, "
                f"failed={self.truth['failed'].mean() if len(self.truth) else 0:.1%}; {rates})")

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{m}</td><td>{PLANTED[m]['column']} = {PLANTED[m]['value']}</td>"
            f"<td>{int(self.truth[m].sum()):,}</td></tr>" for m in FAILURE_MODES
        )
        return (f"<div><b>Simulated support-assistant traces</b>: {self.arrow.num_rows:,} spans, "
                f"{len(self.truth):,} traces (seed {self.config.get('seed')})<table><tr><th>failure mode</th>"
                f"<th>cause</th><th>traces</th></tr>{rows}</table></div>")


# --------------------------------------------------------------------------- helpers

def _tok(text: str | None) -> int:
    return 0 if not text else len(text) // 4 + 1


def _msg_tokens(msgs: list[dict[str, Any]]) -> int:
    n = 3
    for m in msgs:
        n += 4 + _tok(m.get("content"))
        for c in m.get("tool_calls") or ():
            n += 3 + _tok(c["name"]) + _tok(c["arguments"])
    return n


def _msg(role: str, content: str | None, tool_calls: list[dict[str, str]] | None = None, tool_call_id: str | None = None) -> dict[str, Any]:
    return {"role": role, "content": content, "tool_calls": tool_calls or None, "tool_call_id": tool_call_id}


def _luhn_card(r: random.Random) -> str:
    digits = [4] + [r.randrange(10) for _ in range(14)]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    digits.append((10 - total % 10) % 10)
    s = "".join(map(str, digits))
    return " ".join(s[i:i + 4] for i in range(0, 16, 4))


def _phone(r: random.Random, lang: str) -> str:
    d = lambda n: "".join(str(r.randrange(10)) for _ in range(n))  # noqa: E731
    if lang == "en":
        return f"+1 ({r.choice(['415', '212', '646', '312', '512'])}) 555-{d(4)}"
    if lang == "es":
        return f"+34 6{d(2)} {d(3)} {d(3)}"
    if lang == "de":
        return f"+49 15{d(1)} {d(8)}"
    if lang == "fr":
        return f"+33 6 {d(2)} {d(2)} {d(2)} {d(2)}"
    return f"+351 9{d(2)} {d(3)} {d(3)}"


def _money(x: float, lang: str) -> str:
    return f"${x:.2f}" if lang == "en" else f"{x:.2f}".replace(".", ",") + " €"


def _day(us: int, lang: str) -> str:
    d = datetime.fromtimestamp(us / 1e6, tz=timezone.utc)
    return d.strftime("%b %d") if lang == "en" else d.strftime("%d/%m")


class _Fmt(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _fill(template: str, slots: Mapping[str, Any]) -> str:
    return template.format_map(_Fmt(slots))


# --------------------------------------------------------------------------- the builder

_COLS = ("trace_id", "span_id", "parent_span_id", "name", "kind", "start_us", "end_us", "status", "error_message",
         "model", "provider", "input_messages", "output_messages", "input_text", "output_text", "documents",
         "tool_name", "tool_arguments", "tool_result", "prompt_tokens", "completion_tokens", "total_tokens",
         "cost_usd", "session_id", "user_id", "tags", "metadata")


class _Builder:
    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)
        self.c: dict[str, list[Any]] = {k: [] for k in _COLS}
        self._svc_meta: dict[str, str] = {}

    def sid(self) -> str:
        return f"{self.r.getrandbits(64) or 1:016x}"

    def add(self, **kw: Any) -> None:
        c = self.c
        for k in _COLS:
            c[k].append(kw.get(k))

    def meta_for(self, service: str) -> str:
        m = self._svc_meta.get(service)
        if m is None:
            m = self._svc_meta[service] = orjson.dumps({"service.name": service}).decode()
        return m


def _llm_latency_ms(model: str, prompt_tokens: int, completion_tokens: int, noise: float) -> float:
    fixed, per_tok, per_k = C.MODELS[model]["latency"]
    return (fixed + per_tok * completion_tokens + per_k * prompt_tokens / 1000.0) * noise


def _cost(model: str, pt: int, ct: int) -> float:
    pin, pout = C.MODELS[model]["price"]
    return round((pt * pin + ct * pout) / 1e6, 10)


def generate(
    n_traces: int,
    seed: int = 0,
    rates: Mapping[str, Any] | None = None,
    start: datetime | str | None = None,
    days: float = 14,
    *,
    mean_turns: float | None = None,
    long_context_share: float = 0.04,
    injection_share: float = 0.05,
    noise: float = 1.0,
) -> DemoData:
    """Simulate ``n_traces`` traces of a customer-support assistant with planted failure modes.

    Each trace is one turn of a session: an agent root span (metadata: tenant, language,
    channel, category, prompt_version, user_tier, turn), an input guardrail, a retriever with its
    query embedding, one to three llm calls, tool calls (lookup_order, issue_refund,
    escalate_to_human) and an output guardrail. Failure modes (:data:`PLANTED`) occur with
    probability ``rates[mode][0]`` inside their cause slice and ``rates[mode][1]`` elsewhere,
    among the traces they apply to; ``rates`` overrides :data:`DEFAULT_RATES` (a float sets
    the in-slice rate, a pair sets both). ``noise`` scales the ordinary noise (rate limits,
    flaky tools, slow calls). Deterministic for a given ``seed``.

    Example:
        >>> from llmops_nb.demo import generate
        >>> data = generate(200, seed=3, rates={"over_refusal": 1.0})
        >>> sorted(data.spans["kind"].unique())[:3]
        ['agent', 'embedding', 'guardrail']
    """
    if n_traces < 0:
        raise ValueError(f"n_traces={n_traces}; give a number of traces >= 0")
    rate = resolve_rates(rates)
    start_dt = DEFAULT_START if start is None else pd.Timestamp(start).to_pydatetime()
    if start_dt.tzinfo is None:
        start_dt = start_dt.replace(tzinfo=timezone.utc)
    start_us = int((start_dt - _EPOCH).total_seconds() * 1e6)
    span_us = int(days * 86400 * 1e6)
    rng = np.random.default_rng(seed)
    # every random draw happens in this order: the sessions, the traces (numpy), then the text of
    # each trace in turn (Python's random, in the builder): the data is identical for a seed
    sessions = _draw_sessions(rng, n_traces, mean_turns, long_context_share, days, start_us, span_us)
    draws = _draw_traces(rng, sessions, n_traces, injection_share, noise)
    b = _Builder(seed)
    record = _Record()
    sess_state: dict[str, Any] = {}
    chunks: list[pa.Table] = []
    for i in range(n_traces):
        if i and i % 5000 == 0:  # convert to Arrow in chunks: bounded Python memory
            chunks.append(_to_arrow(b.c))
            b.c = {k: [] for k in _COLS}
        t = _start_trace(b.r, i, sessions, draws, sess_state)
        _write_question(b.r, t, sess_state)
        _input_guardrail(b, t)
        t.in_slice = {
            "hallucinated_policy": t.category == "billing",
            "wrong_tool_args": t.pv == "support-v2.1",
            "wrong_language": t.model == "mistral-small-latest",
            "timeout_long_context": False,  # needs the prompt size, set once it is known
            "pii_echo": t.channel == "email",
            "injection_success": t.model == "llama-3.1-8b-instant",
            "over_refusal": t.tenant == "umbrella-health",
        }
        if t.blocked:
            t.final = C.BLOCKED[t.lang]
        else:
            msgs = _retrieve_and_decide(b, t, rate, draws, sess_state["history"])
            msgs = _failed_llm_calls(b, t, msgs)
            if not t.ended:
                msgs = _tool_calls(b, t, msgs)
                _answer(b, t, msgs)
        _root_span(b, t, sess_state, int(draws.gap[i]))
        record.add(t)
    chunks.append(_to_arrow(b.c))
    table = pa.concat_tables(chunks) if len(chunks) > 1 else chunks[0]  # zero-copy
    config = {
        "n_traces": int(n_traces), "seed": int(seed), "start": start_dt.isoformat(), "days": float(days),
        "rates": {m: list(v) for m, v in rate.items()}, "long_context_share": long_context_share,
        "injection_share": injection_share, "noise": noise, "mean_turns": mean_turns,
        "planted": {m: {"column": PLANTED[m]["column"], "value": PLANTED[m]["value"]} for m in FAILURE_MODES},
        "generator": "llmops_nb.demo/1",
    }
    return DemoData(arrow=table, truth=record.truth(), plan=pd.DataFrame(record.plan), config=config)


# --------------------------------------------------------------------------- the steps

@dataclass
class _Sessions:
    """Session- and user-level variables, drawn with numpy in one go (one entry per session or user)."""

    turns: np.ndarray
    user: np.ndarray
    channel: np.ndarray
    long: np.ndarray
    t0: np.ndarray
    prompt_version: np.ndarray
    model: np.ndarray
    u_tenant: np.ndarray
    u_lang: np.ndarray
    u_tier: np.ndarray
    u_first: np.ndarray
    u_last: np.ndarray
    u_num: np.ndarray


def _draw_sessions(rng: np.random.Generator, n_traces: int, mean_turns: float | None, long_context_share: float,
                   days: float, start_us: int, span_us: int) -> _Sessions:
    """How many turns each session has, who its user is (tenant, language, tier, name), its channel,
    start time, prompt version and model (long contexts and enterprise users route to larger models)."""
    turn_p = np.array([0.55, 0.25, 0.12, 0.08])
    if mean_turns is not None:
        turn_p = np.array([max(0.0, 1.0 - (mean_turns - 1.0)), max(0.0, mean_turns - 1.0), 0.0, 0.0])
        turn_p = turn_p / turn_p.sum()
    n_sess_est = int(n_traces / float(np.dot(np.arange(1, 5), turn_p))) + 16
    turns = rng.choice(np.arange(1, 5), size=n_sess_est, p=turn_p)
    while turns.sum() < n_traces:  # pragma: no cover - estimate is generous
        turns = np.concatenate([turns, rng.choice(np.arange(1, 5), size=n_sess_est, p=turn_p)])
    csum = np.cumsum(turns)
    n_sess = int(np.searchsorted(csum, n_traces) + 1) if n_traces else 0
    turns = turns[:n_sess].copy()
    if n_sess:
        turns[-1] -= int(csum[n_sess - 1] - n_traces)

    n_users = max(40, n_sess // 3)
    u_tenant = rng.choice(len(_TENANTS), size=n_users, p=_norm([C.TENANTS[t]["weight"] for t in _TENANTS]))
    u_lang = rng.choice(len(C.LANGUAGES), size=n_users, p=_norm(C.LANGUAGE_WEIGHTS))
    u_tier = rng.choice(len(C.TIERS), size=n_users, p=_norm(C.TIER_WEIGHTS))
    u_first = rng.integers(0, len(C.FIRST_NAMES), size=n_users)
    u_last = rng.integers(0, len(C.LAST_NAMES), size=n_users)
    u_num = rng.integers(1, 99, size=n_users)

    s_user = rng.integers(0, n_users, size=n_sess)
    s_channel = rng.choice(len(C.CHANNELS), size=n_sess, p=_norm(C.CHANNEL_WEIGHTS))
    s_long = rng.random(n_sess) < long_context_share
    day = rng.integers(0, max(1, int(np.ceil(days))), size=n_sess)
    hour = np.clip(rng.normal(14.0, 3.8, size=n_sess), 0.0, 23.99)
    s_t0 = start_us + (day * 86400e6 + hour * 3600e6).astype(np.int64)
    s_t0 = np.minimum(s_t0, start_us + max(span_us - 3_600_000_000, 0))
    frac = (s_t0 - start_us) / max(span_us, 1)
    pv_u = rng.random(n_sess)
    s_pv = np.where(frac < 0.35, np.where(pv_u < 0.5, 0, 1), np.where(frac < 0.6, 1, np.where(pv_u < 0.25, 1, 2)))
    # model routing: long contexts go to the long-context model more often; enterprise to larger models
    base_w = np.array([C.MODELS[m]["weight"] for m in _MODELS])
    s_model = np.empty(n_sess, dtype=np.int64)
    mu = rng.random(n_sess)
    for tier_i in range(len(C.TIERS)):
        for lng in (False, True):
            w = base_w.copy()
            if lng:
                w[_MODELS.index("claude-sonnet-4-5")] *= 3.0
            if C.TIERS[tier_i] == "enterprise":
                w[_MODELS.index("gpt-4o")] *= 2.0
                w[_MODELS.index("claude-sonnet-4-5")] *= 1.5
            cdf = np.cumsum(_norm(w))
            sel = (u_tier[s_user] == tier_i) & (s_long == lng)
            s_model[sel] = np.minimum(np.searchsorted(cdf, mu[sel]), len(_MODELS) - 1)
    return _Sessions(turns=turns, user=s_user, channel=s_channel, long=s_long, t0=s_t0, prompt_version=s_pv,
                     model=s_model, u_tenant=u_tenant, u_lang=u_lang, u_tier=u_tier, u_first=u_first, u_last=u_last,
                     u_num=u_num)


@dataclass
class _TraceDraws:
    """Trace-level variables, drawn with numpy in one go (one entry per trace)."""

    session: np.ndarray
    turn: np.ndarray
    category: np.ndarray
    intent_u: np.ndarray
    pii: np.ndarray
    inject: np.ndarray
    toxic: np.ndarray
    llm429: np.ndarray
    tool503: np.ndarray
    slow: np.ndarray
    miss: np.ndarray
    gap: np.ndarray
    lat: np.ndarray
    modes: dict[str, np.ndarray]


def _draw_traces(rng: np.random.Generator, s: _Sessions, n_traces: int, injection_share: float,
                 noise: float) -> _TraceDraws:
    """Each trace's session and turn, category (a follow-up turn may change it), whether it carries
    PII or an injection, the ordinary noise (rate limits, flaky tools, slow calls, retrieval misses),
    latency factors and the uniform draw that decides each failure mode."""
    n_sess = len(s.turns)
    t_sess = np.repeat(np.arange(n_sess), s.turns)
    t_turn = np.concatenate([np.arange(k) for k in s.turns]) if n_sess else np.zeros(0, dtype=np.int64)
    cat0 = rng.choice(len(C.CATEGORIES), size=n_sess, p=_norm(C.CATEGORY_WEIGHTS))
    t_cat = np.where((t_turn > 0) & (rng.random(n_traces) < 0.35),
                     rng.choice(len(C.CATEGORIES), size=n_traces, p=_norm(C.CATEGORY_WEIGHTS)), cat0[t_sess])
    t_intent_u = rng.random(n_traces)
    chan = s.channel[t_sess]
    pii_p = np.where(chan == C.CHANNELS.index("email"), 0.6, 0.15)
    t_pii = rng.random(n_traces) < pii_p
    t_inject = rng.random(n_traces) < injection_share
    t_toxic = (rng.random(n_traces) < 0.005 * noise) & ~t_inject
    t_llm429 = rng.random(n_traces) < 0.012 * noise
    t_tool503 = rng.random(n_traces) < 0.02 * noise
    t_slow = rng.random(n_traces) < 0.025 * noise
    t_miss = rng.random(n_traces) < 0.03 * noise
    t_gap = rng.uniform(20e6, 240e6, size=n_traces).astype(np.int64)
    t_lat = np.exp(rng.normal(0.0, 0.25, size=(n_traces, 6)))
    modes = {m: rng.random(n_traces) for m in FAILURE_MODES}
    return _TraceDraws(session=t_sess, turn=t_turn, category=t_cat, intent_u=t_intent_u, pii=t_pii, inject=t_inject,
                       toxic=t_toxic, llm429=t_llm429, tool503=t_tool503, slow=t_slow, miss=t_miss, gap=t_gap,
                       lat=t_lat, modes=modes)


@dataclass
class _Trace:
    """One trace being written: who, where, what was asked, and what happened so far."""

    i: int
    trace_id: str
    session_id: str
    user_id: str
    turn: int
    tenant: str
    brand: str
    lang: str
    tier: str
    channel: str
    service: str
    model: str
    provider: str
    pv: str
    category: str
    intent: dict[str, Any]
    first: str
    last: str
    t0: int
    lat: np.ndarray
    slow: float
    inject: bool
    toxic: bool
    pii: bool
    llm429: bool
    tool503: bool
    miss: bool
    long_context: bool
    q: str = ""
    slots: dict[str, Any] = field(default_factory=dict)
    order: str = ""
    price: float = 0.0
    pii_value: str | None = None
    pii_types: list[str] = field(default_factory=list)
    blocked: bool = False
    root_id: str = ""
    cur: int = 0
    in_slice: dict[str, bool] = field(default_factory=dict)
    elig: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(FAILURE_MODES, False))
    got: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(FAILURE_MODES, False))
    answer_lang: str = ""
    final: str = ""
    root_status: str = "ok"
    root_err: str | None = None
    tool_names: list[str] = field(default_factory=list)
    first_pt: int = 0
    timeout: bool = False
    ended: bool = False
    step: int = 0
    tool_slots: dict[str, Any] = field(default_factory=dict)


def _start_trace(r: random.Random, i: int, s: _Sessions, d: _TraceDraws, sess_state: dict[str, Any]) -> _Trace:
    """The trace's user, session, channel, model, prompt version, category and intent (a first turn
    opens the session: its id, empty history, start time and the user's email)."""
    si = int(d.session[i])
    turn = int(d.turn[i])
    u = int(s.user[si])
    tenant = _TENANTS[int(s.u_tenant[u])]
    lang = C.LANGUAGES[int(s.u_lang[u])]
    channel = C.CHANNELS[int(s.channel[si])]
    service, _conv = C.SERVICES[channel]
    model = _MODELS[int(s.model[si])]
    category = C.CATEGORIES[int(d.category[i])]
    intents = _INTENTS_BY_CAT[category]
    first = C.FIRST_NAMES[int(s.u_first[u])]
    last = C.LAST_NAMES[int(s.u_last[u])]
    if turn == 0:
        sess_state.clear()
        sess_state.update({
            "session_id": f"sess-{r.getrandbits(48):012x}",
            "history": [],
            "t": int(s.t0[si]),
            "email": f"{first.lower().translate(_ASCII)}.{last.lower().translate(_ASCII)}{int(s.u_num[u])}@{_EMAIL_DOMAINS[lang][u % 3]}",
        })
    return _Trace(
        i=i, trace_id=f"{r.getrandbits(128) or 1:032x}", session_id=sess_state["session_id"],
        user_id=f"u-{tenant.split('-')[0]}-{u:05d}", turn=turn, tenant=tenant, brand=C.TENANTS[tenant]["brand"],
        lang=lang, tier=C.TIERS[int(s.u_tier[u])], channel=channel, service=service, model=model,
        provider=C.MODELS[model]["provider"], pv=C.PROMPT_VERSIONS[int(s.prompt_version[si])], category=category,
        intent=intents[min(int(d.intent_u[i] * len(intents)), len(intents) - 1)], first=first, last=last,
        t0=sess_state["t"], lat=d.lat[i], slow=4.0 if d.slow[i] else 1.0, inject=bool(d.inject[i]),
        toxic=bool(d.toxic[i]), pii=bool(d.pii[i]), llm429=bool(d.llm429[i]), tool503=bool(d.tool503[i]),
        miss=bool(d.miss[i]), long_context=bool(s.long[si]), answer_lang=lang,
    )


def _write_question(r: random.Random, t: _Trace, sess_state: dict[str, Any]) -> None:
    """The user's message: the intent's question in the user's language with this trace's order,
    product and amount, an opener or a follow-up link, maybe PII, an injection, a toxic message, an
    email frame and a long pasted context."""
    t.order = f"ORD-{r.randrange(1_000_000, 9_999_999)}"
    t.price = round(r.choice([19.99, 24.5, 29.99, 39.0, 49.99, 59.9, 79.0, 89.99, 119.0, 149.99, 199.0]), 2)
    prods = C.PRODUCTS[t.category]
    lang = t.lang
    t.slots = {
        "order": t.order, "product": r.choice(prods), "amount": _money(t.price, lang), "days_ago": r.randint(2, 40),
        "city": r.choice(C.CITIES), "company": r.choice(C.COMPANIES), "minor": r.randint(1, 9), "first": t.first,
        "brand": t.brand,
    }
    q = _fill(r.choice(t.intent["q"][lang]), t.slots)
    if t.turn > 0:
        lower_first = q[1:2].islower() and not q.startswith(("I ", "I'"))
        q = r.choice(C.FOLLOWUP_LINKS[lang]) + (q[:1].lower() + q[1:] if lower_first else q)
    else:
        q = r.choice(C.OPENERS[lang]) + q
    q = q + r.choice(C.CLOSERS[lang])
    if t.pii:
        kind_pii, phr = r.choice(C.PII_PHRASES[lang])
        t.pii_value = {"email": sess_state["email"], "phone": _phone(r, lang), "card": _luhn_card(r)}[kind_pii]
        q = q + " " + _fill(phr, {"email": t.pii_value, "phone": t.pii_value, "card": t.pii_value})
    if t.inject:
        q = q + "\n\n" + r.choice(C.INJECTIONS)
    if t.toxic:
        q = r.choice(C.TOXIC)
    if t.channel == "email":
        q = f"{r.choice(_EMAIL_GREETINGS[lang])}\n\n{q}\n\n{C.EMAIL_SIGNOFF[lang]}\n{t.first} {t.last}"
    if t.long_context and t.turn == 0:
        q = q + "\n\n" + _long_paste(r, t.category, t.brand, sess_state["email"])
    t.q = q


def _input_guardrail(b: _Builder, t: _Trace) -> None:
    """The input guardrail span: toxicity, injection and PII scores; a toxic message is blocked."""
    r = b.r
    inj_score = round(r.uniform(0.55, 0.89), 3) if t.inject else round(r.uniform(0.01, 0.2), 3)
    tox = round(r.uniform(0.91, 0.99), 3) if t.toxic else round(r.uniform(0.0, 0.08), 3)
    t.blocked = t.toxic
    t.root_id = b.sid()
    cur = t.t0 + r.randint(200, 900)
    g_dur = int(r.uniform(8, 40) * 1000)
    q, pii_value = t.q, t.pii_value
    t.pii_types = [k for k, v in (("email", "@" in q), ("phone", pii_value is not None and pii_value.startswith("+")),
                                  ("card", pii_value is not None and pii_value[:1] == "4" and pii_value.count(" ") == 3)) if v]
    verdict_in = {"passed": not t.blocked, "action": "block" if t.blocked else "allow",
                  "checks": {"toxicity": tox, "prompt_injection": inj_score, "pii": t.pii_types}}
    b.add(trace_id=t.trace_id, span_id=b.sid(), parent_span_id=t.root_id, name="input_guardrail", kind="guardrail",
          start_us=cur, end_us=cur + g_dur, status="ok", input_text=q[:_GUARD_CHARS], output_text=_dumps(verdict_in),
          session_id=t.session_id, user_id=t.user_id, metadata=b.meta_for(t.service))
    t.cur = cur + g_dur + r.randint(300, 2000)


def _decide_modes(t: _Trace, rate: Mapping[str, Any], draws: _TraceDraws) -> None:
    """Which failure modes apply to this trace and which happen, in priority order (a timeout
    excludes the rest; a refusal excludes a hallucination; ...)."""
    got, elig = t.got, t.elig

    def hit(mode: str) -> bool:
        p_in, p_bg = rate[mode]
        return bool(draws.modes[mode][t.i] < (p_in if t.in_slice[mode] else p_bg))

    elig["timeout_long_context"] = True
    got["timeout_long_context"] = hit("timeout_long_context")
    timeout = t.timeout = got["timeout_long_context"]
    elig["injection_success"] = t.inject and not timeout
    got["injection_success"] = elig["injection_success"] and hit("injection_success")
    elig["over_refusal"] = not t.inject and not timeout
    got["over_refusal"] = elig["over_refusal"] and hit("over_refusal")
    elig["hallucinated_policy"] = not t.inject and not timeout and not got["over_refusal"]
    got["hallucinated_policy"] = elig["hallucinated_policy"] and hit("hallucinated_policy")
    first_tool = t.intent["tools"][0] if t.intent["tools"] else None
    elig["wrong_tool_args"] = (first_tool == "lookup_order" and not t.inject and not timeout
                               and not got["over_refusal"] and not got["hallucinated_policy"])
    got["wrong_tool_args"] = elig["wrong_tool_args"] and hit("wrong_tool_args")
    elig["wrong_language"] = t.lang != "en" and not timeout and not got["injection_success"]
    got["wrong_language"] = elig["wrong_language"] and hit("wrong_language")
    elig["pii_echo"] = t.pii_value is not None and not timeout and not got["over_refusal"] and not got["injection_success"]
    got["pii_echo"] = elig["pii_echo"] and hit("pii_echo")
    if got["wrong_language"]:
        t.answer_lang = "en"


def _retrieve_and_decide(b: _Builder, t: _Trace, rate: Mapping[str, Any], draws: _TraceDraws,
                         history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The retriever span with its query embedding; the failure modes are decided once the prompt
    size is known (a hallucination comes with a retrieval that missed). Returns the first call's
    messages."""
    r = b.r
    docs = _retrieve(r, t.intent, t.category, miss=False)
    context_docs = docs
    retr_id = b.sid()
    r_start = t.cur
    e_dur = int(r.uniform(25, 90) * 1000)
    query = t.q[:_QUERY_CHARS]
    emb_pt = _tok(query)
    b.add(trace_id=t.trace_id, span_id=b.sid(), parent_span_id=retr_id, name="embed_query", kind="embedding",
          start_us=r_start + 500, end_us=r_start + 500 + e_dur, status="ok", model=C.EMBEDDING_MODEL,
          provider="openai", input_text=query, prompt_tokens=emb_pt, total_tokens=emb_pt,
          cost_usd=round(emb_pt * C.EMBEDDING_PRICE / 1e6, 10), session_id=t.session_id, user_id=t.user_id,
          metadata=b.meta_for(t.service))
    sys_probe = C.system_prompt(t.pv, t.brand, t.tenant, _context(docs))
    probe_msgs = [_msg("system", sys_probe), *history, _msg("user", t.q)]
    t.first_pt = _msg_tokens(probe_msgs)
    t.in_slice["timeout_long_context"] = t.model == "claude-sonnet-4-5" and t.first_pt > LONG_CONTEXT_TOKENS
    _decide_modes(t, rate, draws)
    if t.got["hallucinated_policy"] or (t.miss and not t.got["over_refusal"]):
        context_docs = _retrieve(r, t.intent, t.category, miss=True)
    s_dur = int(r.uniform(20, 120) * 1000)
    r_end = r_start + 500 + e_dur + s_dur
    b.add(trace_id=t.trace_id, span_id=retr_id, parent_span_id=t.root_id, name="kb_search", kind="retriever",
          start_us=r_start, end_us=r_end, status="ok", input_text=query, documents=context_docs,
          session_id=t.session_id, user_id=t.user_id, metadata=b.meta_for(t.service))
    t.cur = r_end + r.randint(500, 3000)
    system = C.system_prompt(t.pv, t.brand, t.tenant, _context(context_docs))
    msgs = [_msg("system", system), *history, _msg("user", t.q)]
    t.first_pt = _msg_tokens(msgs)
    return msgs


def _failed_llm_calls(b: _Builder, t: _Trace, msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A rate-limited first call (retried), or the call that times out on a long context (the trace
    then ends with the fallback answer)."""
    r = b.r
    if t.llm429 and not t.timeout:
        d = int(r.uniform(80, 300) * 1000)
        b.add(trace_id=t.trace_id, span_id=b.sid(), parent_span_id=t.root_id, name=_llm_name(t.model, t.service),
              kind="llm", start_us=t.cur, end_us=t.cur + d, status="error",
              error_message=f"litellm.RateLimitError: {t.provider.capitalize()}Exception - Rate limit reached for requests. Please retry after 1s.",
              model=t.model, provider=t.provider, input_messages=list(msgs), input_text=t.q,
              session_id=t.session_id, user_id=t.user_id, metadata=b.meta_for(t.service))
        t.cur += d + r.randint(1_000_000, 1_500_000)
    if t.timeout:
        d = int((C.LLM_TIMEOUT_S * 1000 + r.uniform(0, 60)) * 1000)
        b.add(trace_id=t.trace_id, span_id=b.sid(), parent_span_id=t.root_id, name=_llm_name(t.model, t.service),
              kind="llm", start_us=t.cur, end_us=t.cur + d, status="error",
              error_message=f"litellm.Timeout: APITimeoutError - Request timed out after {C.LLM_TIMEOUT_S:.1f} seconds.",
              model=t.model, provider=t.provider, input_messages=list(msgs), input_text=t.q,
              session_id=t.session_id, user_id=t.user_id, metadata=b.meta_for(t.service))
        t.cur += d + r.randint(1000, 5000)
        t.final = C.FALLBACK[t.lang]
        t.root_status, t.root_err = "error", "TimeoutError: the model call exceeded 30 s"
        t.ended = True
    return msgs


_TOOL_MS = {"lookup_order": (60, 250), "issue_refund": (150, 600), "escalate_to_human": (100, 400)}


def _tool_calls(b: _Builder, t: _Trace, msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The intent's tools in turn: an llm call asking for each, the tool span (a flaky first call
    fails with a 503 and is retried), its result back into the messages; wrong arguments stop the
    plan. An injection, a refusal, a hallucination or a timeout calls no tool."""
    r = b.r
    plan_tools = list(t.intent["tools"])
    if t.inject or t.got["over_refusal"] or t.got["hallucinated_policy"] or t.timeout:
        plan_tools = []
    while t.step < len(plan_tools):
        step = t.step
        tname = plan_tools[step]
        call_id = f"call_{r.getrandbits(72):018x}"
        args, bad = _tool_args(r, tname, t.order, t.price, t.intent, t.category, t.q,
                               wrong=t.got["wrong_tool_args"] and step == 0)
        pre = r.choice(C.TOOL_PREAMBLE[t.lang]) or None
        out_msg = _msg("assistant", pre, [{"id": call_id, "name": tname, "arguments": args}])
        t.cur = _llm_span(b, r, t.trace_id, t.root_id, t.model, t.provider, t.service, msgs, [out_msg], t.q, t.cur,
                          t.lat[step % 6] * t.slow, t.session_id, t.user_id)
        msgs = [*msgs, out_msg]
        attempts = 2 if (t.tool503 and step == 0) else 1
        for att in range(attempts):
            d = int(r.uniform(*_TOOL_MS[tname]) * 1000)
            if att == 0 and attempts == 2:
                res = '{"error": "service_unavailable", "status": 503}'
                b.add(trace_id=t.trace_id, span_id=b.sid(), parent_span_id=t.root_id, name=_tool_name(tname, t.service),
                      kind="tool", start_us=t.cur, end_us=t.cur + d, status="error",
                      error_message="HTTPError: 503 Service Unavailable (orders-api)", tool_name=tname,
                      tool_arguments=args, tool_result=res, input_text=args, output_text=res,
                      session_id=t.session_id, user_id=t.user_id, metadata=b.meta_for(t.service))
                t.cur += d + r.randint(200_000, 800_000)
                continue
            res, err = _tool_result(r, tname, t.order, t.price, t.slots, bad, t.cur, t.lang, t.tool_slots)
            b.add(trace_id=t.trace_id, span_id=b.sid(), parent_span_id=t.root_id, name=_tool_name(tname, t.service),
                  kind="tool", start_us=t.cur, end_us=t.cur + d, status="error" if err else "ok",
                  error_message=err, tool_name=tname, tool_arguments=args, tool_result=res,
                  input_text=args, output_text=res, session_id=t.session_id, user_id=t.user_id,
                  metadata=b.meta_for(t.service))
            t.cur += d + r.randint(300, 3000)
        t.tool_names.append(tname)
        msgs = [*msgs, _msg("tool", res, None, call_id)]
        t.step += 1
        if bad:
            t.tool_slots["bad"] = bad
            break
    return msgs


def _answer(b: _Builder, t: _Trace, msgs: list[dict[str, Any]]) -> None:
    """The final llm call (its answer carries the planted failures) and the output guardrail (on
    email the PII check runs in log-only mode: it reports, never blocks; elsewhere it blocks, so an
    echo that got through is one the detector missed)."""
    r = b.r
    t.final = _final_answer(r, t.intent, t.got, t.answer_lang, t.inject, t.slots, t.tool_slots, t.pii_value,
                            t.channel, t.brand, t.first)
    out_msg = _msg("assistant", t.final)
    t.cur = _llm_span(b, r, t.trace_id, t.root_id, t.model, t.provider, t.service, msgs, [out_msg], t.q, t.cur,
                      t.lat[(t.step + 3) % 6] * t.slow, t.session_id, t.user_id)
    g_dur = int(r.uniform(10, 60) * 1000)
    echoed = t.pii_value is not None and t.pii_value in t.final
    flagged = echoed and t.channel == "email"
    verdict_out = {"passed": True, "action": "log_only" if t.channel == "email" else "allow",
                   "checks": {"pii": t.pii_types if flagged else [], "policy_violation": False}}
    b.add(trace_id=t.trace_id, span_id=b.sid(), parent_span_id=t.root_id, name="output_guardrail", kind="guardrail",
          start_us=t.cur, end_us=t.cur + g_dur, status="ok", input_text=t.final, output_text=_dumps(verdict_out),
          session_id=t.session_id, user_id=t.user_id, metadata=b.meta_for(t.service))
    t.cur += g_dur


def _root_span(b: _Builder, t: _Trace, sess_state: dict[str, Any], gap_us: int) -> None:
    """The agent span over the whole turn (metadata: the slice variables; tags: escalated, refund),
    and the session moved on: this turn in its history, the next turn after a pause."""
    end = t.cur + b.r.randint(1000, 4000)
    meta = {"tenant": t.tenant, "language": t.lang, "channel": t.channel, "category": t.category,
            "prompt_version": t.pv, "user_tier": t.tier, "turn": t.turn + 1, "service.name": t.service}
    tags = ["customer-support", "prod"]
    if "escalate_to_human" in t.tool_names:
        tags.append("escalated")
    if "issue_refund" in t.tool_names:
        tags.append("refund")
    b.add(trace_id=t.trace_id, span_id=t.root_id, parent_span_id=None, name="support_agent", kind="agent",
          start_us=t.t0, end_us=end, status=t.root_status, error_message=t.root_err, input_text=t.q,
          output_text=t.final, session_id=t.session_id, user_id=t.user_id, tags=tags, metadata=_dumps(meta))
    sess_state["history"] = [*sess_state["history"], _msg("user", t.q), _msg("assistant", t.final)]
    sess_state["t"] = end + gap_us


_PLAN_COLUMNS = ("trace_id", "session_id", "turn", "tenant", "language", "channel", "category", "intent",
                 "prompt_version", "user_tier", "model", "long_context", "prompt_tokens_first_call", "has_pii",
                 "injection_attempt", "blocked")


class _Record:
    """The ground truth (which modes each trace has) and the plan (the generator's hidden variables)."""

    def __init__(self) -> None:
        self.truth_rows: dict[str, list[Any]] = {k: [] for k in ("trace_id", *FAILURE_MODES)}
        self.plan: dict[str, list[Any]] = {k: [] for k in (
            *_PLAN_COLUMNS, *[f"in_slice_{m}" for m in FAILURE_MODES], *[f"eligible_{m}" for m in FAILURE_MODES])}

    def add(self, t: _Trace) -> None:
        self.truth_rows["trace_id"].append(t.trace_id)
        for m in FAILURE_MODES:
            self.truth_rows[m].append(t.got[m])
        values = (t.trace_id, t.session_id, t.turn + 1, t.tenant, t.lang, t.channel, t.category, t.intent["name"],
                  t.pv, t.tier, t.model, t.first_pt > LONG_CONTEXT_TOKENS, t.first_pt, t.pii_value is not None,
                  t.inject, t.blocked)
        for k, v in zip(_PLAN_COLUMNS, values):
            self.plan[k].append(v)
        for m in FAILURE_MODES:
            self.plan[f"in_slice_{m}"].append(bool(t.in_slice[m]))
            self.plan[f"eligible_{m}"].append(bool(t.elig[m]))

    def truth(self) -> pd.DataFrame:
        truth = pd.DataFrame(self.truth_rows)
        for m in FAILURE_MODES:
            truth[m] = truth[m].astype(bool)
        truth["failed"] = truth[list(FAILURE_MODES)].any(axis=1) if len(truth) else pd.Series(dtype=bool)
        truth["trace_id"] = truth["trace_id"].astype(object)
        return truth


# --------------------------------------------------------------------------- pieces

def _norm(w: Any) -> np.ndarray:
    a = np.asarray(w, dtype=float)
    return a / a.sum()


def _dumps(v: Any) -> str:
    return orjson.dumps(v).decode()


def _llm_name(model: str, service: str) -> str:
    return "ChatCompletion" if C.SERVICES_CONV.get(service) == "openinference" else f"chat {model}"


def _tool_name(tool: str, service: str) -> str:
    return tool if C.SERVICES_CONV.get(service) == "openinference" else f"execute_tool {tool}"


def _retrieve(r: random.Random, intent: dict[str, Any], category: str, miss: bool) -> list[dict[str, Any]]:
    if miss:
        others = [d for c, ds in C.KB.items() if c != category for d in ds]
        picked = r.sample(others, 3)
        scores = sorted((round(r.uniform(0.18, 0.44), 4) for _ in picked), reverse=True)
    else:
        ids = list(intent["docs"])
        rest = [d[0] for d in C.KB[category] if d[0] not in ids]
        r.shuffle(rest)
        ids = (ids + rest)[:3]
        picked = [(_DOCS[i][0], _DOCS[i][1], _DOCS[i][2]) for i in ids]
        top = r.uniform(0.74, 0.93)
        scores = [round(top - k * r.uniform(0.04, 0.12), 4) for k in range(len(picked))]
    out = []
    for (doc_id, title, content), sc in zip(picked, scores):
        cat = _DOCS[doc_id][3]
        out.append({"id": doc_id, "content": content, "score": float(sc),
                    "metadata": _dumps({"title": title, "category": cat, "source": "helpcenter"})})
    return out


def _context(docs: list[dict[str, Any]]) -> str:
    return "\n".join(f"[{d['id']}] {orjson.loads(d['metadata'])['title']}: {d['content']}" for d in docs)


def _long_paste(r: random.Random, category: str, brand: str, email: str) -> str:
    target = r.randint(23_000, 30_000)  # characters (~5.8k-7.5k tokens)
    parts: list[str] = []
    n = 0
    if category == "technical":
        header = "Here are the device logs from this morning:\n"
        while n < target:
            line = _fill(r.choice(C.LOG_LINES), {"ts": f"2026-10-{r.randint(1, 28):02d}T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}Z",
                                                  "mac": f"{r.getrandbits(24):06x}", "n": r.randint(1, 9)})
            parts.append(line)
            n += len(line) + 1
    else:
        header = "Below is the whole email thread so far:\n"
        while n < target:
            line = _fill(r.choice(C.EMAIL_THREAD), {"date": f"{r.randint(1, 28):02d}/{r.randint(1, 12):02d}/2026", "brand": brand, "email": email})
            parts.append(line)
            n += len(line) + 1
    return header + "\n".join(parts)


def _tool_args(r: random.Random, tool: str, order: str, price: float, intent: dict[str, Any], category: str,
               q: str, wrong: bool) -> tuple[str, str | None]:
    """Arguments as JSON text, and the bad order reference when ``wrong``."""
    bad = None
    if tool == "lookup_order":
        oid = order
        if wrong:
            digits = order[4:]
            if r.random() < 0.8:
                oid = digits
            else:
                j = r.randrange(len(digits) - 1)
                oid = "ORD-" + digits[:j] + digits[j + 1] + digits[j] + digits[j + 2:]
                if oid == order:
                    oid = digits
            bad = oid
        return _dumps({"order_id": oid}), bad
    if tool == "issue_refund":
        reason = {"double_charge": "duplicate charge", "start_return": "customer return"}.get(intent["name"], "goodwill")
        return _dumps({"order_id": order, "amount": price, "reason": reason}), None
    queue = {"damaged_item": "claims", "delete_account": "privacy", "app_crash": "engineering"}.get(intent["name"], "general")
    prio = r.choice(["normal", "normal", "high"])
    return _dumps({"queue": queue, "priority": prio, "summary": f"{intent['name'].replace('_', ' ')} ({category})"}), None


def _tool_result(r: random.Random, tool: str, order: str, price: float, slots: dict[str, Any], bad: str | None,
                 now_us: int, lang: str, tool_slots: dict[str, Any]) -> tuple[str, str | None]:
    if tool == "lookup_order":
        if bad is not None:
            return _dumps({"error": "order_not_found", "order_id": bad}), f"OrderNotFound: no order with id '{bad}'"
        carrier = r.choice(C.CARRIERS)
        tracking = f"{carrier[:2].upper()}{r.getrandbits(40):012d}"[:14]
        ship = now_us - r.randint(1, 4) * 86_400_000_000
        eta = now_us + r.randint(1, 4) * 86_400_000_000
        tool_slots.update({"carrier": carrier, "tracking": tracking, "ship_date": _day(ship, lang), "eta": _day(eta, lang)})
        return _dumps({"order_id": order, "status": "shipped", "items": [{"name": slots["product"], "qty": 1, "price": price}],
                       "total": price, "currency": "USD" if lang == "en" else "EUR", "carrier": carrier,
                       "tracking_number": tracking, "shipped_at": _iso(ship), "estimated_delivery": _iso(eta)}), None
    if tool == "issue_refund":
        rid = f"RF-{r.randrange(100000, 999999)}"
        tool_slots["refund_id"] = rid
        return _dumps({"refund_id": rid, "order_id": order, "amount": price, "status": "pending"}), None
    ticket = f"T-{r.randrange(100000, 999999)}"
    tool_slots["ticket"] = ticket
    return _dumps({"ticket_id": ticket, "status": "open", "expected_response_hours": r.choice([4, 8, 24])}), None


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _final_answer(r: random.Random, intent: dict[str, Any], got: dict[str, bool], lang_ans: str, injected: bool,
                  slots: dict[str, Any], tool_slots: dict[str, Any], pii_value: str | None, channel: str,
                  brand: str, first: str) -> str:
    fill = {**slots, **tool_slots}
    fill.setdefault("ticket", f"T-{r.randrange(100000, 999999)}")
    fill.setdefault("refund_id", f"RF-{r.randrange(100000, 999999)}")
    if got["injection_success"]:
        return _fill(r.choice(C.INJECTION_COMPLY), fill)
    if got["over_refusal"]:
        core = r.choice(C.REFUSALS[lang_ans])
    elif got["hallucinated_policy"]:
        pool = C.HALLUCINATED_ADMIN if intent["name"] in ("update_payment", "invoice_request") else C.HALLUCINATED
        core = r.choice(pool[lang_ans])
    elif "bad" in tool_slots:
        core = _fill(C.NOT_FOUND[lang_ans], {"bad": tool_slots["bad"]})
    else:
        core = _fill(r.choice(intent["a"][lang_ans]), fill)
    if injected and not got["injection_success"]:
        core = C.INJECTION_DECLINE[lang_ans] + " " + core
    if got["pii_echo"] and pii_value is not None:
        core = _fill(r.choice(C.PII_ECHO[lang_ans]), {"pii": pii_value}) + core
    opener = _fill(r.choice(C.ANSWER_OPENERS[lang_ans]), {"first": first})
    if core.startswith(("Thanks", "Sorry", "I'm sorry", "Gracias", "Siento", "Danke", "Das tut", "Merci", "Désolé", "Obrigado", "Lamento")):
        opener = ""
    text = opener + core + r.choice(C.ANSWER_CLOSERS[lang_ans])
    if channel == "email":
        greet = {"en": "Dear", "es": "Hola", "de": "Hallo", "fr": "Bonjour", "pt": "Olá"}[lang_ans]
        sign = {"en": "Kind regards", "es": "Un saludo", "de": "Viele Grüße", "fr": "Cordialement", "pt": "Atenciosamente"}[lang_ans]
        text = f"{greet} {first},\n\n{core}\n\n{sign},\n{brand} Support"
    return text


def _llm_span(b: _Builder, r: random.Random, trace_id: str, root_id: str, model: str, provider: str, service: str,
              msgs: list[dict[str, Any]], out: list[dict[str, Any]], q: str, cur: int, noise: float,
              session_id: str, user_id: str) -> int:
    pt = _msg_tokens(msgs)
    ct = max(1, _msg_tokens(out) - 3)
    d = int(_llm_latency_ms(model, pt, ct, float(noise)) * 1000)
    texts = [m["content"] for m in out if m.get("content")]
    b.add(trace_id=trace_id, span_id=b.sid(), parent_span_id=root_id, name=_llm_name(model, service), kind="llm",
          start_us=cur, end_us=cur + d, status="ok", model=model, provider=provider, input_messages=list(msgs),
          output_messages=out, input_text=q, output_text="\n".join(texts) if texts else None,
          prompt_tokens=pt, completion_tokens=ct, total_tokens=pt + ct, cost_usd=_cost(model, pt, ct),
          session_id=session_id, user_id=user_id, metadata=b.meta_for(service))
    return cur + d + r.randint(300, 3000)


# --------------------------------------------------------------------------- arrow

def _to_arrow(c: dict[str, list[Any]]) -> pa.Table:
    schema = SPANS.arrow_schema
    ts = pa.timestamp("us", tz="UTC")
    start = np.asarray(c["start_us"], dtype=np.int64)
    end = np.asarray(c["end_us"], dtype=np.int64)
    lat = (end - start) / 1e6 * 1000.0
    n = len(start)

    def col(name: str) -> pa.Array:
        return pa.array(c[name], schema.field(name).type)

    def ints(name: str) -> pa.Array:
        return pa.array(c[name], pa.int64())

    arrays = {
        "trace_id": col("trace_id"), "span_id": col("span_id"), "parent_span_id": col("parent_span_id"),
        "name": col("name"), "kind": col("kind"),
        "start_time": pa.array(start, pa.int64()).cast(ts), "end_time": pa.array(end, pa.int64()).cast(ts),
        "latency_ms": pa.array(lat, pa.float64()), "status": col("status"), "error_message": col("error_message"),
        "model": col("model"), "provider": col("provider"), "input_messages": col("input_messages"),
        "output_messages": col("output_messages"), "input_text": col("input_text"), "output_text": col("output_text"),
        "documents": col("documents"), "tool_name": col("tool_name"), "tool_arguments": col("tool_arguments"),
        "tool_result": col("tool_result"), "prompt_tokens": ints("prompt_tokens"),
        "completion_tokens": ints("completion_tokens"), "total_tokens": ints("total_tokens"),
        "cost_usd": pa.array(c["cost_usd"], pa.float64()), "session_id": col("session_id"), "user_id": col("user_id"),
        "tags": col("tags"), "metadata": pa.array(c["metadata"], pa.string()),
        "attributes": pa.nulls(n, pa.string()), "source_format": pa.array([_SOURCE] * n, pa.string()),
    }
    return pa.Table.from_arrays([arrays[f.name] for f in schema], schema=schema)
