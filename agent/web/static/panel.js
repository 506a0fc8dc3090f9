// The teacher panel: one big Start/Stop button, elapsed time, the current lesson and
// plain-language problems. The button calls POST /api/recording/start|stop; what the
// page shows always comes back from the live stream, so it never pretends.
"use strict";

let recActive = false;
let recAvailable = false;
let busy = false;
let streamUp = false;
let elapsedBase = null;   // {elapsed_s, at: ms} from the last update, ticked locally
let actionError = null;
let problemCodes = [];
let lastRec = null;       // the recording that ended last: {id, state, showcase}
let showcaseBusy = false;

const button = $("#rec-button");
const showcaseButton = $("#showcase-button");

function tick() {
  $("#clock").textContent = fmtTime(new Date());
  if (recActive && elapsedBase) {
    $("#rec-elapsed").textContent = fmtClock(elapsedBase.elapsed_s + (Date.now() - elapsedBase.at) / 1000);
  }
}

function renderButton() {
  button.classList.toggle("recording", recActive);
  button.classList.toggle("idle", !recActive);
  button.classList.toggle("busy", busy);
  button.disabled = busy || !recAvailable || !streamUp;
  let label = recActive ? "panel.stop" : "panel.start";
  if (busy) label = recActive ? "panel.stopping" : "panel.starting";
  $("#rec-label").textContent = t(label);
  $("#rec-state").textContent = !recAvailable ? t("panel.unavailable")
    : recActive ? t("panel.recording") : t("panel.ready");
  $("#rec-state").classList.toggle("on", recActive);
  if (!recActive) $("#rec-elapsed").textContent = "";
  document.body.classList.toggle("is-recording", recActive);
}

// After Stop: "Keep as showcase lesson" (POST), then "Undo" (DELETE) for the rest of the day.
function renderShowcase() {
  const show = !recActive && !!lastRec && !!lastRec.id && lastRec.state !== "failed";
  showcaseButton.hidden = !show;
  if (!show) return;
  showcaseButton.textContent = t(lastRec.showcase ? "panel.undo_showcase" : "panel.keep_showcase");
  showcaseButton.classList.toggle("on", !!lastRec.showcase);
  showcaseButton.disabled = showcaseBusy || !streamUp;
}

async function sendShowcase(keep) {
  const r = await fetch("/api/recordings/" + encodeURIComponent(lastRec.id) + "/showcase", {
    method: keep ? "POST" : "DELETE",
    headers: { "X-Requested-With": "classroom-agent-panel" },
    credentials: "same-origin",
  });
  let doc = {};
  try { doc = await r.json(); } catch (e) { /* empty or non-JSON body */ }
  return { ok: r.ok, status: r.status, doc };
}

function renderProblems() {
  const box = $("#problems");
  const items = [];
  if (!streamUp) items.push(["agent_lost", "bad"]);
  for (const code of problemCodes) items.push([code, code === "no_network" ? "warn" : "bad"]);
  if (actionError) items.unshift([null, "bad"]);
  if (!items.length) {
    box.replaceChildren(el("div", { class: "problem ok", "data-problem": "none" },
      el("span", { class: "picon", text: "✓" }), el("span", { text: t("problem.all_ok") })));
    return;
  }
  box.replaceChildren(...items.map(([code, kind]) => el("div", { class: "problem " + kind, "data-problem": code || "action" },
    el("span", { class: "picon", text: kind === "warn" ? "!" : "✕" }),
    el("span", { text: code ? t("problem." + code) : t("panel.failed", actionError) }))));
}

function renderLesson(view) {
  const c = view.lesson && !view.lesson.error ? view.lesson.current : null;
  const rec = view.recording && !view.recording.error ? view.recording : {};
  const subject = c ? (c.subject || c.title || rec.title || t("lesson.in_progress"))
    : (rec.active && rec.title ? rec.title : t("panel.no_lesson"));
  $("#lesson-subject").textContent = subject;
  const parts = [];
  if (c) {
    if (c.title && c.subject) parts.push(c.title);
    if (c["class"]) parts.push(c["class"]);
    if (c.teacher) parts.push(c.teacher);
    if (c.start) parts.push(fmtSpan(c.start, c.end));
  }
  $("#lesson-detail").textContent = parts.join(" · ");
  $("#lesson").classList.toggle("none", !c);
}

function onData(data) {
  const view = data.view || {};
  const tz = ((data.status || {}).agent || {}).timezone;
  if (tz && tz !== ROOM_TZ) setRoomTimezone(tz);
  const rec = view.recording && !view.recording.error ? view.recording : null;
  recAvailable = !!rec;
  recActive = !!(rec && rec.active);
  elapsedBase = recActive && isNum(rec.elapsed_s) ? { elapsed_s: rec.elapsed_s, at: Date.now() } : null;
  problemCodes = view.problems || [];
  if (rec && rec.last_id && !showcaseBusy) {
    lastRec = { id: rec.last_id, state: rec.last_state, showcase: !!rec.last_showcase };
  }
  renderLesson(view);
  renderLive(view);  // panel_live.js
  renderButton();
  renderShowcase();
  renderProblems();
  tick();
}

function onState(up) {
  streamUp = up;
  renderLiveState(up);  // panel_live.js
  renderButton();
  renderShowcase();
  renderProblems();
}

button.addEventListener("click", async () => {
  if (busy) return;
  busy = true;
  actionError = null;
  renderButton();
  const wasActive = recActive;
  try {
    const res = await postJSON("/api/recording/" + (wasActive ? "stop" : "start"), {});
    if (!res.ok) actionError = errorText(res);
    else recActive = !wasActive;  // the stream confirms within a moment
    if (res.ok && wasActive && res.doc.recording_id) {
      lastRec = { id: res.doc.recording_id, state: res.doc.state, showcase: false };
    }
  } catch (e) {
    actionError = String(e.message || e);
  } finally {
    busy = false;
    renderButton();
    renderShowcase();
    renderProblems();
  }
});

showcaseButton.addEventListener("click", async () => {
  if (showcaseBusy || !lastRec) return;
  showcaseBusy = true;
  actionError = null;
  renderShowcase();
  try {
    const res = await sendShowcase(!lastRec.showcase);
    if (!res.ok) actionError = errorText(res);
    else lastRec.showcase = !!res.doc.showcase;
  } catch (e) {
    actionError = String(e.message || e);
  } finally {
    showcaseBusy = false;
    renderShowcase();
    renderProblems();
  }
});

applyI18n();
renderButton();
renderProblems();
setInterval(tick, 1000);
tick();
connectLive(onData, onState);
