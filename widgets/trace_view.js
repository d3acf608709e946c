// llmops_nb trace viewer widget: the static trace HTML plus expand/collapse-all and a kind filter.
// The filter lists the span kinds of the trace (from data-kind) and keeps the ancestors of the
// matching spans visible, dimmed, so a match is always seen in its place in the tree.
function render({ model, el }) {
  const bar = document.createElement("div");
  bar.className = "lo-tv-bar";
  const body = document.createElement("div");
  const mk = (label, fn) => {
    const b = document.createElement("button");
    b.textContent = label;
    b.addEventListener("click", fn);
    bar.appendChild(b);
    return b;
  };
  mk("expand all", () => body.querySelectorAll("details.lo-span").forEach((d) => (d.open = true)));
  mk("collapse all", () => body.querySelectorAll("details.lo-span").forEach((d) => (d.open = false)));
  const sel = document.createElement("select");
  sel.setAttribute("aria-label", "show spans of kind");
  bar.appendChild(sel);
  const count = document.createElement("span");
  count.className = "lo-tv-count";
  bar.appendChild(count);
  const spans = () => Array.from(body.querySelectorAll("details.lo-span"));
  const draw = () => {
    body.innerHTML = model.get("html");  // escaped on the Python side
    const kinds = new Map();
    for (const d of spans()) kinds.set(d.dataset.kind, (kinds.get(d.dataset.kind) || 0) + 1);
    sel.replaceChildren();
    const opt = (value, text) => {
      const o = document.createElement("option");
      o.value = value;
      o.textContent = text;
      sel.appendChild(o);
    };
    opt("", `all kinds (${spans().length})`);
    for (const [k, n] of [...kinds.entries()].sort()) opt(k, `${k} (${n})`);
    count.textContent = "";
  };
  sel.addEventListener("change", () => {
    const all = spans();
    const byId = new Map(all.map((d) => [d.dataset.spanId, d]));
    const keep = new Set();
    const match = new Set();
    for (const d of all) {
      if (sel.value && d.dataset.kind !== sel.value) continue;
      match.add(d);
      keep.add(d);
      let p = byId.get(d.dataset.parent);
      const guard = new Set();
      while (p && !guard.has(p)) {  // the ancestors stay, as context
        guard.add(p);
        keep.add(p);
        p = byId.get(p.dataset.parent);
      }
    }
    for (const d of all) {
      d.style.display = keep.has(d) ? "" : "none";
      d.classList.toggle("lo-context", keep.has(d) && !match.has(d));
    }
    count.textContent = sel.value ? `${match.size} ${sel.value} span${match.size === 1 ? "" : "s"} (ancestors dimmed)` : "";
  });
  model.on("change:html", draw);
  draw();
  el.appendChild(bar);
  el.appendChild(body);
}
export default { render };
