// Shared by the status page and the teacher panel: translation, formatting, the live
// stream. No framework and no network: the agent serves this file itself.
"use strict";

const LANG = document.documentElement.lang === "zh-CN" ? "zh-CN" : "en";
const STRINGS = (window.I18N || {})[LANG] || {};

function t(key, ...args) {
  let s = STRINGS[key] !== undefined ? STRINGS[key] : key;
  args.forEach((a, i) => { s = s.replace("{" + i + "}", String(a)); });
  return s;
}

function applyI18n(root) {
  (root || document).querySelectorAll("[data-i18n]").forEach((el) => {
    el.textContent = t(el.dataset.i18n);
  });
}

function $(sel) { return document.querySelector(sel); }

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function isNum(v) { return typeof v === "number" && isFinite(v); }

function fmtBytes(n) {
  if (!isNum(n)) return t("unknown");
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (n >= 100 || i === 0 ? n.toFixed(0) : n.toFixed(1)) + " " + units[i];
}

function fmtDuration(sec) {
  if (!isNum(sec)) return t("unknown");
  sec = Math.max(0, Math.floor(sec));
  const d = Math.floor(sec / 86400), h = Math.floor((sec % 86400) / 3600);
  const m = Math.floor((sec % 3600) / 60), s = sec % 60;
  const zh = LANG === "zh-CN";
  const U = zh ? ["天", "小时", "分", "秒"] : ["d", "h", "m", "s"];
  const sep = zh ? "" : " ";
  if (d) return d + U[0] + sep + h + U[1];
  if (h) return h + U[1] + sep + m + U[2];
  if (m) return m + U[2] + sep + s + U[3];
  return s + U[3];
}

function fmtClock(sec) {
  if (!isNum(sec)) return "00:00";
  sec = Math.max(0, Math.floor(sec));
  const h = Math.floor(sec / 3600), m = Math.floor((sec % 3600) / 60), s = sec % 60;
  const p = (x) => String(x).padStart(2, "0");
  return (h ? h + ":" : "") + p(m) + ":" + p(s);
}

function fmtAgo(iso, nowMs) {
  if (!iso) return t("never");
  const ms = Date.parse(iso);
  if (!isFinite(ms)) return t("unknown");
  return t("ago", fmtDuration(((nowMs || Date.now()) - ms) / 1000));
}

// The room's time zone (site.timezone), set from the status document: a desk in another
// zone still reads lesson times as the room sees them.
let ROOM_TZ = undefined;

function setRoomTimezone(tz) {
  try { new Intl.DateTimeFormat("en", { timeZone: tz }); ROOM_TZ = tz; } catch (e) { ROOM_TZ = undefined; }
}

function fmtTime(iso, withSeconds) {
  if (!iso) return t("unknown");
  const d = iso instanceof Date ? iso : new Date(iso);
  if (!isFinite(d.getTime())) return String(iso);
  const opts = { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: ROOM_TZ };
  if (withSeconds) opts.second = "2-digit";
  return d.toLocaleTimeString(LANG, opts);
}

// "08:00 – 08:45", or "since 08:00" for a lesson with no planned end (ad hoc)
function fmtSpan(start, end) {
  if (!start) return "";
  return end ? fmtTime(start) + " – " + fmtTime(end) : t("lesson.since", fmtTime(start));
}

function fmtPct(v, digits) {
  return isNum(v) ? v.toFixed(digits === undefined ? 0 : digits) + "%" : t("unknown");
}

// Subscribe to the agent's status stream. onData gets {status, view, history};
// onState(true|false) tells whether the stream is up. EventSource retries by itself.
function connectLive(onData, onState) {
  let es = null;
  function open() {
    es = new EventSource("/api/events/stream");
    es.addEventListener("status", (ev) => {
      onState(true);
      try { onData(JSON.parse(ev.data)); } catch (e) { console.error(e); }
    });
    es.onerror = () => {
      onState(false);
      if (es.readyState === EventSource.CLOSED) setTimeout(open, 2000);
    };
  }
  open();
}

// POST with the header the agent's CSRF check looks for.
async function postJSON(url, body) {
  const r = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Requested-With": "classroom-agent-web" },
    body: JSON.stringify(body || {}),
    credentials: "same-origin",
  });
  let doc = {};
  try { doc = await r.json(); } catch (e) { /* empty or non-JSON body */ }
  return { ok: r.ok && doc.ok !== false, status: r.status, doc };
}

function errorText(res) {
  const e = res.doc && res.doc.error;
  if (e && typeof e === "object" && e.message) return e.message;
  if (typeof e === "string") return e;
  return "HTTP " + res.status;
}
