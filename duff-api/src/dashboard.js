"use strict";
// The dashboard: reads the API's JSON routes (same origin, relative URLs: it works under a
// stage prefix too) and draws each as an SVG bar chart with the exact numbers beside it.
// Text from the lake is only ever set as textContent (never parsed as HTML).
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const path = location.pathname.endsWith("/") ? location.pathname : location.pathname + "/";
  const url = (route) => path + route;

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function svgEl(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }
  async function getJson(route) {
    const res = await fetch(url(route), { headers: { accept: "application/json" } });
    const body = await res.json();
    if (!res.ok) throw new Error(route + ": " + res.status + " " + ((body.error && body.error.message) || ""));
    return body;
  }
  // An exact decimal string ("12.50", "-3.00") as a BigInt of hundredths: for sorting.
  function cents(s) {
    const neg = s.startsWith("-");
    const [i, f = ""] = (neg ? s.slice(1) : s).split(".");
    const v = BigInt(i + (f + "00").slice(0, 2));
    return neg ? -v : v;
  }

  // Horizontal bars: items [{label, value (a number, for the length only)}].
  function hbars(svg, items, cls) {
    svg.replaceChildren();
    const rowH = 22, labelW = 170, barW = 260;
    const max = Math.max(0, ...items.map((d) => d.value));
    svg.setAttribute("width", labelW + barW + 10);
    svg.setAttribute("height", Math.max(rowH, items.length * rowH) + 4);
    items.forEach((d, i) => {
      const y = i * rowH + 2;
      const w = max > 0 ? Math.max(1, (d.value / max) * barW) : 1;
      svg.append(svgEl("text", { x: 0, y: y + 15, class: "label" }, d.label.slice(0, 28)));
      const bar = svgEl("rect", { x: labelW, y, width: w.toFixed(1), height: rowH - 6, class: "bar " + (cls || "") });
      bar.append(svgEl("title", {}, d.label + ": " + d.title));
      svg.append(bar);
    });
  }

  // The numbers beside a chart: columns [[header, field, numeric?]], rows of the API's JSON.
  function table(t, columns, rows, key, extra) {
    t.replaceChildren();
    const head = el("tr");
    for (const [h] of columns) head.append(el("th", {}, h));
    if (extra) head.append(el("th", {}, ""));
    t.append(head);
    for (const r of rows) {
      const tr = el("tr", { "data-key": String(r[key]) });
      for (const [, field, num] of columns) {
        tr.append(el("td", { "data-field": field, class: num ? "num" : "" }, String(r[field])));
      }
      if (extra) {
        const td = el("td");
        const x = extra(r);
        if (x) td.append(x);
        tr.append(td);
      }
      t.append(tr);
    }
  }

  function section(id) {
    const s = document.getElementById(id);
    return { s, svg: s.querySelector("svg"), table: s.querySelector("table") };
  }

  async function salesByProduct() {
    const { s, svg, table: t } = section("sales-by-product");
    const { rows } = await getJson(s.dataset.source);
    hbars(svg, rows.map((r) => ({ label: r.product_id + " " + r.product_description, value: Number(r.sales), title: r.sales })));
    table(t, [["product", "product_id", true], ["description", "product_description"], ["orders", "orders", true],
      ["units", "units", true], ["sales", "sales", true], ["litres", "volume_l", true]], rows, "product_id");
  }

  async function salesByChannel() {
    const { s, svg, table: t } = section("sales-by-channel");
    const { rows } = await getJson(s.dataset.source);
    hbars(svg, rows.map((r) => ({ label: r.channel, value: Number(r.sales), title: r.sales })));
    table(t, [["channel", "channel"], ["orders", "orders", true], ["units", "units", true], ["sales", "sales", true],
      ["litres", "volume_l", true]], rows, "channel");
  }

  async function orderStatus() {
    const { s, svg, table: t } = section("order-status");
    const { rows } = await getJson(s.dataset.source);
    hbars(svg, rows.map((r) => ({ label: r.status, value: r.orders, title: r.orders + " orders" })));
    table(t, [["status", "status"], ["orders", "orders", true], ["units", "units", true], ["sales", "sales", true]],
      rows, "status");
  }

  async function topClients() {
    const { s, svg, table: t } = section("top-clients");
    const { rows } = await getJson(s.dataset.source);
    const top = rows.slice().sort((a, b) => {
      const d = cents(b.sales) - cents(a.sales);
      return d > 0n ? 1 : d < 0n ? -1 : a.client_id - b.client_id;
    }).slice(0, 10);
    hbars(svg, top.map((r) => ({ label: r.client_name, value: Number(r.sales), title: r.sales })));
    table(t, [["client", "client_id", true], ["name", "client_name"], ["orders", "orders", true],
      ["units", "units", true], ["sales", "sales", true]], top, "client_id");
  }

  async function ingestions() {
    const { s, svg, table: t } = section("ingestions");
    const { ingestions: files } = await getJson(s.dataset.source);
    // Columns oldest to newest; the height is the quarantined share, scaled to the largest
    // one of a published file (named on the axis); a refused file is a full grey column.
    const old = files.slice().reverse();
    const colW = 28, h = 120, x0 = 64;
    let top = null;
    for (const f of old) {
      if (f.outcome === "published" && (top === null || Number(f.quarantined_share) > Number(top))) top = f.quarantined_share;
    }
    const scale = top !== null && Number(top) > 0 ? Number(top) : 1;
    svg.replaceChildren();
    svg.setAttribute("width", Math.max(colW, old.length * colW) + x0 + 10);
    svg.setAttribute("height", h + 24);
    svg.append(svgEl("line", { x1: x0 - 2, y1: h + 2, x2: x0 + old.length * colW, y2: h + 2, stroke: "#999" }));
    svg.append(svgEl("text", { x: 0, y: 12, class: "label" }, top !== null ? top : "1"));
    svg.append(svgEl("text", { x: 0, y: h, class: "label" }, "0"));
    old.forEach((f, i) => {
      const share = Number(f.quarantined_share);
      const bh = f.outcome === "published" ? Math.max(1, (share / scale) * h) : h;
      const bar = svgEl("rect", { x: x0 + i * colW, y: h - bh + 2, width: colW - 6, height: bh.toFixed(1),
        class: "bar share " + f.outcome });
      bar.append(svgEl("title", {}, f.source + ": " + f.outcome + ", quarantined " + f.quarantined_share));
      svg.append(bar);
      svg.append(svgEl("text", { x: x0 + i * colW, y: h + 18, class: "label" }, String(i + 1)));
    });
    const numbered = files.map((f, i) => Object.assign({ n: files.length - i }, f));
    table(t, [["#", "n", true], ["source", "source"], ["ingested at", "ingested_at"], ["outcome", "outcome"],
      ["read", "rows_read", true], ["accepted", "rows_accepted", true], ["quarantined", "rows_quarantined", true],
      ["share", "quarantined_share", true], ["amount", "totals_amount", true]],
    numbered.map((f) => Object.assign({ totals_amount: f.totals.amount }, f)), "file_id", (f) => {
      if (f.rows_quarantined > 0 && f.outcome === "published") {
        return el("a", { href: "#quarantine/" + f.file_id, class: "quarantine-link" }, "quarantined rows");
      }
      if (f.outcome !== "published") return el("a", { href: url("ingestions/" + f.file_id) }, "why");
      return null;
    });
  }

  async function showQuarantine() {
    const box = document.getElementById("quarantine");
    const m = /^#quarantine\/([0-9a-f]{32})$/.exec(location.hash);
    if (!m) {
      box.hidden = true;
      return;
    }
    const route = "ingestions/" + m[1] + "/quarantine?limit=100";
    const page = await getJson(route);
    document.getElementById("quarantine-source").textContent = page.source;
    document.getElementById("quarantine-json").setAttribute("href", url(route));
    table(box.querySelector("table"), [["line", "line", true], ["byte", "byte", true], ["reasons", "reasons"],
      ["raw (first " + page.raw_limit + " bytes, escaped)", "raw"]], page.rows, "record");
    box.querySelectorAll("td[data-field=raw]").forEach((td) => td.classList.add("raw"));
    box.hidden = false;
    box.scrollIntoView();
  }

  async function main() {
    const status = document.getElementById("status");
    const parts = [salesByProduct(), salesByChannel(), orderStatus(), topClients(), ingestions()];
    const results = await Promise.allSettled(parts);
    const failed = results.filter((r) => r.status === "rejected");
    if (failed.length) {
      status.textContent = failed.map((r) => String(r.reason && r.reason.message)).join("; ");
      status.classList.add("error");
      document.body.dataset.ready = "error";
      return;
    }
    status.textContent = "As of " + new Date().toISOString() + ". Money in exact decimals, as the API answers.";
    await showQuarantine().catch((e) => { status.textContent = e.message; status.classList.add("error"); });
    document.body.dataset.ready = "yes";
  }

  window.addEventListener("hashchange", () => {
    showQuarantine().catch((e) => { document.getElementById("status").textContent = e.message; });
  });
  main();
})();
