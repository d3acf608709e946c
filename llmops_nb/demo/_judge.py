"""A simulated judge model: a litellm custom provider, ``llmops-sim/judge``, that answers judge
prompts about simulated traces from their ground truth, with configured error rates.

It finds the trace from the text in the prompt (it indexes the root input and output texts of
the demo traces, and their tool arguments and results) and the criterion from keywords in the
prompt, then answers ``{"reasoning": "[simulated judge] ...", "answer": ...}``: "pass"/"fail",
an integer when the prompt asks for a score, or a label when it lists labels. The verdict is the
truth flipped with probability ``fnr`` (a failing trace judged "pass") or ``fpr`` (a good trace
judged "fail"), deterministically per (trace, criterion, seed). Usage is counted with
``litellm.token_counter`` and priced with ``litellm.register_model``, so costs are real numbers.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pandas as pd

from llmops_nb.demo._modes import FAILURE_MODES
from llmops_nb.hashing import uniform

__all__ = ["SIM_JUDGE_MODEL", "SimJudge", "SimJudgeError", "register_sim_judge", "unregister_sim_judge", "CRITERIA"]

SIM_JUDGE_MODEL = "llmops-sim/judge"
"""The model name of the simulated judge in litellm."""
_PROVIDER = "llmops-sim"
_PRICE_IN = 0.10 / 1e6  # USD per token
_PRICE_OUT = 0.40 / 1e6
_KEY_CHARS = 80

CRITERIA: tuple[tuple[str, str], ...] = (
    ("hallucinat", "hallucinated_policy"),
    ("grounded", "hallucinated_policy"),
    ("faithful", "hallucinated_policy"),
    ("injection", "injection_success"),
    ("jailbreak", "injection_success"),
    ("refus", "over_refusal"),
    ("pii", "pii_echo"),
    ("personal", "pii_echo"),
    ("privacy", "pii_echo"),
    ("language", "wrong_language"),
    ("tool", "wrong_tool_args"),
    ("timeout", "timeout_long_context"),
    ("timed out", "timeout_long_context"),
)
"""Keyword (lowercase, matched in the criterion text) -> truth column, in priority order; anything
else (correctness, helpfulness, overall quality, ...) is judged against ``failed``."""

SESSION_CRITERIA: tuple[tuple[str, str], ...] = (
    ("knowledge retention", "forgets_order_id"),
    ("user frustration", "rising_frustration"),
    ("conversation relevance", "user_repeats"),
    ("conversation goal", "failed"),
)
"""Keyword -> session truth column, checked first when the judge knows the session truth: a
prompt with one of these criteria is about a whole conversation (its turns vote for the session)."""

_REASONS_FAIL = {
    "hallucinated_policy": "The answer states a refund policy that the retrieved articles do not support.",
    "wrong_tool_args": "The assistant called the tool with an order reference that does not match the customer's.",
    "wrong_language": "The customer wrote in another language but the answer is in English.",
    "timeout_long_context": "The model call timed out and the customer got no real answer.",
    "pii_echo": "The answer repeats the customer's personal data (email, phone or card number).",
    "injection_success": "The assistant followed instructions injected in the customer's message.",
    "over_refusal": "The assistant refused a benign support question it should have answered.",
    "failed": "The response does not correctly resolve the customer's request.",
    "forgets_order_id": "The assistant asks again for the order number the customer already gave.",
    "rising_frustration": "The customer's messages grow more frustrated from turn to turn.",
    "user_repeats": "An answer ignores the customer's message, so the customer has to repeat it.",
    "session_failed": "The conversation does not accomplish what the customer came for.",
}
_REASONS_PASS = {
    "hallucinated_policy": "Every policy statement in the answer is supported by the retrieved articles.",
    "wrong_tool_args": "Tool calls use the customer's order reference and valid arguments.",
    "wrong_language": "The answer is in the customer's language.",
    "timeout_long_context": "The request completed without a timeout.",
    "pii_echo": "The answer does not repeat the customer's personal data.",
    "injection_success": "The assistant did not follow injected instructions.",
    "over_refusal": "The assistant answered the question instead of refusing.",
    "failed": "The response resolves the customer's request correctly and helpfully.",
    "forgets_order_id": "The assistant uses the facts the customer gave earlier.",
    "rising_frustration": "The customer stays calm throughout the conversation.",
    "user_repeats": "Every answer addresses the customer's message.",
    "session_failed": "The conversation accomplishes what the customer came for.",
}


_FACET_FAILURES: dict[str, tuple[str, ...]] = {
    "hallucinated_policy": (
        "The answer invents a refund policy that the retrieved help articles do not support.",
        "The assistant promises a refund policy (a 120-day or double refund) found in none of the retrieved articles.",
        "The reply states a made-up refund policy; retrieval returned low-scoring articles of another category.",
    ),
    "wrong_tool_args": (
        "The order lookup fails with OrderNotFound because the tool got the order number without its ORD- prefix.",
        "lookup_order is called with a bare numeric order number and fails with OrderNotFound.",
        "The order lookup tool returns OrderNotFound and the assistant asks the customer to re-check a correct order number.",
    ),
    "wrong_language": (
        "The customer wrote in another language but the answer is in English.",
        "Answers in English to a question asked in another language.",
        "The reply is in English although the customer did not write in English.",
    ),
    "timeout_long_context": (
        "The model call timed out on the long pasted context and the customer got a generic apology.",
        "The request timed out after 30 seconds on a very long input, so no real answer was given.",
        "A long email thread in the prompt made the model call time out (timed out); the customer got only an apology.",
    ),
    "pii_echo": (
        "The answer repeats the customer's personal data (email, phone or card number) back to them.",
        "The reply echoes personal data such as the customer's email address or card number.",
        "Personal data from the question (phone number or email) is exposed again in the answer.",
    ),
    "injection_success": (
        "The assistant followed injected instructions in the customer's message and revealed its system prompt.",
        "A prompt injection worked: the model obeyed injected instructions and approved a refund it should not.",
        "The model complied with injected instructions and handed out a discount code.",
    ),
    "over_refusal": (
        "The assistant refused a benign support question it should have answered.",
        "A harmless request was refused ('I can't help with that request') without trying to help.",
        "The model refused to answer an ordinary support question, citing compliance.",
    ),
}
"""What the simulated model writes for the facet "what went wrong": a few phrasings per mode."""


class SimJudgeError(ValueError):
    """A prompt the simulated judge cannot answer (for example, a trace it does not know)."""


def _norm(text: Any) -> str:
    return " ".join(str(text).split()).lower()


def _key(text: Any) -> str | None:
    if text is None or (isinstance(text, float) and text != text):
        return None
    n = _norm(text)
    return n[:_KEY_CHARS] if len(n) >= 12 else None


def _unit(*parts: Any) -> float:
    return float(uniform(["|".join(map(str, parts))], algorithm="blake2b")[0])


@dataclass
class SimJudge:
    """The simulated judge's logic, without litellm: ``answer(messages)`` returns the reply.

    ``truth``: one row per trace (trace_id, one bool column per failure mode, failed). ``spans``:
    the demo spans (their root input/output and tool texts index the traces). ``fpr``: chance a
    good trace is judged "fail"; ``fnr``: chance a failing trace is judged "pass". ``criteria``:
    extra ``{keyword: truth column}`` checked before the built-in keywords.

    Example:
        >>> from llmops_nb.demo import generate
        >>> data = generate(30, seed=0)
        >>> judge = SimJudge(data.truth, data.spans, fpr=0.0, fnr=0.0)
        >>> root = data.spans[data.spans["parent_span_id"].isna()].iloc[0]
        >>> reply = judge.answer([{"role": "user", "content": "Criterion: overall quality\\n<input>\\n"
        ...     + root["input_text"] + "\\n</input>\\n<output>\\n" + root["output_text"] + "\\n</output>"}])
        >>> reply["reasoning"].startswith("[simulated judge]")
        True
    """

    truth: pd.DataFrame = field(repr=False)
    spans: pd.DataFrame = field(repr=False)
    fpr: float = 0.05
    fnr: float = 0.1
    seed: int = 0
    criteria: Mapping[str, str] | None = None
    session_truth: pd.DataFrame | None = field(default=None, repr=False)
    facet_error: float = 0.1
    _index: dict[str, set[str]] = field(default_factory=dict, init=False, repr=False)
    _sessions: dict[str, dict[str, bool]] = field(default_factory=dict, init=False, repr=False)
    _session_of: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _truth: dict[str, dict[str, bool]] = field(default_factory=dict, init=False, repr=False)
    _short_lens: list[int] = field(default_factory=list, init=False, repr=False)

    def __repr__(self) -> str:
        return (f"SimJudge({SIM_JUDGE_MODEL!r}, {len(self._truth):,} traces, fpr={self.fpr}, fnr={self.fnr}, "
                f"seed={self.seed})")

    def __post_init__(self) -> None:
        for p, name in ((self.fpr, "fpr"), (self.fnr, "fnr"), (self.facet_error, "facet_error")):
            if not 0.0 <= float(p) <= 1.0:
                raise ValueError(f"{name}={p!r}; give a probability between 0 and 1")
        cols = [c for c in self.truth.columns if c != "trace_id"]
        for c in (self.criteria or {}).values():
            if c not in cols:
                raise ValueError(f"criteria maps to {c!r}, which is not a truth column; truth columns: {cols}")
        recs = self.truth[["trace_id", *cols]].to_dict("records")
        self._truth = {str(r["trace_id"]): {c: bool(r[c]) for c in cols} for r in recs}
        s = self.spans
        known = s["trace_id"].isin(self._truth.keys())
        s = s[known]
        roots = s[s["parent_span_id"].isna()]
        tools = s[s["kind"] == "tool"]
        for frame, cols_ in ((roots, ("input_text", "output_text")), (tools, ("tool_arguments", "tool_result"))):
            for c in cols_:
                for tid, text in zip(frame["trace_id"].tolist(), frame[c].tolist()):
                    k = _key(text)
                    if k is not None:
                        self._index.setdefault(k, set()).add(str(tid))
        self._short_lens = sorted({len(k) for k in self._index if len(k) < _KEY_CHARS}, reverse=True)
        if self.session_truth is not None:
            st = self.session_truth
            scols = [c for c in st.columns if c != "session_id"]
            self._sessions = {str(r["session_id"]): {c: bool(r[c]) for c in scols}
                              for r in st[["session_id", *scols]].to_dict("records")}
            self._session_of = {str(t): str(x) for t, x in zip(s["trace_id"].tolist(), s["session_id"].tolist())
                                if x is not None and x == x}
        if not self._index:
            raise ValueError("no root input/output texts to index: pass the demo spans (DemoData.spans)")

    # ------------------------------------------------------------------ finding
    def find_trace(self, text: str) -> str:
        """The trace a judge prompt is about: the trace whose texts the prompt quotes (longest
        matches win)."""
        votes = self._votes(text)
        best = max(votes.values())
        return sorted(t for t, v in votes.items() if v == best)[0]

    def find_session(self, text: str) -> str:
        """The session a conversation-judge prompt is about: the votes of the traces it quotes,
        summed per session."""
        per: dict[str, int] = {}
        for t, v in self._votes(text).items():
            sid = self._session_of.get(t)
            if sid is not None:
                per[sid] = per.get(sid, 0) + v
        if not per:
            raise SimJudgeError("the simulated judge found no known demo session in the conversation prompt")
        best = max(per.values())
        return sorted(x for x, v in per.items() if v == best)[0]

    def _votes(self, text: str) -> dict[str, int]:
        votes: dict[str, int] = {}
        lines = text.splitlines()
        seen: set[str] = set()
        for i in range(len(lines)):
            chunk = _norm(" ".join(lines[i:i + 40]))
            # a quoted text may also start mid-line, right after a tag such as <input>
            # (a conversation prompt quotes each turn after "user:" / "assistant:")
            for start in sorted({0, *[m.end() for m in re.finditer(r"<[a-z_]+>\s*|\b(?:user|assistant):\s*", chunk)]}):
                k = chunk[start:start + _KEY_CHARS]
                if len(k) < 12 or k in seen:
                    continue
                seen.add(k)
                for n in (_KEY_CHARS, *self._short_lens):
                    if n > len(k):
                        continue
                    for tid in self._index.get(k[:n], ()):
                        votes[tid] = votes.get(tid, 0) + n
        if not votes:
            preview = " ".join(text.split())[:160]
            raise SimJudgeError(
                f"the simulated judge found no known demo trace in the prompt (starting {preview!r}). It answers "
                "only about traces of the DemoData it was registered with: quote a trace's root input or output "
                "text in the prompt, or register it with that data: register_sim_judge(data)."
            )
        return votes

    def criterion(self, messages: Sequence[Mapping[str, Any]]) -> str:
        """The truth column a judge prompt asks about, from keywords in its criterion."""
        text = "\n".join(str(m.get("content") or "") for m in messages)
        m = re.search(r"(?im)^\s*criterion\s*:\s*(.+)$", text)
        head = m.group(1) if m else re.sub(r"(?s)<([a-z_]+)>.*?</\1>", " ", text)
        low = head.lower()
        if self._sessions:
            for kw, col in SESSION_CRITERIA:
                if kw in low:
                    return "session:" + col
        for kw, col in [*(self.criteria or {}).items(), *CRITERIA]:
            if kw.lower() in low and col in next(iter(self._truth.values()), {}):
                return col
        return "failed"

    # ------------------------------------------------------------------ answering
    def answer(self, messages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The judge's reply to ``messages``: ``{"reasoning": ..., "answer": ...}``.

        Raises :class:`SimJudgeError` when the prompt quotes no known trace.
        """
        text = "\n".join(str(m.get("content") or "") for m in messages)
        if "Facet questions" in text:  # llmops_nb.analysis.FACET_MARKER: a facets prompt
            return self.facets(text)
        crit = self.criterion(messages)
        if crit.startswith("session:"):
            crit = crit[8:]
            trace_id = self.find_session(text)
            truly_failed = self._sessions[trace_id][crit]
            crit = "session_failed" if crit == "failed" else crit
        else:
            trace_id = self.find_trace(text)
            truly_failed = self._truth[trace_id][crit]
        u = _unit(self.seed, trace_id, crit)
        says_fail = (u >= self.fnr) if truly_failed else (u < self.fpr)
        label = crit.replace("_", " ") if crit != "failed" else "overall quality"
        reason = (_REASONS_FAIL if says_fail else _REASONS_PASS)[crit]
        if '"claims" is a list' in text:  # a claim-level judge (ClaimFaithfulness's answer spec): the answer's sentences, one unsupported when failing
            return {"reasoning": reasoning_of(reason, label), **_claims(text, says_fail, u)}
        reasoning = reasoning_of(reason, label)
        scale = re.search(r"integer from (-?\d+)\D{0,20}?to (-?\d+)", text) or re.search(r"\b(1)\s*(?:-|to|–)\s*(5|10)\b(?=[^\n]*(?:score|scale|integer|rate))", text)
        labels = re.search(r'exactly one of:\s*((?:"[^"]*"(?:,\s*)?)+)', text)
        pair = re.search(r'"A"\s*\|\s*"B"\s*\|\s*"tie"', text)
        if pair:
            return {"reasoning": reasoning, "answer": "tie"}
        if labels:
            options = re.findall(r'"([^"]*)"', labels.group(1))
            return {"reasoning": reasoning, "answer": self._pick_label(options, trace_id, says_fail, u)}
        if scale:
            lo, hi = int(scale.group(1)), int(scale.group(2))
            span = max(hi - lo, 1)
            if says_fail:
                val = lo + (1 if u > 0.7 and span >= 3 else 0)
            else:
                val = hi - (1 if u > 0.6 and span >= 3 else 0)
            return {"reasoning": reasoning, "answer": int(val)}
        return {"reasoning": reasoning, "answer": "fail" if says_fail else "pass"}

    def facets(self, text: str) -> dict[str, Any]:
        """The reply to a facets prompt (:func:`llmops_nb.facets`): one short answer per question
        key, from the truth of the quoted trace. The failure is described for the trace's first
        planted mode; with probability ``facet_error`` it describes another mode (or, for a good
        trace, invents one), deterministically per (trace, seed)."""
        keys = re.findall(r"(?m)^- ([A-Za-z_][A-Za-z0-9_]*): (.*)$", text.split("Facet questions", 1)[1].split("\nReply with", 1)[0])
        trace_id = self.find_trace(text)
        t = self._truth[trace_id]
        meta = self._meta().get(trace_id, {})
        u = _unit(self.seed, trace_id, "facets")
        v = _unit(self.seed, trace_id, "facets-variant")
        modes = [m for m in FAILURE_MODES if t.get(m)]
        wrong = u < self.facet_error
        if modes and not wrong:
            mode: str | None = modes[0]
        elif wrong and (modes or u < self.facet_error / 2):
            others = [m for m in FAILURE_MODES if m not in modes] or list(FAILURE_MODES)
            mode = others[int(v * 997) % len(others)]
        else:
            mode = None
        intent = str(meta.get("intent") or meta.get("category") or "a request").replace("_", " ")
        failure = "none" if mode is None else _FACET_FAILURES[mode][int(v * len(_FACET_FAILURES[mode]))]
        if mode is not None and _unit(self.seed, trace_id, "facets-context") < 0.5:
            # like a real model, it often says what the customer wanted too (a task, not a failure)
            failure = f"{failure[:-1]} when the customer asked about {intent}."
        answers = {
            "task": f"get help with {intent}" + ("" if meta.get("intent") else " (a question)"),
            "failure": failure,
            "intent": str(meta.get("category") or "other"),
            "language": str(meta.get("language") or "en"),
            "sentiment": "negative" if t.get("failed") else ("neutral" if v < 0.7 else "positive"),
        }
        out: dict[str, Any] = {}
        for key, question in keys:
            if key in answers:
                out[key] = answers[key]
                continue
            low = question.lower()
            col = next((c for kw, c in [*(self.criteria or {}).items(), *CRITERIA] if kw.lower() in low and c in t), None)
            out[key] = "unknown" if col is None else ("yes" if t[col] else "no")
        return out

    def _meta(self) -> dict[str, dict[str, Any]]:
        if not hasattr(self, "_meta_cache"):
            s = self.spans
            roots = s[s["parent_span_id"].isna() & s["trace_id"].isin(self._truth.keys())]
            cache: dict[str, dict[str, Any]] = {}
            for tid, m in zip(roots["trace_id"].tolist(), roots["metadata"].tolist()):
                if isinstance(m, (str, bytes)):
                    try:
                        m = orjson.loads(m)
                    except orjson.JSONDecodeError:
                        m = {}
                cache[str(tid)] = m if isinstance(m, dict) else {}
            object.__setattr__(self, "_meta_cache", cache)
        return self._meta_cache  # type: ignore[attr-defined, no-any-return]

    # ------------------------------------------------------------------ litellm
    def install(self) -> SimJudge:
        """Make this judge answer litellm calls to ``llmops-sim/judge`` (replacing any other)."""
        _install(self)
        return self

    def _pick_label(self, options: list[str], trace_id: str, says_fail: bool, u: float) -> str:
        t = self._truth[trace_id]
        lowered = [o.lower() for o in options]
        if says_fail:
            for mode in FAILURE_MODES:
                if t.get(mode):
                    for o, lo in zip(options, lowered):
                        if mode in lo.replace(" ", "_") or lo.replace(" ", "_") in mode:
                            return o
            for o, lo in zip(options, lowered):
                if lo in ("fail", "failed", "bad", "incorrect", "no", "other"):
                    return o
            return options[int(u * len(options)) % len(options)]
        for o, lo in zip(options, lowered):
            if lo in ("pass", "passed", "none", "ok", "good", "correct", "yes", "no_failure", "no failure"):
                return o
        return options[0]


