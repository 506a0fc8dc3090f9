// The IT status page: renders the live status stream into cards. It reads the summary
// agent/web/view.py makes (exact service field names live there, nowhere else). A section
// may be missing (a room without tablets): such cards say so. A section that broke its
// contract arrives as {error}: its card shows the error instead of going blank.
"use strict";

let engHistory = [];   // [[iso, head_up_rate, head_count], ...] newest last
let lastDoc = null;

function pill(text, kind) { return el("span", { class: "pill " + kind, text }); }

function kv(label, value, cls) {
  return el("div", { class: "kv" + (cls ? " " + cls : "") },
    el("span", { class: "k", text: label }),
    value instanceof Node ? value : el("span", { class: "v", text: value }));
}

function fill(card, ...nodes) {
  const body = $("#" + card + " .body");
  body.replaceChildren(...nodes.filter((n) => n));
}

function notConfigured(card) {
  $("#" + card).classList.add("muted");
  fill(card, el("p", { class: "empty", text: t("not_configured") }));
}

// true when the card was drawn (absent or broken section); false: draw the section
function drawnAsMissing(card, sec) {
  if (!sec) { notConfigured(card); return true; }
  $("#" + card).classList.remove("muted");
  if (sec.error) {
    fill(card, kv(t("section.error"), String(sec.error), "error"));
    return true;
  }
  return false;
}

function bar(pct, warnAt, badAt) {
  const p = isNum(pct) ? Math.max(0, Math.min(100, pct)) : 0;
  const kind = p >= badAt ? "bad" : p >= warnAt ? "warn" : "ok";
  const b = el("div", { class: "bar " + kind });
  const f = el("div", { class: "fill" });
  f.style.width = p + "%";
  b.append(f);
  return b;
}

function renderUplink(view) {
  const up = view.uplink;
  if (drawnAsMissing("card-uplink", up)) return;
  const state = !up.enabled ? pill(t("uplink.disabled"), "idle")
    : up.connected ? pill(t("uplink.connected"), "ok") : pill(t("uplink.disconnected"), "bad");
  fill("card-uplink",
    el("div", { class: "headline" }, state),
    up.broker ? kv(t("uplink.broker"), String(up.broker), "mono") : null,
    kv(t("uplink.outbox"), isNum(up.outbox_depth) ? up.outbox_depth + " " + t("messages") : t("unknown")),
    kv(t("uplink.oldest"), isNum(up.outbox_oldest_age_s) && up.outbox_depth ? fmtDuration(up.outbox_oldest_age_s) : t("unknown")),
    isNum(up.sent_total) ? kv(t("uplink.sent"), String(up.sent_total)) : null,
    isNum(up.dropped_total) ? kv(t("uplink.dropped"), String(up.dropped_total), up.dropped_total ? "warn" : "") : null,
    up.last_error ? kv(t("uplink.last_error"), String(up.last_error), "error") : null);
}

function renderRecording(view) {
  const rec = view.recording;
  if (drawnAsMissing("card-recording", rec)) return;
  const failed = !rec.active && rec.last_state === "failed";
  const state = rec.active ? pill("● " + t("rec.recording"), "rec")
    : failed ? pill(t("rec.failed"), "bad") : pill(t("rec.idle"), "idle");
  fill("card-recording",
    el("div", { class: "headline" }, state,
      rec.active ? el("span", { class: "big-num", id: "rec-elapsed", text: fmtClock(rec.elapsed_s) }) : null),
    rec.active && rec.title ? kv(t("rec.title"), String(rec.title)) : null,
    kv(t("rec.disk_free"), fmtBytes(rec.disk_free_bytes) + (rec.disk_low ? " · " + t("rec.disk_low") : ""), rec.disk_low ? "error" : ""),
    kv(t("rec.keep_free"), fmtBytes(rec.keep_free_bytes)),
    !rec.active && rec.last_state ? kv(t("rec.last"), t("rec.state." + rec.last_state)
      + (rec.last_reason ? " — " + rec.last_reason : ""), failed ? "error" : "") : null);
}

function renderLiveLesson(view) {
  const lv = view.live;
  if (drawnAsMissing("card-live", lv)) return;
  if (!lv.configured && !lv.active) return fill("card-live", el("p", { class: "empty", text: t("live.not_configured") }));
  const failed = !lv.active && lv.last_state === "failed";
  const state = lv.state === "live" ? pill("● " + t("live.on"), "rec")
    : lv.state === "outage" ? pill(t("live.outage"), "bad")
    : lv.state === "connecting" ? pill(t("live.connecting"), "warn")
    : failed ? pill(t("live.failed"), "bad") : pill(t("live.idle"), "idle");
  fill("card-live",
    el("div", { class: "headline" }, state,
      lv.active ? el("span", { class: "big-num", id: "live-elapsed", text: fmtClock(lv.elapsed_s) }) : null),
    lv.url_host ? kv(t("live.server"), lv.protocol + "://" + lv.url_host, "mono") : null,
    lv.active && isNum(lv.bitrate_bps) ? kv(t("live.bitrate"), (lv.bitrate_bps / 1e6).toFixed(2) + " Mbit/s") : null,
    lv.active ? kv(t("live.outages"), String(lv.outages), lv.outages ? "warn" : "") : null,
    lv.reason ? kv("", String(lv.reason), "error") : null,
    !lv.active && lv.last_state ? kv(t("live.last"), lv.last_state
      + (lv.last_reason ? " — " + lv.last_reason : ""), failed ? "error" : "") : null);
}

