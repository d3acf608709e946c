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

  function send(type, extra = {}) {
    if (pending) {
      flash("saving... one moment");
      return;
    }
    const item = model.get("item");
    seq += 1;
    pending = seq;
    root.classList.add("lo-pending");
    status.textContent = "saving...";
    model.send({ type, seq, item_id: item.item_id, ...extra });
  }

  function flash(msg) {
    status.textContent = msg;
    status.classList.add("lo-flash");
    setTimeout(() => status.classList.remove("lo-flash"), 600);
  }

  function choose(qi, oi) {
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

  function submit() {
    const qs = questions();
    const missing = qs.filter((q) => q.required && (answers[q.name] === undefined || answers[q.name] === null ||
      (Array.isArray(answers[q.name]) && answers[q.name].length === 0)));
    if (missing.length) {
      active = qs.indexOf(missing[0]);
      drawPanel();
      flash(`answer ${missing.map((q) => q.name).join(", ")} first`);
      return;
    }
    const out = {};
    for (const q of qs) if (answers[q.name] !== undefined) out[q.name] = answers[q.name];
    send("submit", { answers: out });
  }

  function drawTop() {
    const it = model.get("item");
    const p = it.progress || {};
    const mode = it.mode === "review" ? h("span", { class: "lo-badge-review" }, `reviewing ${it.position}/${it.history}`) :
      it.mode === "empty" ? h("span", { class: "lo-badge-done" }, "queue finished") : h("span", { class: "lo-badge-new" }, "new");
    top.replaceChildren(
      h("span", { class: "lo-prog" }, `done ${p.done ?? 0}`),
      h("span", { class: "lo-prog" }, `skipped ${p.skipped ?? 0}`),
      h("span", { class: "lo-prog" }, `flagged ${p.flagged ?? 0}`),
      h("span", { class: "lo-prog" }, `left ${p.left ?? 0}`),
      h("span", { class: "lo-bar-outer" }, h("span", { class: "lo-bar-inner", style: `width:${p.total ? (100 * (p.total - p.left) / p.total).toFixed(1) : 0}%` })),
      mode,
      h("span", { class: "lo-who" }, `${p.annotator ?? ""} · ${p.queue ?? ""}`),
      it.flagged ? h("span", { class: "lo-badge-flag" }, "flagged") : null,
    );
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
      box.append(h("div", { class: "lo-q-name" }, q.prompt || q.name, q.required ? null : h("span", { class: "lo-opt" }, " (optional)")));
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
    const act = (key, label, fn) => h("button", { class: "lo-act", tabindex: "-1", onclick: (e) => { e.stopPropagation(); fn(); root.focus(); } },
      h("kbd", {}, key), " ", label);
    panel.append(h("div", { class: "lo-acts" },
      act("Enter", it.mode === "review" ? "save edit" : "submit", submit),
      act("s", "skip", () => send("skip")),
      act("f", it.flagged ? "unflag" : "flag", () => send("flag")),
      act("⌫", "undo", () => send("undo")),
      act("←", "back", () => send("back")),
      act("→", "forward", () => send("forward")),
    ));
  }

  function onItem() {
    const it = model.get("item");
    if (pending && it.ack >= pending) {
      pending = 0;
      root.classList.remove("lo-pending");
    }
    if (it.item_id !== shownItem || it.t !== root.dataset.t) {
      shownItem = it.item_id;
      answers = JSON.parse(JSON.stringify(it.answers || {}));
      active = 0;
      const qs = questions();
      const first = qs.findIndex((q) => q.kind !== "text" && answers[q.name] === undefined);
      active = first >= 0 ? first : 0;
      itemBox.innerHTML = it.html;  // built from escaped text on the Python side
      itemBox.scrollTop = 0;
    }
    root.dataset.itemId = it.item_id ?? "";
    root.dataset.mode = it.mode;
    root.dataset.ack = String(it.ack);
    root.dataset.t = it.t;
    drawTop();
    drawPanel();
    status.textContent = it.message || (it.mode === "review" ? "editing an earlier decision" : "");
    status.classList.toggle("lo-error", (it.message || "").startsWith("error"));
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
    let handled = true;
    const k = e.key;
    const ki = KEYS.indexOf(k);
    if (ki >= 0) choose(active, ki);
    else if (k === "Enter") submit();
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
  onItem();
  setTimeout(() => root.focus({ preventScroll: true }), 0);
}

export default { render };
