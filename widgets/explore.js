// llmops_nb explore widget: a trace table paged, sorted and filtered in Python (only the visible
// page comes here) beside the trace viewer of the clicked row. The selection (ticked rows, a slice,
// "all matching") lives in Python; the view gets its size and which rows of the page are in it.
// Each query the view sends carries a sequence number that the page echoes; the time from the user
// action to that page painted is kept in root.__timings (read by the browser benchmark) and the last
// painted number in root.dataset.seq.
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
const OPS = { num: ["=", "!=", ">", ">=", "<", "<=", "is null", "not null"],
  bool: ["=", "!=", "is null", "not null"], time: [">=", "<=", ">", "<", "is null", "not null"],
  str: ["contains", "not contains", "=", "!=", "is null", "not null"] };

function render({ model, el }) {
  const style = h("style");
  style.textContent = model.get("trace_css");
  const root = h("div", { class: "lo-ex", "data-lm-suppress-shortcuts": "true" });
  el.append(style, root);
  const q = () => ({ ...model.get("query") });
  let seq = Number(q().seq) || 0;
  const pending = new Map();  // seq -> {t0, action}
  root.__timings = [];
  const heap = () => (performance.memory ? performance.memory.usedJSHeapSize : null);
  const afterPaint = (f) => requestAnimationFrame(() => setTimeout(f, 0));
  const send = (patch, action) => {
    seq = Math.max(seq, Number(q().seq) || 0) + 1;
    pending.set(seq, { t0: performance.now(), action: action || Object.keys(patch).filter((k) => k !== "offset").join("+") || "page" });
    model.set("query", { ...q(), ...patch, seq }); model.save_changes();
  };

  // ---- toolbar: search, filter builder, paging
  const search = h("input", { class: "lo-ex-search", type: "search", placeholder: "search ids, names, inputs, outputs", "aria-label": "search" });
  let searchTimer = 0;
  search.addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(() => send({ search: search.value, offset: 0 }, "search"), 250); });
  const colSel = h("select", { class: "lo-ex-fcol", "aria-label": "filter column" });
  const opSel = h("select", { class: "lo-ex-fop", "aria-label": "filter op" });
  const valIn = h("input", { class: "lo-ex-fval", placeholder: "value", "aria-label": "filter value" });
  const kinds = new Map();
  for (const c of model.get("columns")) { kinds.set(c.name, c.kind); colSel.append(h("option", { value: c.name }, c.name)); }
  const setOps = () => { opSel.replaceChildren(...OPS[kinds.get(colSel.value) || "str"].map((o) => h("option", { value: o }, o))); };
  colSel.addEventListener("change", setOps); setOps();
  const addFilter = () => {
    const f = { column: colSel.value, op: opSel.value, value: valIn.value };
    send({ filters: [...(q().filters || []), f], offset: 0 }, "filter");
    valIn.value = "";
  };
  valIn.addEventListener("keydown", (e) => { if (e.key === "Enter") addFilter(); });
  const addBtn = h("button", { class: "lo-ex-fadd", onclick: addFilter }, "add filter");
  const chips = h("span", { class: "lo-ex-chips" });
  const prev = h("button", { class: "lo-ex-prev", onclick: () => { const p = model.get("page"); send({ offset: Math.max(0, p.offset - p.size) }, "page"); } }, "‹ prev");
  const next = h("button", { class: "lo-ex-next", onclick: () => { const p = model.get("page"); if (p.offset + p.size < p.matching) send({ offset: p.offset + p.size }, "page"); } }, "next ›");
  const count = h("span", { class: "lo-ex-count", role: "status" });
  const bar = h("div", { class: "lo-ex-bar" }, search, colSel, opSel, valIn, addBtn, chips);
  const pager = h("div", { class: "lo-ex-bar" }, prev, next, count);

  // ---- selection bar
  const selInfo = h("span", { class: "lo-ex-selinfo" });
  const selAll = h("button", { class: "lo-ex-selall", onclick: () => model.send({ type: "select_matching" }) }, "select all matching");
  const selClear = h("button", { class: "lo-ex-selclear", onclick: () => model.send({ type: "clear" }) }, "clear selection");
  const selBar = h("div", { class: "lo-ex-bar lo-ex-selbar" }, selInfo, selAll, selClear);
  const err = h("div", { class: "lo-ex-error", role: "alert" });

  const table = h("table", { class: "lo-ex-table" });
  const wrap = h("div", { class: "lo-ex-tablewrap" }, table);
  const slicesBox = h("div", { class: "lo-ex-slices" });
  const left = h("div", { class: "lo-ex-left" }, bar, pager, selBar, err, wrap, slicesBox);
  const trace = h("div", { class: "lo-ex-trace" });
  root.append(h("div", { class: "lo-ex-body" }, left, trace));

  const selected = () => new Set(model.get("page_selected") || []);  // the selected rows of this page

  function drawChips() {
    const fs = q().filters || [];
    chips.replaceChildren(...fs.map((f, i) => h("span", { class: "lo-ex-chip" },
      `${f.column} ${f.op}${f.op.includes("null") ? "" : " " + f.value}`,
      h("button", { class: "lo-ex-chipx", "aria-label": "remove filter", onclick: () => send({ filters: fs.filter((_, j) => j !== i), offset: 0 }, "unfilter") }, "×"))));
  }
  function drawTable() {
    const p = model.get("page") || { rows: [] };
    const shown = model.get("shown");
    const qq = q();
    const sel = selected();
    const head = h("tr", {}, h("th", { class: "lo-ex-check" }, ""), ...shown.map((c) => {
      const arrow = qq.sort === c ? (qq.desc ? " ▼" : " ▲") : "";
      return h("th", { "data-col": c, title: "sort", onclick: () => send({ sort: c, desc: qq.sort === c ? !qq.desc : false, offset: 0 }, "sort") }, c + arrow);
    }));
    const focus = model.get("focus");
    const rows = (p.rows || []).map((r) => {
      const id = String(r.trace_id);
      const cb = h("input", { type: "checkbox", "aria-label": `select ${id}` });
      cb.checked = sel.has(id);
      cb.addEventListener("click", (e) => { e.stopPropagation(); model.send({ type: "toggle", id, on: cb.checked }); });
      const tr = h("tr", { "data-id": id, class: (focus === id ? "lo-ex-focus " : "") + (sel.has(id) ? "lo-ex-sel" : ""),
        onclick: () => { model.set("focus", id); model.save_changes(); } },
        h("td", { class: "lo-ex-check" }, cb),
        ...shown.map((c) => { const v = r[c]; return h("td", { title: v === null || v === undefined ? "" : String(v) }, v === null || v === undefined ? "" : String(v)); }));
      return tr;
    });
    table.replaceChildren(h("thead", {}, head), h("tbody", {}, ...rows));
    const got = pending.get(p.seq);
    if (got) {
      pending.delete(p.seq);
      afterPaint(() => {
        root.__timings.push({ seq: p.seq, action: got.action, ms: performance.now() - got.t0, server_ms: p.ms,
          rows: table.tBodies[0].rows.length, bytes: JSON.stringify(p).length, heap: heap(), error: p.error || null });
        root.dataset.seq = p.seq;
      });
    }
    if (!root.dataset.firstPaint && rows.length) {
      root.dataset.firstPaint = "pending";
      afterPaint(() => {
        root.dataset.firstPaint = String(performance.timeOrigin + performance.now()); root.dataset.firstHeap = heap();
        model.send({ type: "painted" });  // the kernel may now build its indexes in the background
      });
    }
    const a = p.matching ? p.offset + 1 : 0, b = Math.min(p.offset + p.size, p.matching);
    count.textContent = `${a.toLocaleString()}–${b.toLocaleString()} of ${Number(p.matching).toLocaleString()} matching (${Number(p.total).toLocaleString()} traces) · ${p.ms} ms`;
    prev.disabled = p.offset <= 0;
    next.disabled = p.offset + p.size >= p.matching;
    err.textContent = p.error || "";
    root.dataset.offset = p.offset;
    root.dataset.matching = p.matching;
  }
  function drawSel() {
    const n = model.get("selected_count") || 0;
    selInfo.textContent = `${n.toLocaleString()} selected`;
    root.dataset.selected = n;
  }
  function drawSlices() {
    const s = model.get("slices") || [];
    if (!s.length) { slicesBox.replaceChildren(); return; }
    slicesBox.replaceChildren(h("div", { class: "lo-ex-slh" }, "slices (click to select their traces)"),
      ...s.map((r) => h("div", { class: "lo-ex-slice", "data-index": r.index, onclick: () => model.send({ type: "select_slice", index: r.index }) },
        r.slice, r.n !== undefined ? h("span", { class: "lo-ex-muted" }, ` n=${r.n}`) : null,
        r.failure_rate !== undefined ? h("span", { class: "lo-ex-muted" }, ` fail ${(100 * r.failure_rate).toFixed(1)}%`) : null)));
  }
  const drawTrace = () => { trace.innerHTML = model.get("trace_html"); };  // escaped on the Python side
  // a page and its ticks arrive together (one message, two change events): draw the table once
  let tableQueued = false;
  const queueTable = () => { if (!tableQueued) { tableQueued = true; queueMicrotask(() => { tableQueued = false; drawTable(); }); } };
  model.on("change:page", queueTable);
  model.on("change:query", drawChips);
  model.on("change:selected_count", drawSel);
  model.on("change:page_selected", queueTable);
  model.on("change:focus", queueTable);
  model.on("change:trace_html", drawTrace);
  model.on("change:slices", drawSlices);
  search.value = q().search || "";
  drawChips(); drawTable(); drawSel(); drawSlices(); drawTrace();
}
export default { render };
