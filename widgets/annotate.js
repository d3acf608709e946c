// llmops_nb annotation queue widget (anywidget). Keyboard first; every decision goes to Python,
// which appends it to the store and only then sends the next item (the acknowledgement).
const KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"];

function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

function render({ model, el }) {
  let seq = 0;
  let pending = 0;  // seq of the decision awaiting its acknowledgement
  let answers = {};
  let active = 0;
  let shownItem = undefined;
  let dead = "";        // set once the kernel behind this widget restarted or died: input is refused
  let sentAt = 0;       // when the decision awaiting its acknowledgement was sent
  let idleSince = 0;    // since when the kernel has been idle while we wait
  let spanCursor = 0;   // the span that o opens or closes (j / k move it)

  const style = h("style");
  style.textContent = model.get("trace_css");
  const root = h("div", { class: "lo-ann", tabindex: "0", "data-lm-suppress-shortcuts": "true" });
  el.append(style, root);

  const top = h("div", { class: "lo-ann-top" });
  const body = h("div", { class: "lo-ann-body" });
  const itemBox = h("div", { class: "lo-ann-item" });
  const panel = h("div", { class: "lo-ann-panel" });
  body.append(itemBox, panel);
  const status = h("div", { class: "lo-ann-status", role: "status", "aria-live": "polite" });
  root.append(top, body, status);

  const questions = () => model.get("schema").questions || [];

  // ---- the kernel behind the widget: a restart or a death disconnects it for good
  const manager = model.widget_manager;
  const kernelNow = () => { try { return manager && manager.kernel ? manager.kernel : null; } catch (e) { return null; } };
  const kernel0 = kernelNow();
  const RESUME = "Re-run the cell to resume (every acknowledged label is saved in the store).";

  function die(why) {
    if (dead) return;
    dead = why;
    pending = 0;
    root.classList.remove("lo-pending");
    root.classList.add("lo-dead");
    root.dataset.dead = "true";
    status.classList.add("lo-error");
    status.textContent = `${why} This widget no longer accepts input. ${RESUME}`;
    root.querySelectorAll("button, textarea").forEach((b) => { b.disabled = true; });
  }

  function kernelGone() {
    const k = kernelNow();
    if (kernel0 && (k !== kernel0 || kernel0.isDisposed)) return "The notebook's kernel was replaced.";
    const st = kernel0 && kernel0.status;
    if (st === "dead") return "The kernel died.";
    if (st === "restarting" || st === "autorestarting") return "The kernel restarted.";
    return "";
  }

  const onStatus = (_k, st) => {
    if (st === "restarting" || st === "autorestarting") die("The kernel restarted.");
    else if (st === "dead") die("The kernel died.");
  };
  if (kernel0 && kernel0.statusChanged) kernel0.statusChanged.connect(onStatus);

  // a decision (or the first ping) with no answer while the kernel sits idle: nobody is listening
  const watchdog = setInterval(() => {
    if (dead || !pending) { idleSince = 0; return; }
    const gone = kernelGone();
    if (gone) { die(gone); return; }
    const st = kernel0 ? kernel0.status : "idle";
    const now = performance.now();
    if (st !== "idle") {
      idleSince = 0;
      if (now - sentAt > 3000) status.textContent = `waiting for the kernel (${st}: it finishes the running cell first)...`;
      return;
    }
    if (!idleSince) idleSince = now;
    if (now - sentAt > 5000 && now - idleSince > 3000) die("The kernel does not answer this widget (restarted since the cell ran?).");
  }, 1000);

  function send(type, extra = {}) {
    if (dead) { refuse(); return; }
    const gone = kernelGone();
    if (gone) { die(gone); return; }
    if (pending) {
      flash("saving... one moment");
      return;
    }
    const item = model.get("item");
    seq += 1;
    pending = seq;
    sentAt = performance.now();
    idleSince = 0;
    root.classList.add("lo-pending");
    if (type !== "ping") status.textContent = "saving...";
    try {
      model.send({ type, seq, item_id: item.item_id, ...extra });
    } catch (err) {
      die(`The kernel connection is closed (${err && err.message ? err.message : err}).`);
    }
  }

  function refuse() {
    status.textContent = `${dead} This widget no longer accepts input. ${RESUME}`;
    status.classList.add("lo-flash");
    setTimeout(() => status.classList.remove("lo-flash"), 600);
  }

  function acked(ack) {
    if (pending && ack >= pending) {
      pending = 0;
      root.classList.remove("lo-pending");
    }
  }

  function flash(msg) {
    status.textContent = msg;
    status.classList.add("lo-flash");
    setTimeout(() => status.classList.remove("lo-flash"), 600);
  }

  function choose(qi, oi) {
    if (dead) { refuse(); return; }
    const q = questions()[qi];
    if (!q || q.kind === "text" || oi >= q.options.length) return;
    const v = q.options[oi];
    if (q.kind === "categorical" && q.multi) {
      const cur = Array.isArray(answers[q.name]) ? answers[q.name].slice() : [];
      const at = cur.findIndex((x) => same(x, v));
      if (at >= 0) cur.splice(at, 1);
      else cur.push(v);
      answers[q.name] = cur;
    } else {
      answers[q.name] = v;
      // move on to the next question that still needs an answer
      const qs = questions();
      for (let j = qi + 1; j < qs.length; j++) {
        if (qs[j].kind !== "text" && answers[qs[j].name] === undefined) {
          active = j;
          break;
        }
      }
    }
    drawPanel();
  }

  const empty = (v) => v === undefined || v === null || (Array.isArray(v) && v.length === 0) ||
    (typeof v === "string" && !v.trim());

  function submit() {
    if (dead) { refuse(); return; }
    const qs = questions();
    const missing = qs.filter((q) => q.required && empty(answers[q.name]));
    if (missing.length) {
      active = qs.indexOf(missing[0]);
      drawPanel();
      flash(`answer ${missing.map((q) => q.name).join(", ")} first (required)`);
      return;
    }
    const it = model.get("item");
    if (it.mode !== "review" && qs.every((q) => empty(answers[q.name]))) {
      flash("answer at least one question first (number keys), or s to skip");
      return;
    }
    const out = {};
    for (const q of qs) if (answers[q.name] !== undefined) out[q.name] = answers[q.name];
    send("submit", { answers: out });
  }

  function drawTop() {
    const it = model.get("item");
    const p = it.progress || {};
    const mode = it.mode === "review" ? h("span", { class: "lo-badge-review" },
      it.position ? `reviewing ${it.position}/${it.history}` : "reviewing") :
      it.mode === "empty" ? h("span", { class: "lo-badge-done" }, "queue finished") : h("span", { class: "lo-badge-new" }, "new");
    const total = p.total || 0;
    const left = p.left ?? 0;
    const pct = total ? (100 * (total - left)) / total : 0;
    top.replaceChildren(...[
      h("span", { class: "lo-prog", "data-prog": "done" }, `done ${p.done ?? 0}`),
      h("span", { class: "lo-prog", "data-prog": "skipped" }, `skipped ${p.skipped ?? 0}`),
      h("span", { class: "lo-prog", "data-prog": "flagged" }, `flagged ${p.flagged ?? 0}`),
      p.by_others ? h("span", { class: "lo-prog", "data-prog": "by_others", title: "finished by other annotators (overlap reached)" }, `by others ${p.by_others}`) : null,
      h("span", { class: "lo-prog", "data-prog": "left" }, `left ${left}`),
      h("span", { class: "lo-bar-outer", title: `${total - left} of ${total} finished (${pct.toFixed(0)}%)` },
        h("span", { class: "lo-bar-inner", style: `width:${pct.toFixed(1)}%` })),
      mode,
      p.annotator || p.queue ? h("span", { class: "lo-who" }, [p.annotator, p.queue].filter((x) => x).join(" · ")) : null,
      it.flagged ? h("span", { class: "lo-badge-flag" }, "flagged") : null,
    ].filter((x) => x));  // (a null here would print "null")
  }

  function drawPanel() {
    const it = model.get("item");
    panel.replaceChildren();
    if (it.mode === "empty") {
      panel.append(h("div", { class: "lo-hint" }, "All items are labelled. Backspace undoes the last one; ← reviews earlier items."));
    }
    const qs = questions();
    qs.forEach((q, qi) => {
      const box = h("div", { class: "lo-q" + (qi === active ? " lo-active" : ""), "data-question": q.name,
        onclick: () => { active = qi; drawPanel(); } });
      box.append(h("div", { class: "lo-q-name" }, q.prompt || q.name, q.required ? h("span", { class: "lo-req" }, " (required)") : null));
      if (q.kind === "text") {
        const ta = h("textarea", { class: "lo-note", rows: "2", placeholder: "n to write a note; Enter saves, Shift+Enter new line, Esc leaves" });
        ta.value = answers[q.name] ?? "";
        ta.addEventListener("input", () => { answers[q.name] = ta.value; });
        ta.addEventListener("focus", () => { active = qi; box.classList.add("lo-active"); });
        box.append(ta);
      } else {
        const row = h("div", { class: "lo-opts" });
        q.options.forEach((v, oi) => {
          const cur = answers[q.name];
          const on = q.multi ? Array.isArray(cur) && cur.some((x) => same(x, v)) : cur !== undefined && same(cur, v);
          const label = q.labels[oi];
          const b = h("button", { class: "lo-opt-btn" + (on ? " lo-on" : ""), "data-value": String(label), tabindex: "-1",
            title: q.rubric && q.rubric[String(v)] ? q.rubric[String(v)] : label,
            onclick: (e) => { e.stopPropagation(); active = qi; choose(qi, oi); root.focus(); } },
          h("kbd", {}, q.keys[oi]), " ", label);
          row.append(b);
        });
        box.append(row);
        if (q.kind === "ordinal" && q.rubric && Object.keys(q.rubric).length && qi === active) {
          box.append(h("div", { class: "lo-rubric" }, ...q.options.map((v) => q.rubric[String(v)] ?
            h("div", {}, h("b", {}, String(v)), " ", q.rubric[String(v)]) : null)));
        }
      }
      panel.append(box);
    });
    const act = (key, label, fn, title) => h("button", { class: "lo-act", tabindex: "-1", title,
      onclick: (e) => { e.stopPropagation(); fn(); root.focus(); } }, h("kbd", {}, key), " ", label);
    panel.append(h("div", { class: "lo-acts" },
      act("Enter", it.mode === "review" ? "save edit" : "submit", submit, "save the answers and show the next item"),
      act("s", "skip", () => send("skip"), "not labelled; it does not come back in this queue"),
      act("f", it.flagged ? "unflag" : "flag", () => send("flag"), "mark for a second look and move on"),
      act("⌫", "undo", () => send("undo"), "undo your last labelled item and show it again"),
      act("←", "back", () => send("back"), "review earlier items"),
      act("→", "forward", () => send("forward"), "toward the newest item"),
    ));
    panel.append(h("div", { class: "lo-legend" },
      h("div", {}, h("b", {}, "f flag"), " marks the item for a second look (or an unclear case) and moves on; " +
        "it counts as flagged, not labelled. Find flags with lo.labels(store, question=\"flag\"); f again unflags."),
      h("div", {}, h("b", {}, "s skip"), " leaves it unlabelled; it does not come back in this queue."),
      h("div", {}, h("b", {}, "j / k"), " move between spans, ", h("b", {}, "o"), " opens or closes one; " +
        "questions marked (required) must be answered, the others are optional."),
    ));
    if (dead) panel.querySelectorAll("button, textarea").forEach((b) => { b.disabled = true; });
  }

  // ---- the spans of the trace on screen: j / k move, o opens or closes
  function spans() {
    return Array.from(itemBox.querySelectorAll("details.lo-span")).filter((d) => d.offsetParent !== null);
  }

  function markSpan() {
    const all = spans();
    itemBox.querySelectorAll("details.lo-span.lo-cur").forEach((d) => d.classList.remove("lo-cur"));
    if (!all.length) return null;
    spanCursor = Math.max(0, Math.min(spanCursor, all.length - 1));
    const d = all[spanCursor];
    d.classList.add("lo-cur");
    const box = itemBox.getBoundingClientRect();
    const r = d.querySelector("summary").getBoundingClientRect();
    if (r.top < box.top || r.bottom > box.bottom) d.scrollIntoView({ block: "nearest" });
    return d;
  }

  function moveSpan(step) {
    spanCursor += step;
    markSpan();
  }

  function toggleSpan() {
    const d = markSpan();
    if (d) d.open = !d.open;
  }

  function onItem() {
    const it = model.get("item");
    acked(it.ack);
    if (it.item_id !== shownItem || String(it.t) !== root.dataset.t) {
      shownItem = it.item_id;
      answers = JSON.parse(JSON.stringify(it.answers || {}));
      active = 0;
      const qs = questions();
      const first = qs.findIndex((q) => q.kind !== "text" && answers[q.name] === undefined);
      active = first >= 0 ? first : 0;
      itemBox.innerHTML = it.html;  // built from escaped text on the Python side
      itemBox.scrollTop = 0;
      spanCursor = 0;
    }
    root.dataset.itemId = it.item_id ?? "";
    root.dataset.mode = it.mode;
    root.dataset.ack = String(it.ack);
    root.dataset.t = it.t;
    drawTop();
    drawPanel();
    if (dead) {
      status.textContent = `${dead} This widget no longer accepts input. ${RESUME}`;
    } else {
      status.textContent = it.message || (it.mode === "review" ? "editing an earlier decision" : "");
      status.classList.toggle("lo-error", (it.message || "").startsWith("error"));
    }
    if (!root.contains(document.activeElement) || document.activeElement === document.body) root.focus({ preventScroll: true });
    root.dataset.renderedAt = String(performance.now());
  }

  root.addEventListener("keydown", (e) => {
    const inText = e.target && e.target.tagName === "TEXTAREA";
    if (inText) {
      e.stopPropagation();
      if (e.key === "Escape") { e.preventDefault(); root.focus(); }
      else if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); submit(); }
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const onSpan = e.target && e.target.closest && e.target.closest("summary, details.lo-more, details.lo-meta, .lo-ann-item a");
    if (onSpan && (e.key === "Enter" || e.key === " ")) {
      e.stopPropagation();  // a span has focus: Enter / Space open or close it (the browser's own), never submit
      return;
    }
    let handled = true;
    const k = e.key;
    const ki = KEYS.indexOf(k);
    if (dead && k !== "j" && k !== "k" && k !== "o") { e.stopPropagation(); e.preventDefault(); refuse(); return; }
    if (ki >= 0) choose(active, ki);
    else if (k === "Enter") submit();
    else if (k === "j") moveSpan(1);
    else if (k === "k") moveSpan(-1);
    else if (k === "o") toggleSpan();
    else if (k === "s" || k === "S") send("skip");
    else if (k === "f" || k === "F") send("flag");
    else if (k === "Backspace") send("undo");
    else if (k === "ArrowLeft") send("back");
    else if (k === "ArrowRight") send("forward");
    else if (k === "ArrowUp") { active = Math.max(active - 1, 0); drawPanel(); }
    else if (k === "ArrowDown") { active = Math.min(active + 1, questions().length - 1); drawPanel(); }
    else if (k === "n" || k === "N") {
      const ta = panel.querySelector("textarea");
      if (ta) ta.focus();
    } else handled = false;
    // keep JupyterLab's own shortcuts (a, b, d d, m, y, Enter, arrows...) away while we have focus
    e.stopPropagation();
    if (handled) e.preventDefault();
  });
  root.addEventListener("mousedown", (e) => {
    if (e.target.tagName !== "TEXTAREA" && e.target.tagName !== "SUMMARY") setTimeout(() => root.focus({ preventScroll: true }), 0);
  });

  model.on("change:item", onItem);
  model.on("change:trace_css", () => { style.textContent = model.get("trace_css"); });
  model.on("msg:custom", (msg) => { if (msg && msg.type === "pong") acked(msg.ack); });
  onItem();
  send("ping");  // is a kernel listening? (a view restored after a restart has nobody behind it)
  setTimeout(() => root.focus({ preventScroll: true }), 0);
  return () => {
    clearInterval(watchdog);
    if (kernel0 && kernel0.statusChanged) kernel0.statusChanged.disconnect(onStatus);
  };
}

export default { render };