function renderLesson(view) {
  const les = view.lesson;
  if (drawnAsMissing("card-lesson", les)) return;
  const c = les.current, n = les.next;
  const next = n ? kv(t("lesson.next"), [n.subject, fmtSpan(n.start, n.end)].join(" ").trim()) : null;
  if (!c) return fill("card-lesson", el("p", { class: "empty", text: t("lesson.none") }), next);
  fill("card-lesson",
    el("div", { class: "headline" }, el("span", { class: "lesson-name", text: c.subject || c.title || t("lesson.in_progress") })),
    c.title && c.subject ? kv(t("rec.title"), String(c.title)) : null,
    c.teacher ? kv(t("lesson.teacher"), String(c.teacher)) : null,
    c["class"] ? kv(t("lesson.class"), String(c["class"])) : null,
    c.start ? kv(t("lesson.time"), fmtSpan(c.start, c.end)) : null,
    c.lesson_id ? kv("ID", String(c.lesson_id), "mono") : null,
    next);
}

function renderTablets(view) {
  const tb = view.tablets;
  if (drawnAsMissing("card-tablets", tb)) return;
  fill("card-tablets",
    el("div", { class: "headline" },
      el("span", { class: "big-num", text: String(tb.connected) }),
      el("span", { class: "unit", text: t("tablets.connected") })),
    kv(t("tablets.checked_in"), String(tb.checked_in)),
    kv(t("tablets.hands_up"), String(tb.hands_up)),
    isNum(tb.answers) ? kv(t("tablets.answers"), String(tb.answers)) : null);
}

function sparkline(points) {
  // points: head-up rates 0..1 (null = no data); drawn as an SVG polyline
  const W = 300, H = 64, ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("class", "spark");
  svg.setAttribute("preserveAspectRatio", "none");
  const vals = points.map((p, i) => [i, p]).filter(([, v]) => isNum(v));
  if (vals.length < 2) return null;
  const n = Math.max(points.length - 1, 1);
  const xy = vals.map(([i, v]) => [(i / n) * W, H - 4 - v * (H - 8)]);
  const d = xy.map(([x, y]) => x.toFixed(1) + "," + y.toFixed(1)).join(" ");
  const area = document.createElementNS(ns, "polygon");
  area.setAttribute("points", `${xy[0][0].toFixed(1)},${H} ${d} ${xy[xy.length - 1][0].toFixed(1)},${H}`);
  area.setAttribute("class", "area");
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", d);
  line.setAttribute("class", "line");
  svg.append(area, line);
  return svg;
}

function pctText(rate) { return isNum(rate) ? Math.round(rate * 100) + "%" : "—"; }

function renderEngagement(view, history) {
  const e = view.engagement;
  if (drawnAsMissing("card-engagement", e)) return;
  if (history && history.length) engHistory = history.slice(-120);
  const w = e.last_window;
  // the last closed window, always labelled as such (while paused it is all there is)
  const lastWindow = w ? kv(t("eng.last_window", fmtTime(w.end)),
    pctText(w.head_up_rate) + " · " + t("eng.people", isNum(w.head_count) ? Math.round(w.head_count) : "—")) : null;
  if (!e.active) {
    // paused: no numbers presented as live
    return fill("card-engagement",
      el("div", { class: "headline" },
        pill(e.active_reason === "idle" ? t("eng.paused") : t("eng.starting"), "idle")),
      lastWindow || el("p", { class: "empty small", text: t("eng.no_data") }),
      e.source_error ? kv(t("uplink.last_error"), String(e.source_error), "error") : null);
  }
  const now = e.now;
  const spark = sparkline(engHistory.map((h) => h[1]));
  fill("card-engagement",
    el("div", { class: "headline" },
      el("span", { class: "big-num", text: pctText(now.head_up_rate) }),
      el("span", { class: "unit", text: t("eng.head_up") }),
      pill(t("eng.reason." + e.active_reason), "ok")),
    spark || el("p", { class: "empty small", text: t("eng.no_data") }),
    kv(t("eng.head_count"), isNum(now.head_count) ? String(Math.round(now.head_count)) : t("unknown")),
    isNum(now.hands_raised) ? kv(t("eng.hands"), String(now.hands_raised)) : null,
    kv(t("eng.fps"), isNum(e.fps) ? e.fps.toFixed(1) : t("unknown")),
    lastWindow,
    e.source_error ? kv(t("uplink.last_error"), String(e.source_error), "error") : null);
}

