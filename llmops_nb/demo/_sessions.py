"""Session-level planted failures of the simulated assistant: what goes wrong across the turns
of a conversation rather than inside one trace.

:func:`plant_session_failures` takes generated data and rewrites the conversations that fail:
the assistant forgets an order id given two turns earlier, ignores a message so the user
repeats it, loops between two tools, or the user's frustration rises across the turns. Each
mode concentrates in a cause slice of the first turn's metadata (:data:`SESSION_PLANTED`);
the truth is one row per session, kept apart from the spans.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from llmops_nb.schema import SPANS, to_arrow

__all__ = ["SESSION_MODES", "SESSION_PLANTED", "SESSION_RATES", "plant_session_failures"]

SESSION_MODES: tuple[str, ...] = ("forgets_order_id", "user_repeats", "tool_loop", "rising_frustration")
"""The session-level failure modes (one bool column each in ``DemoData.session_truth``)."""

SESSION_PLANTED: dict[str, dict[str, Any]] = {
    "forgets_order_id": {
        "column": "channel", "value": "whatsapp", "where": "first turn's root metadata",
        "description": "The WhatsApp connector passes only the latest message to the model, so on the third "
        "turn the assistant asks again for the order number the customer gave in the first.",
        "applies_to": "sessions of 3+ turns whose first and third turns answered normally",
        "evidence": "turn 3 asks 'Could you share your order number?' after turn 1 gave ORD-...",
        "judge": "knowledge retention",
    },
    "user_repeats": {
        "column": "prompt_version", "value": "support-v2.0", "where": "first turn's root metadata",
        "description": "support-v2.0 answers a first message with the help-center boilerplate instead of the "
        "question, so the customer sends the same question again.",
        "applies_to": "sessions of 2+ turns whose first two turns answered normally",
        "evidence": "a generic first answer; turn 2 nearly repeats turn 1 ('I already asked this, but: ...')",
        "judge": "conversation relevance",
    },
    "tool_loop": {
        "column": "model", "value": "gpt-4o-mini", "where": "llm spans",
        "description": "gpt-4o-mini re-checks an order it already looked up, alternating lookup_order and "
        "track_shipment with the same arguments.",
        "applies_to": "sessions with a turn that looked an order up successfully",
        "evidence": "lookup_order and track_shipment called 3 times each with the same order id in one turn",
        "judge": "conversation goal completion",
    },
    "rising_frustration": {
        "column": "category", "value": "technical", "where": "first turn's root metadata",
        "description": "Technical conversations get canned troubleshooting steps; the customer's messages grow "
        "more irritated turn after turn.",
        "applies_to": "sessions of 3+ turns",
        "evidence": "user messages from turn 2 on start with complaints that escalate",
        "judge": "user frustration",
    },
}
"""Each session mode's cause (a slice of the first turn's metadata, or of the models used), its
description, which sessions it can affect and the evidence; ``judge`` names the session judge
criterion that detects it."""

SESSION_RATES: dict[str, tuple[float, float]] = {
    "forgets_order_id": (0.60, 0.03),
    "user_repeats": (0.50, 0.03),
    "tool_loop": (0.55, 0.02),
    "rising_frustration": (0.60, 0.03),
}
"""mode -> (probability inside the cause slice, background probability elsewhere), among the
sessions the mode applies to."""

_ORDER_RE = re.compile(r"ORD-\d{7}")
_GIVE_ORDER = {"en": " My order number is {o}.", "es": " Mi número de pedido es {o}.",
               "de": " Meine Bestellnummer ist {o}.", "fr": " Mon numéro de commande est {o}.",
               "pt": " O número do meu pedido é {o}."}
_FOLLOW = {"en": "Going back to the order I mentioned at the start: when will it arrive?",
           "es": "Volviendo al pedido que mencioné al principio: ¿cuándo llegará?",
           "de": "Zurück zu der Bestellung, die ich am Anfang erwähnt habe: Wann kommt sie an?",
           "fr": "Pour revenir à la commande mentionnée au début : quand arrivera-t-elle ?",
           "pt": "Voltando à encomenda que mencionei no início: quando chega?"}
_REMEMBERS = {"en": "Your order {o} is on its way and should arrive within 2-3 business days.",
              "es": "Su pedido {o} está en camino y debería llegar en 2-3 días hábiles.",
              "de": "Ihre Bestellung {o} ist unterwegs und sollte in 2-3 Werktagen ankommen.",
              "fr": "Votre commande {o} est en route et devrait arriver sous 2 à 3 jours ouvrés.",
              "pt": "A sua encomenda {o} está a caminho e deve chegar em 2-3 dias úteis."}
_FORGETS = {"en": "I'd be happy to check on that. Could you please share your order number?",
            "es": "Con gusto lo reviso. ¿Podría indicarme su número de pedido?",
            "de": "Das prüfe ich gern. Können Sie mir bitte Ihre Bestellnummer nennen?",
            "fr": "Je vérifie volontiers. Pourriez-vous m'indiquer votre numéro de commande ?",
            "pt": "Verifico com todo o gosto. Pode indicar-me o número da sua encomenda?"}
_IGNORES = {"en": "Thanks for reaching out! Our help center has answers to the most common questions. Is there "
                  "anything else I can help you with today?",
            "es": "¡Gracias por escribirnos! Nuestro centro de ayuda responde a las preguntas más frecuentes. "
                  "¿Puedo ayudarle en algo más?",
            "de": "Danke für Ihre Nachricht! In unserem Hilfecenter finden Sie Antworten auf die häufigsten Fragen. "
                  "Kann ich sonst noch helfen?",
            "fr": "Merci de nous avoir contactés ! Notre centre d'aide répond aux questions les plus fréquentes. "
                  "Puis-je vous aider pour autre chose ?",
            "pt": "Obrigado pelo contacto! O nosso centro de ajuda responde às perguntas mais frequentes. "
                  "Posso ajudar em mais alguma coisa?"}
_REPEAT = {"en": "I already asked this, but: ", "es": "Ya lo pregunté, pero: ", "de": "Ich habe das schon gefragt: ",
           "fr": "Je l'ai déjà demandé : ", "pt": "Já perguntei isto, mas: "}
_ANGRY = {
    "en": ["That didn't help at all. ", "This is getting ridiculous, I've explained this already! ",
           "I'm losing my patience. I'll cancel my account if this isn't fixed NOW. "],
    "es": ["Eso no me ha ayudado nada. ", "¡Esto ya es ridículo, ya lo he explicado! ",
           "Estoy perdiendo la paciencia. Si no se arregla YA, cancelo mi cuenta. "],
    "de": ["Das hat überhaupt nicht geholfen. ", "Das wird langsam lächerlich, ich habe das schon erklärt! ",
           "Mir reißt der Geduldsfaden. Wenn das nicht SOFORT behoben wird, kündige ich. "],
    "fr": ["Ça ne m'a pas aidé du tout. ", "Ça devient ridicule, je l'ai déjà expliqué ! ",
           "Je perds patience. Si ce n'est pas réglé TOUT DE SUITE, je résilie. "],
    "pt": ["Isso não ajudou nada. ", "Isto já é ridículo, já expliquei! ",
           "Estou a perder a paciência. Se não resolverem JÁ, cancelo a conta. "],
}
_TRACK = "track_shipment"

_TEXT_COLS = ("input_text", "output_text")
_MSG_COLS = ("input_messages", "output_messages")


def _rates(rates: Mapping[str, Any] | None) -> dict[str, tuple[float, float]]:
    out = dict(SESSION_RATES)
    for m, v in (rates or {}).items():
        if m not in out:
            raise ValueError(f"unknown session failure mode {m!r} in session_rates; valid modes: {list(SESSION_MODES)}")
        out[m] = (float(v[0]), float(v[1])) if isinstance(v, (tuple, list)) else (float(v), out[m][1])
        if not all(0.0 <= x <= 1.0 for x in out[m]):
            raise ValueError(f"session_rates[{m!r}]={v!r}: probabilities must be between 0 and 1")
    return out


class _Session:
    """The spans of one session as mutable records, with text rewriting."""

    def __init__(self, rows: pd.DataFrame) -> None:
        self.rows = rows  # positional index 0..n-1 within the session
        roots = rows[rows["parent_span_id"].isna()].sort_values("start_time", kind="stable")
        self.turns = roots["trace_id"].tolist()
        self.root_pos = dict(zip(roots["trace_id"], roots.index))

    def root(self, turn: int) -> dict[str, Any]:
        return self.rows.loc[self.root_pos[self.turns[turn]]]

    def q(self, turn: int) -> str:
        return str(self.root(turn)["input_text"] or "")

    def a(self, turn: int) -> str:
        return str(self.root(turn)["output_text"] or "")

    def replace(self, old: str, new: str) -> None:
        """Replace a text everywhere in the session (inputs, outputs, chat histories)."""
        if not old or old == new:
            return
        df = self.rows
        for c in _TEXT_COLS:
            vals = df[c].tolist()
            df[c] = [v.replace(old, new) if isinstance(v, str) and old in v else v for v in vals]
        for c in _MSG_COLS:
            vals = df[c].tolist()
            out = []
            for msgs in vals:
                if isinstance(msgs, list) and any(isinstance(m, dict) and isinstance(m.get("content"), str)
                                                  and old in m["content"] for m in msgs):
                    msgs = [{**m, "content": m["content"].replace(old, new)} if isinstance(m.get("content"), str)
                            else m for m in msgs]
                out.append(msgs)
            df[c] = out


def _clean_turns(truth: pd.DataFrame) -> dict[str, bool]:
    return dict(zip(truth["trace_id"], ~truth["failed"].astype(bool)))


def plant_session_failures(data: Any, seed: int = 0, rates: Mapping[str, Any] | None = None) -> Any:
    """A copy of simulated ``data`` (a :class:`~llmops_nb.demo.DemoData`) whose conversations
    carry the session-level failure modes of :data:`SESSION_PLANTED`, with their truth.

    Each mode occurs with probability ``rates[mode][0]`` among the eligible sessions of its
    cause slice and ``rates[mode][1]`` among the other eligible sessions (defaults
    :data:`SESSION_RATES`). The result's ``session_truth`` has one row per session
    (``session_id``, one bool per mode, ``failed`` = any); ``session_plan`` has the slice
    membership and eligibility of each. Sessions with a long pasted context are left alone.
    Deterministic for a given ``seed``.

    Example:
        >>> from llmops_nb.demo import generate, plant_session_failures
        >>> data = plant_session_failures(generate(400, seed=1), seed=1)
        >>> data.session_truth.columns.tolist()
        ['session_id', 'forgets_order_id', 'user_repeats', 'tool_loop', 'rising_frustration', 'failed']
    """
    from llmops_nb.demo._generate import DemoData

    rate = _rates(rates)
    rng = np.random.default_rng([seed, 1515])
    plan = data.plan.copy()
    plan["_pos"] = np.arange(len(plan))
    clean = _clean_turns(data.truth)
    arrow: pa.Table = data.arrow
    # first-turn facts and eligibility, per session
    by_sess = plan.sort_values(["session_id", "turn"], kind="stable").groupby("session_id", sort=False)
    first = by_sess.first()
    n_turns = by_sess.size()
    turn_ids = by_sess["trace_id"].agg(list)
    long_ctx = by_sess["long_context"].any()
    sess = first.index.to_numpy()
    models_of = {s: m for s, m in zip(first.index, first["model"])}
    tool_spans = arrow.filter(pc.equal(arrow["kind"], "tool")).select(["trace_id", "tool_name", "status"]).to_pandas()
    ok_lookup = set(tool_spans.loc[(tool_spans["tool_name"] == "lookup_order") & (tool_spans["status"] == "ok"),
                                   "trace_id"])
    sp: dict[str, list[Any]] = {k: [] for k in ("session_id", "n_turns", "language", "channel", "prompt_version",
                                                  "category", "model", *[f"in_slice_{m}" for m in SESSION_MODES],
                                                  *[f"eligible_{m}" for m in SESSION_MODES])}
    got: dict[str, dict[str, bool]] = {}
    loop_turn: dict[str, str] = {}
    draws = {m: rng.random(len(sess)) for m in SESSION_MODES}
    for k, s in enumerate(sess):
        f = first.loc[s]
        ids = turn_ids[s]
        n = int(n_turns[s])
        ok = [clean.get(t, False) for t in ids]
        lc = bool(long_ctx[s])
        in_slice = {
            "forgets_order_id": f["channel"] == SESSION_PLANTED["forgets_order_id"]["value"],
            "user_repeats": f["prompt_version"] == SESSION_PLANTED["user_repeats"]["value"],
            "tool_loop": models_of[s] == SESSION_PLANTED["tool_loop"]["value"],
            "rising_frustration": f["category"] == SESSION_PLANTED["rising_frustration"]["value"],
        }
        looked = [t for t, o in zip(ids, ok) if o and t in ok_lookup]
        elig = {
            "forgets_order_id": n >= 3 and ok[0] and ok[2] and not lc,
            "user_repeats": n >= 2 and ok[0] and ok[1] and not lc,
            "tool_loop": bool(looked) and not lc,
            "rising_frustration": n >= 3 and not lc,
        }
        g = {m: bool(elig[m] and draws[m][k] < rate[m][0 if in_slice[m] else 1]) for m in SESSION_MODES}
        if g["tool_loop"]:
            loop_turn[s] = looked[0]
        got[s] = g
        for key, v in (("session_id", s), ("n_turns", n), ("language", f["language"]), ("channel", f["channel"]),
                       ("prompt_version", f["prompt_version"]), ("category", f["category"]), ("model", models_of[s])):
            sp[key].append(v)
        for m in SESSION_MODES:
            sp[f"in_slice_{m}"].append(bool(in_slice[m]))
            sp[f"eligible_{m}"].append(bool(elig[m]))
    session_plan = pd.DataFrame(sp)
    # which sessions get rewritten: every eligible session of forgets_order_id (the follow-up
    # question is asked either way), and the failing sessions of the other modes
    plan_idx = session_plan.set_index("session_id")
    touched = set(plan_idx.index[plan_idx["eligible_forgets_order_id"]]) | {s for s, g in got.items() if any(g.values())}
    mask = pc.is_in(arrow["session_id"], value_set=pa.array(sorted(touched), pa.string()))
    keep = arrow.filter(pc.invert(mask))
    sub = arrow.filter(mask)
    from llmops_nb.schema import from_arrow

    df = from_arrow(sub, SPANS)
    lang_of = dict(zip(first.index, first["language"]))
    rewritten: list[pd.DataFrame] = []
    r = np.random.default_rng([seed, 1516])
    for s, rows in df.groupby("session_id", sort=False):
        rows = rows.reset_index(drop=True)
        ses = _Session(rows)
        lang = lang_of.get(s, "en")
        g = got[s]
        if plan_idx.at[s, "eligible_forgets_order_id"]:
            q1 = ses.q(0)
            found = _ORDER_RE.search(q1)
            order = found.group(0) if found else f"ORD-{int(r.integers(1_000_000, 9_999_999))}"
            if not found:
                ses.replace(q1, q1 + _GIVE_ORDER[lang].format(o=order))
            q3, a3 = ses.q(2), ses.a(2)
            ses.replace(q3, _FOLLOW[lang])
            ses.replace(a3, (_FORGETS if g["forgets_order_id"] else _REMEMBERS)[lang].format(o=order))
        if g["user_repeats"]:
            q1, a1, q2 = ses.q(0), ses.a(0), ses.q(1)
            ses.replace(a1, _IGNORES[lang])
            ses.replace(q2, _REPEAT[lang] + q1)
        if g["rising_frustration"]:
            for j in range(1, len(ses.turns)):
                q = ses.q(j)
                ses.replace(q, _ANGRY[lang][min(j - 1, 2)] + q)
        if g["tool_loop"]:
            rows = _insert_loop(ses.rows, loop_turn[s], r)
        else:
            rows = ses.rows
        rewritten.append(rows)
    if rewritten:
        new = to_arrow(pd.concat(rewritten, ignore_index=True), SPANS)
        table = pa.concat_tables([keep, new])
    else:
        table = arrow
    truth = pd.DataFrame([{"session_id": s, **got[s]} for s in sess], columns=["session_id", *SESSION_MODES])
    truth["failed"] = truth[list(SESSION_MODES)].any(axis=1)
    truth["session_id"] = truth["session_id"].astype(object)
    session_plan["session_id"] = session_plan["session_id"].astype(object)
    config = {**data.config, "session_seed": int(seed), "session_rates": {m: list(v) for m, v in rate.items()},
              "session_planted": {m: {"column": SESSION_PLANTED[m]["column"], "value": SESSION_PLANTED[m]["value"]}
                                  for m in SESSION_MODES}}
    return DemoData(arrow=table, truth=data.truth, plan=data.plan, config=config, session_truth=truth,
                    session_plan=session_plan)


def _insert_loop(rows: pd.DataFrame, trace_id: str, r: np.random.Generator) -> pd.DataFrame:
    """Insert a lookup_order / track_shipment loop after the trace's first lookup_order call;
    later spans of the session move later by the time the loop took."""
    tr = rows[(rows["trace_id"] == trace_id) & (rows["tool_name"] == "lookup_order") & (rows["status"] == "ok")]
    base = tr.sort_values("start_time").iloc[0]
    args = base["tool_arguments"]
    order = orjson.loads(args).get("order_id")
    track_args = orjson.dumps({"order_id": order}).decode()
    track_res = orjson.dumps({"order_id": order, "status": "in_transit", "last_scan": "regional hub"}).decode()
    t = pd.Timestamp(base["end_time"])
    new = []
    for name, a, res in [(_TRACK, track_args, track_res), ("lookup_order", args, base["tool_result"]),
                         (_TRACK, track_args, track_res), ("lookup_order", args, base["tool_result"]),
                         (_TRACK, track_args, track_res)]:
        d = pd.Timedelta(microseconds=int(r.uniform(60, 250) * 1000))
        gap = pd.Timedelta(microseconds=int(r.uniform(300, 1500) * 1000))
        rec = base.to_dict()
        rec.update({"span_id": f"{int(r.integers(1, 2**62)):016x}", "name": name if base["name"] == "lookup_order"
                    else f"execute_tool {name}", "tool_name": name, "tool_arguments": a, "tool_result": res,
                    "input_text": a, "output_text": res, "start_time": t + gap, "end_time": t + gap + d,
                    "latency_ms": d.total_seconds() * 1000})
        t = t + gap + d
        new.append(rec)
    shift = t - pd.Timestamp(base["end_time"])
    out = rows.copy()
    later_start = out["start_time"] > base["end_time"]
    later_end = out["end_time"] > base["end_time"]
    out.loc[later_start, "start_time"] = out.loc[later_start, "start_time"] + shift
    out.loc[later_end, "end_time"] = out.loc[later_end, "end_time"] + shift
    st = pd.to_datetime(out["start_time"], utc=True)
    en = pd.to_datetime(out["end_time"], utc=True)
    out["latency_ms"] = (en - st).dt.total_seconds() * 1000
    return pd.concat([out, pd.DataFrame(new)], ignore_index=True)