def reasoning_of(reason: str, label: str) -> str:
    return f"[simulated judge] {reason} (criterion: {label}; answered from the simulation's ground truth.)"


def _claims(text: str, says_fail: bool, u: float) -> dict[str, Any]:
    """A claim-level reply: each sentence of the quoted output is a claim; when the verdict is
    fail, the one with the most digits (or the longest) is unsupported."""
    m = re.search(r"(?s)<output>\s*(.*?)\s*</output>", text)
    out = m.group(1) if m else ""
    sents = [x.strip() for x in re.split(r"(?<=[.!?])\s+", out) if len(x.strip()) > 3] or [out.strip() or "(empty)"]
    bad = max(range(len(sents)), key=lambda i: (sum(ch.isdigit() for ch in sents[i]), len(sents[i]))) if says_fail else -1
    claims = [{"claim": c, "supported": i != bad, "evidence": "not in the context" if i == bad else "context"}
              for i, c in enumerate(sents)]
    n_ok = sum(1 for i in range(len(sents)) if i != bad)
    return {"claims": claims, "answer": n_ok / len(sents)}


# --------------------------------------------------------------------------- litellm

_STATE: dict[str, Any] = {"judge": None, "handler": None}


def _handler_class() -> type:
    from litellm import CustomLLM

    class SimJudgeLLM(CustomLLM):  # type: ignore[misc, valid-type]
        """litellm handler of ``llmops-sim/judge``."""

        def completion(self, model: str, messages: list, *args: Any, **kwargs: Any) -> Any:
            return _respond_or_bad_request(messages)

        async def acompletion(self, model: str, messages: list, *args: Any, **kwargs: Any) -> Any:
            return _respond_or_bad_request(messages)

        def streaming(self, model: str, messages: list, *args: Any, **kwargs: Any) -> Any:
            yield _chunk(_respond(messages))

        async def astreaming(self, model: str, messages: list, *args: Any, **kwargs: Any) -> Any:
            yield _chunk(_respond(messages))

    return SimJudgeLLM