function renderSystem(sys) {
  if (drawnAsMissing("card-system", sys)) return;
  // disk_total_bytes is 0 when the data dir could not be measured
  const diskUsed = sys.disk_total_bytes ? 100 - (100 * sys.disk_free_bytes) / sys.disk_total_bytes : null;
  const lag = sys.loop_lag_ms;
  fill("card-system",
    kv(t("sys.cpu"), fmtPct(sys.cpu_percent)), bar(sys.cpu_percent, 70, 90),
    kv(t("sys.memory"), fmtPct(sys.memory_percent)), bar(sys.memory_percent, 80, 92),
    kv(t("sys.disk"), diskUsed !== null ? fmtBytes(sys.disk_free_bytes) : t("unknown")),
    diskUsed !== null ? bar(diskUsed, 85, 95) : null,
    kv(t("sys.temperature"), isNum(sys.temperature_c) ? sys.temperature_c.toFixed(0) + " °C" : t("unknown"),
      isNum(sys.temperature_c) && sys.temperature_c > 80 ? "error" : ""),
    kv(t("sys.loop_lag"), lag.toFixed(1) + " ms", lag > 100 ? "warn" : ""),
    kv(t("sys.load"), sys.load_1m.toFixed(2)));
}

const STATUS_ORDER = { fault: 0, offline: 1, online: 2 };

function renderDevices(devices) {
  const tbody = $("#devices");
  const list = (devices || []).slice().sort((a, b) =>
    (STATUS_ORDER[a.status] ?? 3) - (STATUS_ORDER[b.status] ?? 3)
    || String(a.kind).localeCompare(String(b.kind)) || String(a.device_id).localeCompare(String(b.device_id)));
  if (!list.length) {
    tbody.replaceChildren(el("tr", {}, el("td", { colspan: "5", class: "empty", text: t("dev.none") })));
    return;
  }
  const kind = { online: "ok", offline: "bad", fault: "bad" };
  tbody.replaceChildren(...list.map((d) => el("tr", { "data-device": String(d.device_id), class: "dev-" + d.status },
    el("td", { class: "mono", text: String(d.device_id) }),
    el("td", { text: String(d.kind || "") }),
    el("td", {}, pill(t("dev." + d.status) !== "dev." + d.status ? t("dev." + d.status) : String(d.status), kind[d.status] || "idle")),
    el("td", { class: "reason", text: d.reason || "" }),
    // last_seen is None for a device never seen (or a camera gone offline): then the
    // time its state was reported
    el("td", { text: fmtAgo(d.last_seen || d.ts) }))));
}

function renderErrors(errs) {
  const ul = $("#errors");
  if (errs && errs.error) {
    ul.replaceChildren(el("li", { class: "lvl-error" }, el("span", { class: "msg", text: String(errs.error) })));
    return;
  }
  const recent = errs ? errs.recent : [];
  if (!recent.length) {
    ul.replaceChildren(el("li", { class: "empty", text: t("err.none") }));
    return;
  }
  ul.replaceChildren(...recent.slice(0, 15).map((r) => el("li", { class: "lvl-" + String(r.level).toLowerCase() },
    el("span", { class: "when", text: fmtTime(r.ts, true) }),
    el("span", { class: "lvl", text: r.level }),
    el("span", { class: "src mono", text: r.logger }),
    el("span", { class: "msg", text: r.message }))));
}

function render(data) {
  const st = data.status || {}, view = data.view || {};
  lastDoc = data;
  const a = st.agent || {};
  if (a.timezone && a.timezone !== ROOM_TZ) setRoomTimezone(a.timezone);
  $("#site").textContent = (a.school || "?") + " / " + (a.room || "?");
  $("#version").textContent = a.version || "—";
  $("#uptime").textContent = fmtDuration(a.uptime_s);
  $("#demo").hidden = !a.demo;
  if (a.name) $("#room").textContent = a.name;
  const cards = [
    () => renderUplink(view), () => renderRecording(view), () => renderLiveLesson(view),
    () => renderLesson(view),
    () => renderTablets(view), () => renderEngagement(view, (data.history || {}).engagement),
    () => renderSystem(view.system), () => renderDevices(st.devices), () => renderErrors(view.errors),
  ];
  // one broken card must not blank the others
  for (const draw of cards) { try { draw(); } catch (e) { console.error(e); } }
}

function setLive(up) {
  const live = $("#live");
  live.classList.toggle("off", !up);
  $("#live-text").textContent = t(up ? "live.connected" : "live.lost");
}

applyI18n();
connectLive(render, setLive);
