// The room page: its lessons of the term, presence, the days it reported, last health.
"use strict";

(function () {
  const D = window.Dash;
  const { t, el, pct, num, table, fill, card, chart } = D;
  const below = (v) => (v !== null && v !== undefined && v < 1 ? "below" : null);
  const ratio = (v) => (v === null || v === undefined ? "–" : Math.round(v * 100) + "%");

  function render(d) {
    const x = d.room;
    const r = x.reasons || {};
    fill("kpis",
      card(t("class_hour_rate"), pct(x.class_hour_rate, r.class_hour_rate), below(x.class_hour_rate),
           x.smart_lessons + " / " + d.targets.required_smart_lessons),
      card(t("subject_rate"), pct(x.subject_rate, r.subject_rate), below(x.subject_rate),
           x.subjects_taught + " / " + d.targets.required_subjects + (x.subjects.length ? " (" + x.subjects.map(D.subject).join(", ") + ")" : "")),
      card(t("lessons"), String(x.lessons), null, t("usage_lessons") + " " + x.usage_lessons),
      card(t("recording_weekly"), x.recording_room ? pct(x.recording_room_weekly_rate, r.recording_room_weekly_rate) : "–"),
      card(t("live_lessons"), num(x.live_lessons, r.live_lessons)),
      card(t("quality"), num(x.quality_recordings, r.quality_recordings), null, D.why(r.quality_recordings) || null),
    );
    const p = d.presence;
    const loss = d.data_loss.reduce((a, s) => [a[0] + s.missing, a[1] + s.gaps], [0, 0]);
    const kv = (rows) => el("dl", { class: "kv" }, rows.map(([k, v, cls]) => [el("dt", {}, k), el("dd", { class: cls || null }, v)]));
    fill("presence", kv([
      [t("state"), x.silent ? t("never") : p.state ? t(p.state) : "–", p.state === "offline" ? "warn" : null],
      [t("status_ts"), D.when(p.status_ts)],
      [t("last_seen"), D.when(p.last_seen)],
      [t("first_seen"), D.when(p.first_seen)],
      [t("version"), p.version || "–"],
      [t("capabilities"), (p.capabilities || []).join(", ") || "–"],
      [t("missing"), String(loss[0]), loss[0] ? "warn" : null],
      [t("gaps"), String(loss[1])],
    ]));
    const h = d.health;
    fill("health", h ? kv([
      [t("updated"), D.when(h.ts)],
      [t("cpu"), num(h.cpu_percent, null, 0) + " %"],
      [t("memory"), num(h.memory_percent, null, 0) + " %"],
      [t("disk_free"), h.disk_free_bytes ? (h.disk_free_bytes / 1e9).toFixed(1) + " GB" : "–"],
      [t("outbox"), String(h.outbox_depth ?? "–")],
    ]) : t("health.none"));

    chart("chart-history", {
      tooltip: { trigger: "axis" },
      legend: { top: 0, data: [t("lessons"), t("smart_lessons"), t("recorded")] },
      grid: { left: 40, right: 20, top: 30, bottom: 40 },
      xAxis: { type: "category", data: d.history.map((y) => y.date) },
      yAxis: { type: "value" },
      series: [
        { name: t("lessons"), type: "bar", data: d.history.map((y) => y.lessons), itemStyle: { color: "#9fc5e8" } },
        { name: t("smart_lessons"), type: "bar", data: d.history.map((y) => y.smart_lessons), itemStyle: { color: "#3b82c4" } },
        { name: t("recorded"), type: "bar", data: d.history.map((y) => y.recorded), itemStyle: { color: "#8e6cc4" } },
      ],
    });

    fill("lessons", table([
      [t("date"), (l) => l.date + (l.period ? " " + l.period : "")],
      [t("subject"), (l) => D.subject(l.subject)],
      [t("teacher"), (l) => l.teacher || "–"],
      [t("class"), (l) => l.class_id || "–"],
      [t("minutes"), (l) => Math.round(l.minutes)],
      [t("panel"), (l) => ratio(l.panel_on_ratio)],
      [t("smart"), (l) => D.yn(l.smart), (l) => (l.smart ? null : "warn")],
      [t("recorded"), (l) => D.yn(l.recorded)],
      [t("tablets"), (l) => (l.tablets_active ? l.tablets_active + (l.tablet_answers ? " / " + l.tablet_answers : "") : "–")],
      [t("attendance"), (l) => (l.roster_size ? l.present + " / " + l.roster_size : l.present ? String(l.present) : "–")],
      [t("head_up"), (l) => ratio(l.head_up_rate)],
    ], d.lessons.slice().reverse(), { key: (l) => l.lesson_id }));
  }

  D.start(D.base + "/schools/" + encodeURIComponent(D.P.school) + "/rooms/" + encodeURIComponent(D.P.room), render);
})();