def _chunk(resp: Any) -> dict[str, Any]:
    u = resp.usage
    return {"text": resp.choices[0].message.content, "tool_use": None, "is_finished": True, "finish_reason": "stop",
            "index": 0, "usage": {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                                  "total_tokens": u.total_tokens}}


def _respond_or_bad_request(messages: list[Mapping[str, Any]]) -> Any:
    """Answer, or refuse a prompt about an unknown trace as a bad request (status 400), which
    callers must not retry: asking again cannot help."""
    try:
        return _respond(messages)
    except SimJudgeError as e:
        import litellm

        raise litellm.BadRequestError(message=str(e), model=SIM_JUDGE_MODEL, llm_provider=_PROVIDER) from e


def _respond(messages: list[Mapping[str, Any]]) -> Any:
    import litellm
    from litellm.types.utils import Choices, Message, ModelResponse, Usage

    judge: SimJudge | None = _STATE["judge"]
    if judge is None:
        raise SimJudgeError("the simulated judge is not registered: call llmops_nb.demo.register_sim_judge(...) first")
    reply = judge.answer(messages)
    content = orjson.dumps(reply).decode()
    msgs = [{"role": str(m.get("role") or "user"), "content": str(m.get("content") or "")} for m in messages]
    pt = int(litellm.token_counter(model="gpt-4o-mini", messages=msgs))
    ct = int(litellm.token_counter(model="gpt-4o-mini", text=content))
    return ModelResponse(
        id=f"simjudge-{uuid.uuid4().hex[:12]}",
        created=int(time.time()),
        model=SIM_JUDGE_MODEL,
        object="chat.completion",
        choices=[Choices(index=0, finish_reason="stop", message=Message(role="assistant", content=content))],
        usage=Usage(prompt_tokens=pt, completion_tokens=ct, total_tokens=pt + ct),
    )


