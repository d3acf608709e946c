// llmops_nb trace viewer widget: the static trace HTML plus expand/collapse-all and a kind filter.
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
  mk("expand all", () => body.querySelectorAll("details").forEach((d) => (d.open = true)));
  mk("collapse all", () => body.querySelectorAll("details.lo-span").forEach((d) => (d.open = false)));
  const sel = document.createElement("select");
  bar.appendChild(sel);
  const draw = () => {
    body.innerHTML = model.get("html");  // escaped on the Python side
    const kinds = new Set();
    body.querySelectorAll("details.lo-span .lo-badge").forEach((b) => kinds.add(b.textContent));
    sel.innerHTML = "";
    for (const k of ["all kinds", ...kinds]) {
      const o = document.createElement("option");
      o.value = o.textContent = k;
      sel.appendChild(o);
    }
  };
  sel.addEventListener("change", () => {
    body.querySelectorAll("details.lo-span").forEach((d) => {
      const k = d.querySelector(".lo-badge")?.textContent;
      d.style.display = sel.value === "all kinds" || k === sel.value ? "" : "none";
    });
  });
  model.on("change:html", draw);
  draw();
  el.appendChild(bar);
  el.appendChild(body);
}
export default { render };
