"""The annotation session: the queue walk, durable decisions, leases, undo and navigation.

The widget (``_widget.py``) is a thin view over this class; everything here runs without a
browser, so it is tested directly.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from llmops_nb.annotation._html import esc, is_missing
from llmops_nb.annotation._labels import (
    LabelClock,
    all_labels,
    resolve_labels,
)
from llmops_nb.annotation._leases import Leases
from llmops_nb.annotation._queue import items_from_frame, order_items
from llmops_nb.annotation._schema import Schema
from llmops_nb.annotation._trace_view import render_trace_html

__all__ = ["Session"]


def _same(a: Any, b: Any) -> bool:
    return a == b and type(a) is type(b) if isinstance(a, bool) or isinstance(b, bool) else a == b


class Session:
    """One annotator walking one queue against one store.

    Every decision is appended to the store's labels table (atomic, fsynced) before the next
    item is returned, so nothing acknowledged is lost when the kernel dies; a new Session with
    the same store and annotator resumes after the last decision.

    Example:
        >>> import llmops_nb as lo, pandas as pd, tempfile
        >>> from llmops_nb.annotation import as_schema
        >>> s = Session(pd.DataFrame({"trace_id": ["t1", "t2"], "input_text": ["q1", "q2"]}), schema=as_schema("correct"),
        ...             store=lo.Store(tempfile.mkdtemp()), annotator="ann", queue="sequential")
        >>> s.current
        't1'
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        *,
        schema: Schema,
        store: Any,
        annotator: str,
        queue: str = "random",
        by: str | None = None,
        overlap: int = 1,
        lease_s: float = 600.0,
        seed: int = 0,
        level: str | None = None,
        spans: pd.DataFrame | None = None,
        results: pd.DataFrame | None = None,
        queue_name: str | None = None,
        human_question: str | None = None,
    ) -> None:
        if not annotator or not isinstance(annotator, str):
            raise ValueError("annotator must be a non-empty name, e.g. annotator='alice'")
        if overlap < 1:
            raise ValueError(f"overlap={overlap} must be at least 1 (the number of annotators per item)")
        self.schema = schema
        self.store = store
        self.annotator = annotator
        self.overlap = int(overlap)
        self.lease_s = float(lease_s)
        self.queue = queue
        self.queue_name = queue_name or queue
        self._names = set(schema.names)
        self._clock = LabelClock()
        self._leases = Leases(store)
        self.level = level
        self.items = items_from_frame(frame, level)
        human = None
        if queue == "disagreement":
            q = human_question or next((x.name for x in schema.questions if x.kind == "pass_fail"), schema.names[0])
            cur = resolve_labels(all_labels(store))
            cur = cur[(cur["question"] == q) & cur["value"].notna()]
            human = cur.groupby("item_id")["value"].agg(lambda s: s.mode().iloc[0] if len(s.mode()) else None)
        self.order: list[str] = order_items(self.items, queue, by=by, seed=seed, human=human)
        self._pos = {iid: i for i, iid in enumerate(self.order)}
        self._row = {iid: i for i, iid in enumerate(self.items["item_id"].tolist())}
        # where the item HTML comes from
        if spans is None and {"span_id", "kind", "parent_span_id"} <= set(frame.columns):
            spans = frame
        self._spans: Any = spans
        self._span_idx = spans.groupby("trace_id", sort=False).indices if spans is not None and len(spans) else {}
        self._results: Any = results
        self._res_idx = (results.groupby("trace_id", sort=False).indices
                         if results is not None and len(results) and "trace_id" in results else {})
        self._store_has_spans = spans is None and "spans" in store.tables()
        self._cursor = 0
        self._redo: list[str] = []
        self._frontier: str | None = None
        self._view: str | None = None
        self._label_count = -1
        self._others: dict[str, set[str]] = {}
        self._log = store.label_log(annotator)
        self.flush_every = 200  # rows kept in the session log before they move into the table
        store.flush_label_logs()  # decisions left by a killed kernel go into the table first
        self._load_mine()
        self._advance(release=None)

    # ------------------------------------------------------------------ state from the store
    def _load_mine(self) -> None:
        self._label_count = self._signature()  # before reading: a write in between forces a refresh
        hist = all_labels(self.store)
        cur = resolve_labels(hist)
        self._mine: dict[str, dict[str, Any]] = {}
        self._others = {}
        first_time: dict[str, Any] = {}
        for r in cur.itertuples(index=False):
            iid = r.item_id if not is_missing(r.item_id) else r.trace_id
            if r.annotator == self.annotator:
                if not self._counts(r.question, r.queue, mine=True):
                    continue
                self._mine.setdefault(iid, {})[r.question] = r.value
                t = first_time.get(iid)
                first_time[iid] = r.created_at if t is None or r.created_at < t else t
            elif self._counts(r.question, r.queue, mine=False):
                self._others.setdefault(iid, set()).add(r.annotator)
        # navigation history: my decided items of this queue, in order of decision
        self._history = [i for i, _ in sorted(first_time.items(), key=lambda kv: kv[1]) if i in self._pos]

    def _counts(self, question: Any, queue: Any, *, mine: bool) -> bool:
        """Progress is per queue and schema: my answers to this schema's questions (from any
        queue: a label is one per item, question and annotator), my skips and flags in this queue,
        and other annotators' answers to this schema's questions in this queue."""
        if question in self._names:
            return mine or queue == self.queue_name
        return mine and question in ("skip", "flag") and queue == self.queue_name

    def _signature(self) -> Any:
        return (self.store.count("labels"), self.store.label_logs_signature(exclude=self._log.path))

    def _refresh_others(self) -> None:
        n = self._signature()
        if n == self._label_count:
            return
        cur = resolve_labels(all_labels(self.store))
        self._label_count = n
        others: dict[str, set[str]] = {}
        for iid, ann, item, q, qn in zip(cur["item_id"], cur["annotator"], cur["trace_id"], cur["question"], cur["queue"]):
            if ann != self.annotator and self._counts(q, qn, mine=False):
                others.setdefault(iid if not is_missing(iid) else item, set()).add(ann)
        self._others = others

    def _finished(self, iid: str) -> bool:
        return iid in self._mine or len(self._others.get(iid, ())) >= self.overlap

    # ------------------------------------------------------------------ queue walk
    def _advance(self, release: str | None) -> None:
        """Release ``release`` and lease the next item I should label (atomic under the lock)."""
        order, me = self.order, self.annotator

        def pick(active: dict[str, set[str]]) -> str | None:
            # under the writer lock: labels written by others before they released a lease are
            # visible here, so an item just finished elsewhere is never handed out again
            self._refresh_others()
            while self._cursor < len(order) and self._finished(order[self._cursor]):
                self._cursor += 1
            for i in range(self._cursor, len(order)):
                iid = order[i]
                if iid in self._mine or iid in self._redo:  # an undone item is shown again from _redo
                    continue
                held = active.get(iid, set())
                if me in held:
                    return iid  # my own lease (a resumed session)
                if len(self._others.get(iid, ())) + len(held) < self.overlap:
                    return iid
            return None

        self._frontier = self._leases.transact(me, pick, release=release, lease_s=self.lease_s, queue=self.queue_name)
        self._view = None

    @property
    def current(self) -> str | None:
        """The item shown now (an earlier item under review, an undone item, or the next new one)."""
        if self._view is not None:
            return self._view
        return self._redo[-1] if self._redo else self._frontier

    def progress(self) -> dict[str, Any]:
        """Of this queue's items (``total``): answered by me (``done``), skipped or flagged by
        me, finished by other annotators (``by_others``, when ``overlap`` of them answered), and
        ``left``; the five add up to ``total``. Counted for this queue and schema only."""
        done = skipped = flagged = 0
        for iid, ans in self._mine.items():
            if iid not in self._pos:
                continue
            if any(q in ans for q in self.schema.names):
                done += 1
            elif ans.get("skip"):
                skipped += 1
            elif ans.get("flag"):
                flagged += 1
        by_others = sum(1 for i, s in self._others.items()
                        if len(s) >= self.overlap and i in self._pos and i not in self._mine)
        left = len(self.order) - done - skipped - flagged - by_others
        return {"done": done, "skipped": skipped, "flagged": flagged, "by_others": by_others, "left": left,
                "total": len(self.order), "annotator": self.annotator, "queue": self.queue_name}

    # ------------------------------------------------------------------ decisions
    def _write(self, item_id: str, decisions: list[dict[str, Any]]) -> None:
        if not decisions:
            return
        r = self.items.iloc[self._row[item_id]]
        base = {"trace_id": r["trace_id"], "span_id": r["span_id"], "item_id": item_id, "annotator": self.annotator,
                "schema_version": self.schema.version, "queue": self.queue_name}
        if self.level == "session":
            base["session_id"] = r["session_id"]
        t = self._clock.now_us()
        ts = datetime.fromtimestamp(t / 1e6, tz=timezone.utc).isoformat()
        rows = [{"previous_value": None, "reason": None, **base, **d, "label_id": self._clock.label_id(t, i),
                 "created_at": ts} for i, d in enumerate(decisions)]
        self._log.append(rows)  # durable (fsynced) before the caller moves on
        if self._log.pending >= self.flush_every:
            self.flush()

    def flush(self) -> int:
        """Move this session's logged decisions into the store's labels table."""
        # no shortcut on the cached view of others' labels: another session may have decided
        # while this flush ran, and the next pick must see it
        return self._log.flush()

    def _check_item(self, item_id: str | None) -> str:
        if item_id is None or item_id not in self._row:
            raise KeyError(f"item {item_id!r} is not in this queue")
        return item_id

    def submit(self, item_id: str, answers: Mapping[str, Any], reason: str | None = None) -> None:
        """Record the answers for ``item_id`` (set, or edit with the previous value), then move on."""
        item_id = self._check_item(item_id)
        mine = self._mine.get(item_id, {})
        clean: dict[str, Any] = {}
        for q in self.schema.questions:
            v = answers.get(q.name)
            if q.kind == "text" and isinstance(v, str) and not v.strip():
                v = None
            clean[q.name] = q.check(v)
            if q.kind == "turn" and clean[q.name] is not None:
                n = self._n_turns(item_id)
                if n is not None and clean[q.name] > n:
                    raise ValueError(f"question {q.name!r}: turn {clean[q.name]} is past this session's {n} turns; "
                                     f"valid: 1..{n}")
        missing = [q.name for q in self.schema.questions if q.required and clean[q.name] in (None, [])]
        if missing:
            raise ValueError(f"answer {missing} before submitting (number keys choose; arrow up/down move between questions)")
        if all(v in (None, []) for v in clean.values()) and not any(q in mine for q in self.schema.names):
            raise ValueError(f"answer at least one of {self.schema.names} before submitting, or skip the item (s)")
        decisions = []
        for name, v in clean.items():
            prev = mine.get(name)
            if v is None:
                if prev is not None:
                    decisions.append({"question": name, "value": None, "action": "undo", "previous_value": prev,
                                      "reason": reason or "cleared"})
            elif prev is None:
                decisions.append({"question": name, "value": v, "action": "set", "reason": reason})
            elif not _same(prev, v):
                decisions.append({"question": name, "value": v, "action": "edit", "previous_value": prev,
                                  "reason": reason or "edited"})
        if mine.get("skip"):
            decisions.append({"question": "skip", "value": None, "action": "undo", "previous_value": True,
                              "reason": "answered"})
        self._write(item_id, decisions)
        new = {k: v for k, v in mine.items() if k not in self.schema.names and k != "skip"}
        new.update({k: v for k, v in clean.items() if v is not None})
        self._commit(item_id, new)

    def skip(self, item_id: str) -> None:
        """Skip ``item_id`` (recorded, so a resumed session does not show it again)."""
        item_id = self._check_item(item_id)
        if not self._mine.get(item_id, {}).get("skip"):
            self._write(item_id, [{"question": "skip", "value": True, "action": "skip"}])
        self._commit(item_id, {**self._mine.get(item_id, {}), "skip": True})

    def flag(self, item_id: str) -> None:
        """Flag ``item_id`` for later (toggles: flagging a flagged item removes the flag)."""
        item_id = self._check_item(item_id)
        mine = dict(self._mine.get(item_id, {}))
        if mine.get("flag"):
            self._write(item_id, [{"question": "flag", "value": None, "action": "undo", "previous_value": True,
                                   "reason": "unflagged"}])
            mine.pop("flag")
        else:
            self._write(item_id, [{"question": "flag", "value": True, "action": "flag"}])
            mine["flag"] = True
        self._commit(item_id, mine)

    def _commit(self, item_id: str, answers: dict[str, Any]) -> None:
        was_view = self._view
        if answers:
            self._mine[item_id] = answers
            if item_id not in self._history:
                self._history.append(item_id)
        else:
            self._mine.pop(item_id, None)
        if was_view is not None and was_view == item_id and item_id not in self._redo and item_id != self._frontier:
            k = self._history.index(item_id) if item_id in self._history else len(self._history)
            self._view = self._history[k + 1] if k + 1 < len(self._history) else None
            return
        if self._redo and self._redo[-1] == item_id:
            self._redo.pop()
            self._view = None
            # labelled again: the lease taken at undo is no longer needed
            self._leases.transact(self.annotator, lambda active: None, release=item_id, queue=self.queue_name)
            return
        self._advance(release=item_id if item_id == self._frontier else None)

    def undo(self) -> str | None:
        """Undo my most recent labelled item: every current answer of it gets an ``undo`` row with
        the previous value, and the item is shown again. Returns its id (None if nothing to undo)."""
        if not self._history:
            return None
        item_id = self._history[-1]
        mine = self._mine.get(item_id, {})
        # lease the item to me before the undo row makes it unlabelled, so that nobody else
        # (with overlap=1) can take it between the undo and my new answer
        self._leases.transact(self.annotator, lambda active: item_id, lease_s=self.lease_s, queue=self.queue_name)
        self._write(item_id, [{"question": q, "value": None, "action": "undo", "previous_value": v, "reason": "undo"}
                              for q, v in mine.items() if v is not None])
        self._mine.pop(item_id, None)
        self._history.pop()
        if item_id != self._frontier:
            self._redo.append(item_id)
        self._view = None
        return item_id

    def back(self) -> str | None:
        """Show the previous item I decided (for review or edit)."""
        if not self._history:
            return self.current
        cur = self._view
        k = self._history.index(cur) if cur in self._history else len(self._history)
        self._view = self._history[max(k - 1, 0)]
        return self._view

    def forward(self) -> str | None:
        """Move toward the newest item again."""
        cur = self._view
        if cur is None:
            return self.current
        k = self._history.index(cur)
        self._view = self._history[k + 1] if k + 1 < len(self._history) else None
        return self.current

    # ------------------------------------------------------------------ display
    def _n_turns(self, item_id: str) -> int | None:
        r = self.items.iloc[self._row[item_id]]
        if "n_turns" in self.items.columns and not is_missing(r["n_turns"]):
            return int(r["n_turns"])
        return None

    def item_html(self, item_id: str) -> str:
        """The item shown through the trace viewer (a session through the chat view; its fields
        when there are no spans)."""
        r = self.items.iloc[self._row[item_id]]
        if self.level == "session" and "trace_ids" in self.items.columns:
            from llmops_nb.annotation._session_view import render_session_html

            tids = list(r["trace_ids"] or [])
            sp = self._spans
            if sp is not None:
                sp = sp.iloc[[i for t in tids for i in self._span_idx.get(t, [])]]
            elif self._store_has_spans and tids:
                sp = self.store.spans(trace_id=tids)
            return render_session_html(r.to_dict(), sp, self._results, None, include_css=False)
        tid = r["trace_id"]
        spans: Any = None
        if not is_missing(tid) and tid in self._span_idx:
            spans = self._spans.iloc[self._span_idx[tid]]
        elif not is_missing(tid) and self._store_has_spans:
            spans = self.store.spans(trace_id=tid)
            if len(spans) == 0:
                spans = None
        if spans is not None:
            res = self._results.iloc[self._res_idx[tid]] if tid in self._res_idx else None
            open_spans: Any = "root" if is_missing(r["span_id"]) else [r["span_id"]]
            return render_trace_html(spans, tid, res, None, open_spans=open_spans, include_css=False)
        fields = [(c, r[c]) for c in self.items.columns if c not in ("item_id",) and not is_missing(r[c])
                  and not isinstance(r[c], (list, dict))][:20]
        rows = "".join(f"<tr><th>{esc(c)}</th><td><div class='lo-text'>{esc(v)}</div></td></tr>" for c, v in fields)
        return f"<div class='lo-trace lo-record'><table>{rows}</table></div>"

    def payload(self, ack: int = 0, message: str = "") -> dict[str, Any]:
        """What the widget shows now (item, answers, mode, progress)."""
        iid = self.current
        prog = self.progress()
        if iid is None:
            return {"item_id": None, "mode": "empty", "html": "<div class='lo-empty'>Nothing left in this queue. "
                    "Labels are saved in the store.</div>", "answers": {}, "flagged": False, "ack": ack,
                    "message": message, "progress": prog, "history": len(self._history), "position": None,
                    "t": time.time()}
        mine = self._mine.get(iid, {})
        review = self._view is not None
        return {
            "item_id": iid,
            "mode": "review" if review else "new",
            "html": self.item_html(iid),
            "answers": {q: mine.get(q) for q in self.schema.names if mine.get(q) is not None},
            "flagged": bool(mine.get("flag")),
            "skipped": bool(mine.get("skip")),
            "ack": ack,
            "message": message,
            "progress": prog,
            "history": len(self._history),
            "position": self._history.index(iid) + 1 if review and iid in self._history else None,
            "t": time.time(),
        }