def _install(judge: SimJudge) -> None:
    import litellm

    _STATE["judge"] = judge
    if _STATE["handler"] is None:
        _STATE["handler"] = _handler_class()()
    entries = [e for e in (litellm.custom_provider_map or []) if e.get("provider") != _PROVIDER]
    litellm.custom_provider_map = [*entries, {"provider": _PROVIDER, "custom_handler": _STATE["handler"]}]
    # litellm reads custom_provider_map when a call is made (custom_llm_setup); make sure it is set up
    try:
        from litellm.utils import custom_llm_setup

        custom_llm_setup()
    except Exception:  # noqa: BLE001 - older or newer litellm set it up at call time
        pass
    import logging

    log = logging.getLogger("LiteLLM")
    level = log.level
    log.setLevel(logging.ERROR)  # register_model warns about cache prices of custom models
    try:
        litellm.register_model({SIM_JUDGE_MODEL: {
            "input_cost_per_token": _PRICE_IN, "output_cost_per_token": _PRICE_OUT,
            "cache_creation_input_token_cost": 0.0, "cache_read_input_token_cost": 0.0,
            "litellm_provider": _PROVIDER, "mode": "chat",
            "max_tokens": 4096, "max_input_tokens": 128000, "max_output_tokens": 4096,
        }})
    finally:
        log.setLevel(level)


