// The teacher panel's "Go live" button (live remote lessons): beside Record, shown when
// the room has a streaming server configured. It calls POST /api/live/start|stop; the
// state and elapsed time come back from the live stream (view.live), like recording's.
"use strict";

let liveActive = false;
let liveConfigured = false;
let liveBusy = false;
let liveUp = false;
let liveBase = null;  // {elapsed_s, at: ms}
const liveButton = $("#live-button");

function liveTick() {
  if (liveActive && liveBase) {
    $("#live-elapsed").textContent = fmtClock(liveBase.elapsed_s + (Date.now() - liveBase.at) / 1000);
  }
}

function renderLiveButton(view) {
  const live = view && view.live && !view.live.error ? view.live : null;
  $("#live-control").hidden = !liveConfigured;
  liveButton.classList.toggle("live", liveActive);
  liveButton.classList.toggle("busy", liveBusy);
  liveButton.disabled = liveBusy || !liveConfigured || !liveUp;
  let label = liveActive ? "panel.stop_live" : "panel.go_live";
  if (liveBusy) label = liveActive ? "panel.stopping" : "panel.starting";
  $("#live-label").textContent = t(label);
  let state = t("panel.live_ready");
  if (live && live.state === "outage") state = t("panel.live_outage");
  else if (live && live.state === "connecting") state = t("panel.live_connecting");
  else if (liveActive) state = t("panel.live_on") + (live && live.url_host ? " · " + live.url_host : "");
  $("#live-state").textContent = state;
  $("#live-state").classList.toggle("on", liveActive && !!live && live.state === "live");
  if (!liveActive) $("#live-elapsed").textContent = "";
}

let lastLiveView = null;

function renderLive(view) {
  lastLiveView = view;
  const live = view.live && !view.live.error ? view.live : null;
  liveConfigured = !!(live && live.configured);
  liveActive = !!(live && live.active);
  liveBase = liveActive && isNum(live.elapsed_s) ? { elapsed_s: live.elapsed_s, at: Date.now() } : null;
  renderLiveButton(view);
  liveTick();
}

function renderLiveState(up) {
  liveUp = up;
  renderLiveButton(lastLiveView);
}

liveButton.addEventListener("click", async () => {
  if (liveBusy) return;
  liveBusy = true;
  renderLiveButton(lastLiveView);
  const wasActive = liveActive;
  try {
    const res = await postJSON("/api/live/" + (wasActive ? "stop" : "start"), { trigger: "panel" });
    if (!res.ok) actionError = errorText(res);
    else { actionError = null; liveActive = !wasActive; }
  } catch (e) {
    actionError = String(e.message || e);
  } finally {
    liveBusy = false;
    renderLiveButton(lastLiveView);
    renderProblems();
  }
});

setInterval(liveTick, 1000);
