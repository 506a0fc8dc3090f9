// Shared helpers of the dashboard pages: strings, number formats, DOM building, charts
// (ECharts, vendored) and polling. Every page calls Dash.start(load, render).
"use strict";

(function () {
  const body = document.body;
  const lang = document.documentElement.lang === "zh-CN" ? "zh-CN" : "en";
  const S = window.DASH_I18N[lang];
  const P = body.dataset;

  function t(key, vars) {
    let s = S[key] !== undefined ? S[key] : key;
    if (vars) for (const k in vars) s = s.replace("{" + k + "}", vars[k]);
    return s;
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  // the engine's reason for a null figure, in the page's language when we know it
  function why(reason) {
    if (!reason) return "";
    return (lang === "zh-CN" && window.DASH_REASONS_ZH[reason]) || reason;
  }

  function subject(id) {
    if (!id) return "–";
    return (lang === "zh-CN" && window.DASH_SUBJECTS_ZH[id.toLowerCase()]) || id;
  }

  // a null figure: "no data yet" and why (never 0)
  function nodata(reason) {
    return el("span", { class: "nodata", title: why(reason) }, t("nodata"));
  }

  function pct(v, reason) {
    if (v === null || v === undefined) return nodata(reason);
    return (v * 100).toFixed(1) + " %";
  }

  function num(v, reason, digits) {
    if (v === null || v === undefined) return nodata(reason);
    return digits ? Number(v).toFixed(digits) : String(v);
  }

  // quality recordings per subject {subject: n} against the per-subject target
  function bySubject(obj, reason, target) {
    if (obj === null || obj === undefined) return nodata(reason);
    const keys = Object.keys(obj);
    if (!keys.length) return "–";
    return el("span", {}, keys.map((k) => el("span", { class: target && obj[k] < target ? "below" : "met" },
      subject(k) + " " + obj[k])).flatMap((e, i) => (i ? [" · ", e] : [e])));
  }

  // (class, subject) pairs reaching the homework targets: "met / all"
  function homeworkMet(s, key) {
    if (s.homework_class_subjects === null || s.homework_class_subjects === undefined) {
      return nodata(s.reasons.homework_by_class_subject);
    }
    return s[key] + " / " + s.homework_class_subjects;
  }

  function yn(v) {
    if (v === null || v === undefined) return "–";
    return v ? t("yes") : t("no");
  }

  function when(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    if (isNaN(d)) return iso;
    return d.toLocaleString(lang, { hour12: false });
  }

  function query(extra) {
    const q = new URLSearchParams();
    if (P.term) q.set("term", P.term);
    if (P.asOf) q.set("as_of", P.asOf);
    for (const [k, v] of Object.entries(extra || {})) if (v) q.set(k, v);
    q.set("lang", lang);
    return q.toString();
  }

  function link(path, text, extra) {
    return el("a", { href: path + "?" + query(extra) }, text);
  }

  function schoolLabel(id, name) {
    return name ? name + " (" + id + ")" : id;
  }

  // a table: cols = [[header, row => cell, row => class?], ...]
  function table(cols, rows, opts) {
    const head = el("tr", {}, cols.map((c) => el("th", {}, c[0])));
    const trs = rows.map((r) =>
      el("tr", { class: opts && opts.rowClass ? opts.rowClass(r) : null,
                 "data-key": opts && opts.key ? opts.key(r) : null },
         cols.map((c) => el("td", { class: c[2] ? c[2](r) : null }, c[1](r)))));
    return el("table", { class: "grid" }, el("thead", {}, head), el("tbody", {}, trs));
  }

  function fill(id, ...children) {
    const box = document.getElementById(id);
    if (!box) return;
    box.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined));
  }

  function card(label, value, cls, note) {
    return el("div", { class: "kpi " + (cls || "") },
      el("div", { class: "kpi-label" }, label),
      el("div", { class: "kpi-value" }, value),
      note ? el("div", { class: "kpi-note" }, note) : null);
  }

  // ECharts loads async (1 MB): tables render at once, charts when it is there
  const echartsReady = new Promise((resolve) => {
    const s = document.querySelector("script[data-echarts]");
    if (window.echarts || !s) return resolve();
    s.addEventListener("load", resolve);
    s.addEventListener("error", resolve);
  });
  const pending = {};
  function flushCharts() {
    for (const id of Object.keys(pending)) {
      const option = pending[id];
      delete pending[id];
      chart(id, option);
    }
  }

  const charts = {};
  function chart(id, option) {
    const box = document.getElementById(id);
    if (!box) return null;
    if (!window.echarts) { pending[id] = option; return null; }
    let c = charts[id];
    if (!c) {
      c = charts[id] = window.echarts.init(box, null, { renderer: "canvas" });
      window.addEventListener("resize", () => c.resize());
    }
    option.animation = false; // a printable, testable picture at once
    c.setOption(option, true);
    return c;
  }

  async function getJSON(url) {
    const r = await fetch(url);  // no extra headers: the page's <link rel=preload> matches
    if (!r.ok) {
      let msg = r.status + "";
      try { msg += " " + (await r.json()).error.message; } catch (e) { /* not JSON */ }
      throw new Error(msg);
    }
    return r.json();
  }

  function start(url, render, extra) {
    const live = document.getElementById("live");
    let timer = null;
    async function tick() {
      try {
        const data = await getJSON(url + "?" + query(extra));
        render(data);
        await echartsReady;
        flushCharts();
        fill("updated", t("updated") + " " + when(data.generated_at));
        if (live) { live.className = "live on"; live.textContent = t("live"); }
        // first render: ms since navigation start (bench/district_dashboard.py reads it)
        if (!body.dataset.loaded) body.dataset.loadedMs = performance.now().toFixed(1);
        body.dataset.loaded = String(Number(body.dataset.loaded || 0) + 1);
        fill("error");
      } catch (e) {
        if (live) { live.className = "live off"; live.textContent = t("live.lost"); }
        fill("error", el("div", { class: "error" }, t("error") + ": " + e.message));
      }
      const every = Number(P.refresh || 15) * 1000;
      if (every > 0) timer = setTimeout(tick, every);
    }
    const asof = document.getElementById("asof");
    if (asof && P.asOf) asof.textContent = t("as_of") + " " + P.asOf;
    const rep = document.getElementById("nav-report");
    if (rep) rep.href = "/report?" + query({ school: P.school });
    const home = document.getElementById("nav-district");
    if (home) home.href = "/?" + query();
    const sch = document.getElementById("nav-school");
    if (sch) sch.href = "/schools/" + encodeURIComponent(P.school) + "?" + query();
    document.querySelectorAll("[data-t]").forEach((e) => { e.textContent = t(e.dataset.t); });
    document.title = t(document.body.dataset.title || "app") + " · " + (P.district || "");
    tick();
    return () => clearTimeout(timer);
  }

  const base = "/api/dashboard";
  window.Dash = { t, why, subject, el, nodata, pct, num, yn, bySubject, homeworkMet, when, query, link, table, fill, card, chart,
                  start, lang, P, base, schoolLabel };
})();
