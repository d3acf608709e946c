// llmops_nb compare_outputs widget: one example at a time, baseline and candidate side by side
// with a word diff (computed in Python), scores and deltas. j / k step, x selects, 1-6 filter.
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
const STATUSES = ["all", "regression", "fix", "mixed", "changed", "same"];
const fmt = (v) => (v === null || v === undefined ? "–" : Number(v).toPrecision(3).replace(/\.?0+$/, ""));

function render({ model, el }) {
  const root = h("div", { class: "lo-cmp", tabindex: "0", "data-lm-suppress-shortcuts": "true" });
  el.append(root);
  const filters = h("div", { class: "lo-cmp-filters", role: "tablist" });
  const pos = h("span", { class: "lo-cmp-pos", role: "status" });
  const selInfo = h("span", { class: "lo-cmp-selinfo" });
  const bar = h("div", { class: "lo-cmp-bar" }, filters, pos, selInfo,
    h("span", { class: "lo-cmp-keys" }, "j/k next/previous · x select · 1-6 filter"));
  const card = h("div", { class: "lo-cmp-card" });
  root.append(bar, card);

  const step = (d) => {
    const n = (model.get("ids") || []).length;
    if (!n) return;
    const c = Math.min(n - 1, Math.max(0, model.get("cursor") + d));
    if (c !== model.get("cursor")) { model.set("cursor", c); model.save_changes(); }
  };
  const setStatus = (s) => { model.set("status", s); model.save_changes(); };
  const toggle = () => {
    const it = model.get("item");
    if (!it || !it.example_id) return;
    const s = new Set(model.get("selected_ids") || []);
    s.has(it.example_id) ? s.delete(it.example_id) : s.add(it.example_id);
    model.set("selected_ids", [...s]);
    model.save_changes();
  };
  root.addEventListener("keydown", (e) => {
    if (e.target && e.target.tagName === "INPUT") return;
    if (e.key === "j" || e.key === "ArrowDown") step(1);
    else if (e.key === "k" || e.key === "ArrowUp") step(-1);
    else if (e.key === "x") toggle();
    else if (/^[1-6]$/.test(e.key)) setStatus(STATUSES[Number(e.key) - 1]);
    else return;
    e.preventDefault();
    e.stopPropagation();
  });

  function drawFilters() {
    const c = model.get("counts") || {};
    const cur = model.get("status");
    filters.replaceChildren(...STATUSES.map((s, i) => h("button", { class: "lo-cmp-f" + (s === cur ? " lo-on" : ""), "data-status": s,
      title: `key ${i + 1}`, onclick: () => setStatus(s) }, `${s} ${c[s] ?? 0}`)));
  }
  function drawItem() {
    const it = model.get("item") || {};
    const n = (model.get("ids") || []).length;
    root.dataset.cursor = model.get("cursor");
    root.dataset.exampleId = it.example_id || "";
    pos.textContent = n ? `${(it.position ?? 0) + 1} of ${n}` : "no examples under this filter";
    if (!it.example_id) { card.replaceChildren(); return; }
    const sel = new Set(model.get("selected_ids") || []);
    const names = model.get("names") || ["baseline", "candidate"];
    const scores = (it.scores || []).map((s) => {
      const good = s.delta === null ? "" : (s.lower_is_better ? -s.delta : s.delta) > 0 ? "lo-up" : (s.lower_is_better ? -s.delta : s.delta) < 0 ? "lo-down" : "";
      return h("span", { class: `lo-cmp-score ${good}` }, `${s.evaluator} ${fmt(s.baseline)} → ${fmt(s.candidate)} (${s.delta > 0 ? "+" : ""}${fmt(s.delta)})`);
    });
    const side = (name, html) => { const b = h("div", { class: "lo-cmp-text" }); b.innerHTML = html; return h("div", { class: "lo-cmp-side" }, h("div", { class: "lo-cmp-name" }, name), b); };
    const txt = (cls, label, html) => { if (!html) return null; const b = h("div", { class: cls }); b.innerHTML = `<b>${label}</b> ${html}`; return b; };  // escaped in Python
    card.className = `lo-cmp-card lo-cmp-${it.status}` + (sel.has(it.example_id) ? " lo-cmp-selected" : "");
    card.replaceChildren(
      h("div", { class: "lo-cmp-head" }, h("b", {}, it.example_id), h("span", { class: "lo-cmp-badge" }, it.status),
        sel.has(it.example_id) ? h("span", { class: "lo-cmp-badge lo-cmp-selbadge" }, "selected") : null, ...scores),
      txt("lo-cmp-input", "input", it.input), txt("lo-cmp-expected", "expected", it.expected),
      h("div", { class: "lo-cmp-sides" }, side(names[0], it.baseline_html), side(names[1], it.candidate_html)));
  }
  function drawSel() {
    const n = (model.get("selected_ids") || []).length;
    selInfo.textContent = `${n} selected`;
    root.dataset.selected = n;
  }
  model.on("change:item", drawItem);
  model.on("change:status", drawFilters);
  model.on("change:counts", drawFilters);
  model.on("change:ids", drawItem);
  model.on("change:selected_ids", () => { drawSel(); drawItem(); });
  drawFilters(); drawItem(); drawSel();
}
export default { render };
