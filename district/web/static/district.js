// The district page: every school against the targets, rooms below target, weekly trends,
// rooms offline now and rooms with data-loss gaps.
"use strict";

(function () {
  const D = window.Dash;
  const { t, el, pct, num, table, fill, card, chart, link, schoolLabel } = D;
  const below = (v) => (v !== null && v !== undefined && v < 1 ? "below" : null);

  function render(d) {
    const dist = d.district;
    const r = dist.reasons || {};
    fill("kpis",
      card(t("class_hour_rate"), pct(dist.class_hour_rate, r.class_hour_rate), below(dist.class_hour_rate),
           t("smart_per_room") + " " + num(dist.smart_lessons_per_room, null, 1) + " / " + d.targets.required_smart_lessons),
      card(t("subject_rate"), pct(dist.subject_rate, r.subject_rate), below(dist.subject_rate),
           num(dist.subjects_per_room, null, 1) + " / " + d.targets.required_subjects),
      card(t("rooms_online"), d.online + " / " + d.rooms_total),
      card(t("rooms_offline"), String(d.offline.length), d.offline.length ? "warn" : null),
      card(t("rooms_data_loss"), String(d.data_loss.length), d.data_loss.length ? "warn" : null),
      card(t("rooms_below"), String(d.rooms_below_target_total), d.rooms_below_target_total ? "warn" : null),
      card(t("recording_weekly"), pct(dist.recording_room_weekly_rate, r.recording_room_weekly_rate)),
      card(t("live_lessons"), num(dist.live_lessons, r.live_lessons)),
    );

    const names = d.schools.map((s) => s.name || s.school);
    chart("chart-schools", {
      tooltip: { trigger: "axis" },
      legend: { top: 0, data: [t("class_hour_rate.short"), t("subject_rate.short")] },
      grid: { left: 50, right: 50, bottom: 60, top: 40 },
      xAxis: { type: "category", data: names, axisLabel: { rotate: names.length > 8 ? 30 : 0 } },
      yAxis: { type: "value", axisLabel: { formatter: (v) => Math.round(v * 100) + "%" } },
      series: [
        { name: t("class_hour_rate.short"), type: "bar", itemStyle: { color: "#3b82c4" },
          data: d.schools.map((s) => ({ value: s.class_hour_rate, itemStyle: { color: (s.class_hour_rate || 0) < 1 ? "#d9534f" : "#3b82c4" } })),
          markLine: { silent: true, symbol: "none", label: { formatter: "100%" }, data: [{ yAxis: 1, name: t("target") }], lineStyle: { color: "#d9534f", type: "dashed" } } },
        { name: t("subject_rate.short"), type: "bar", itemStyle: { color: "#5cb85c" },
          data: d.schools.map((s) => ({ value: s.subject_rate, itemStyle: { color: (s.subject_rate || 0) < 1 ? "#f0ad4e" : "#5cb85c" } })) },
      ],
    });

    fill("schools", table([
      [t("school"), (s) => link("/schools/" + encodeURIComponent(s.school), schoolLabel(s.school, s.name))],
      [t("rooms"), (s) => s.rooms],
      [t("smart_lessons"), (s) => s.smart_lessons],
      [t("smart_per_room"), (s) => num(s.smart_lessons_per_room, s.reasons.class_hour_rate, 1)],
      [t("class_hour_rate.short"), (s) => pct(s.class_hour_rate, s.reasons.class_hour_rate), (s) => "rate " + (below(s.class_hour_rate) || "")],
      [t("subject_rate.short"), (s) => pct(s.subject_rate, s.reasons.subject_rate), (s) => "rate " + (below(s.subject_rate) || "")],
      [t("rooms_below"), (s) => s.rooms_below_target, (s) => (s.rooms_below_target ? "below" : null)],
      [t("recording_weekly"), (s) => pct(s.recording_room_weekly_rate, s.reasons.recording_room_weekly_rate)],
    ], d.schools, { key: (s) => s.school }));

    const more = d.rooms_below_target_total - d.rooms_below_target.length;
    fill("below", d.rooms_below_target.length ? table([
      [t("school"), (x) => x.school],
      [t("room"), (x) => link("/schools/" + encodeURIComponent(x.school) + "/rooms/" + encodeURIComponent(x.room), x.room)],
      [t("smart_lessons"), (x) => x.smart_lessons],
      [t("class_hour_rate.short"), (x) => pct(x.class_hour_rate, x.reasons.class_hour_rate), (x) => below(x.class_hour_rate)],
      [t("subjects"), (x) => x.subjects_taught],
      [t("subject_rate.short"), (x) => pct(x.subject_rate, x.reasons.subject_rate), (x) => below(x.subject_rate)],
    ], d.rooms_below_target, { rowClass: () => "below-row", key: (x) => x.school + "/" + x.room }) : t("none"),
    more > 0 ? el("p", { class: "note" }, more + " " + t("rooms_below.more")) : null);

    const weeks = d.weekly.map((w) => w.week);
    chart("chart-weekly", {
      tooltip: { trigger: "axis" },
      grid: { left: 50, right: 50, bottom: 40, top: 20 },
      xAxis: { type: "category", data: weeks },
      yAxis: { type: "value" },
      series: [{ name: t("smart_lessons"), type: "line", areaStyle: {}, data: d.weekly.map((w) => w.smart_lessons) },
               { name: t("lessons"), type: "line", data: d.weekly.map((w) => w.lessons) }],
    });
    chart("chart-recording", {
      tooltip: { trigger: "axis" },
      grid: { left: 50, right: 50, bottom: 40, top: 20 },
      xAxis: { type: "category", data: weeks },
      yAxis: { type: "value", max: 1, axisLabel: { formatter: (v) => Math.round(v * 100) + "%" } },
      series: [{ name: t("recording_weekly"), type: "bar", data: d.weekly.map((w) => w.recording_room_use),
                 itemStyle: { color: "#8e6cc4" },
                 markLine: { silent: true, symbol: "none", label: { formatter: "100%" }, data: [{ yAxis: 1 }], lineStyle: { type: "dashed" } } }],
    });

    fill("targets", table([
      [t("school"), (s) => schoolLabel(s.school, s.name)],
      [t("live_lessons"), (s) => num(s.live_lessons, s.reasons.live_lessons)],
      [t("target"), () => "≥ " + d.targets.live_lessons],
      [t("quality"), (s) => D.bySubject(s.quality_recordings_by_subject, s.reasons.quality_recordings_by_subject, d.targets.quality_recordings_per_subject)],
      [t("target"), () => "≥ " + d.targets.quality_recordings_per_subject + " / " + t("subject")],
      [t("quality.met"), (s) => num(s.quality_subjects_meeting, s.reasons.quality_recordings_by_subject)],
      [t("homework.met_weekly"), (s) => D.homeworkMet(s, "homework_meeting_weekly")],
      [t("homework.met_term"), (s) => D.homeworkMet(s, "homework_meeting_term")],
      [t("reasons"), (s) => el("span", { class: "reason" }, [s.reasons.live_lessons, s.reasons.quality_recordings_by_subject, s.reasons.homework_by_class_subject].filter(Boolean).map(D.why).join(" · "))],
    ], d.schools));

    fill("offline", d.offline.length ? table([
      [t("school"), (x) => x.school],
      [t("room"), (x) => link("/schools/" + encodeURIComponent(x.school) + "/rooms/" + encodeURIComponent(x.room), x.room)],
      [t("status_ts"), (x) => D.when(x.status_ts)],
      [t("version"), (x) => x.version || "–"],
    ], d.offline, { rowClass: () => "warn-row" }) : t("none"));
    fill("loss", d.data_loss.length ? table([
      [t("school"), (x) => x.school],
      [t("room"), (x) => link("/schools/" + encodeURIComponent(x.school) + "/rooms/" + encodeURIComponent(x.room), x.room)],
      [t("missing"), (x) => x.missing],
      [t("gaps"), (x) => x.gaps],
    ], d.data_loss, { rowClass: () => "warn-row" }) : t("none"));
  }

  D.start(D.base + "/district", render);
})();