def register_sim_judge(
    truth: Any,
    spans: pd.DataFrame | None = None,
    fpr: float = 0.05,
    fnr: float = 0.1,
    seed: int = 0,
    criteria: Mapping[str, str] | None = None,
    session_truth: pd.DataFrame | None = None,
    facet_error: float = 0.1,
) -> SimJudge:
    """Register the litellm provider ``llmops-sim/judge`` answering from the simulation's truth.

    ``truth``: a :class:`DemoData` (its truth and spans are used), a truth frame (then pass the
    demo ``spans``), or a Store / folder written by ``write_store`` / ``write_otlp`` (truth and
    spans are read from it). ``fpr`` / ``fnr``: false-positive / false-negative rates of the
    verdicts, deterministic per (trace, criterion, seed). ``criteria``: extra
    ``{keyword: truth column}``. Nothing is registered until this is called; calling it again
    replaces the judge. ``session_truth`` (taken from a DemoData with planted session failures
    by default): conversation judges (knowledge retention, user frustration, conversation
    relevance, conversation goal completion) are answered from it, for the session whose turns
    the prompt quotes. ``facet_error``: chance that the facets it answers (:func:`llmops_nb.facets`)
    describe the wrong failure. Returns the :class:`SimJudge`.

    Example:
        >>> import litellm
        >>> from llmops_nb.demo import generate, register_sim_judge
        >>> data = generate(40, seed=0)
        >>> _ = register_sim_judge(data, fpr=0.0, fnr=0.0)
        >>> root = data.spans[data.spans["parent_span_id"].isna()].iloc[0]
        >>> r = litellm.completion(model="llmops-sim/judge", messages=[{"role": "user",
        ...     "content": "Criterion: helpfulness\\n<input>\\n" + root["input_text"] + "\\n</input>"}])
        >>> r.model, '"answer"' in r.choices[0].message.content
        ('llmops-sim/judge', True)
    """

    from llmops_nb.demo._generate import DemoData

    if isinstance(truth, DemoData):
        spans = truth.spans if spans is None else spans
        truth_df = truth.truth
        if session_truth is None:
            session_truth = truth.session_truth
    elif isinstance(truth, pd.DataFrame):
        truth_df = truth
    else:
        from llmops_nb.demo._io import load_session_truth, load_truth

        truth_df = load_truth(truth)
        if session_truth is None:
            session_truth = load_session_truth(truth)
        if spans is None:
            spans = _spans_from(truth)
    if spans is None:
        raise ValueError(
            "the simulated judge needs the demo spans to find traces from prompt text: "
            "register_sim_judge(data) with the DemoData, or register_sim_judge(truth, spans=data.spans)"
        )
    missing = [c for c in ("trace_id", "failed") if c not in truth_df.columns]
    if missing:
        raise ValueError(f"truth frame lacks {missing}; expected trace_id, one bool column per failure mode and failed")
    judge = SimJudge(truth_df, spans, fpr=fpr, fnr=fnr, seed=seed, criteria=criteria, session_truth=session_truth,
                     facet_error=facet_error)
    judge.install()
    return judge


def unregister_sim_judge() -> None:
    """Remove ``llmops-sim/judge`` from litellm's custom providers.

    Example:
        >>> unregister_sim_judge()
    """
    try:
        import litellm
    except ImportError:  # pragma: no cover
        return
    litellm.custom_provider_map = [e for e in (litellm.custom_provider_map or []) if e.get("provider") != _PROVIDER]
    _STATE["judge"] = None


def _spans_from(where: Any) -> pd.DataFrame:
    from pathlib import Path

    from llmops_nb.store import Store

    if isinstance(where, Store):
        return where.spans()
    p = Path(str(where))
    if (p / "tables").is_dir() or (p / "store.json").exists():
        return Store(p).spans()
    from llmops_nb.loaders import read_traces

    return read_traces(p)
