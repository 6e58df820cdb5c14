// The trend viewer at /: the device -> point tree on the left, the chart of the ticked points on the right,
// a range bar (presets, custom range in the site's time zone, pan and zoom) and CSV export of what is shown.

import "./trend.css";
import { authHeaders, mountTokenControl } from "../shared/token.js";
import { serverNow, site } from "../shared/site.js";
import { MAX_CHARTED, TrendChart } from "./chart.js";
import { LiveValues } from "./live.js";
import { PRESETS } from "./range.js";
import { epochToZonedInput, zonedToEpoch } from "./time.js";
import { PointTree } from "./tree.js";

const STORAGE = "t3000gql.trend";
const status = document.getElementById("status");
const charted = [];

function showError(error) {
  status.textContent = error ? String(error.message || error) : "";
  status.classList.toggle("error", Boolean(error));
}

function remember() {
  try {
    const presetMs = chart.range.presetMs;
    localStorage.setItem(STORAGE, JSON.stringify({ points: charted, presetMs }));
  } catch {
    // storage refused: nothing is remembered
  }
}

function recalled() {
  try {
    return JSON.parse(localStorage.getItem(STORAGE) || "{}");
  } catch {
    return {};
  }
}

// --- range bar --------------------------------------------------------------------------------------------

const bar = document.getElementById("range-bar");
const presetButtons = PRESETS.map((preset) => {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = preset.label;
  button.dataset.preset = preset.key;
  button.addEventListener("click", () => {
    const now = serverNow();
    chart.setRange(now - preset.ms, now, { presetMs: preset.ms });
    remember();
  });
  return button;
});
bar.querySelector(".presets").append(...presetButtons);

const customForm = document.getElementById("custom-range");
const startInput = customForm.elements.start;
const endInput = customForm.elements.end;
customForm.querySelector(".tz").textContent = site.timezone;
customForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const start = zonedToEpoch(startInput.value, site.timezone);
  const end = zonedToEpoch(endInput.value, site.timezone);
  if (!Number.isFinite(start) || !Number.isFinite(end) || end <= start) {
    showError(new Error("Custom range: give a start before the end."));
    return;
  }
  showError(null);
  chart.setRange(start, end);
});
bar.querySelector("[data-action=back]").addEventListener("click", () => chart.pan(-0.5));
bar.querySelector("[data-action=forward]").addEventListener("click", () => chart.pan(0.5));
bar.querySelector("[data-action=zoom-in]").addEventListener("click", () => chart.zoom(0.5));
bar.querySelector("[data-action=zoom-out]").addEventListener("click", () => chart.zoom(2));
bar.querySelector("[data-action=now]").addEventListener("click", () => chart.resetZoom());

function showRange(range) {
  for (const button of presetButtons) {
    const preset = PRESETS.find((p) => p.key === button.dataset.preset);
    button.classList.toggle("active", range.presetMs === preset.ms && range.follow);
  }
  if (!customForm.contains(document.activeElement)) {
    startInput.value = epochToZonedInput(range.start, site.timezone);
    endInput.value = epochToZonedInput(range.end, site.timezone);
  }
  document.getElementById("live-badge").hidden = !range.follow;
}

// --- export -----------------------------------------------------------------------------------------------

document.getElementById("export").addEventListener("click", async () => {
  if (!charted.length) return;
  const url = chart.exportUrl();
  try {
    const response = await fetch(url, { headers: authHeaders() });
    if (!response.ok) throw new Error(await response.text());
    const blob = await response.blob();
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `t3000gql-trend-${epochToZonedInput(chart.range.start, site.timezone).replace(/[:T]/g, "")}.csv`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  } catch (error) {
    showError(error);
  }
});

// --- tree and chart ---------------------------------------------------------------------------------------

const live = new LiveValues({ onError: showError });
const chart = new TrendChart(document.getElementById("chart"), { onRangeChange: showRange, onError: showError });
const tree = new PointTree(document.getElementById("tree"), {
  live,
  isCharted: (key) => charted.includes(key),
  onToggle: (key, on) => {
    const at = charted.indexOf(key);
    if (on && at < 0) {
      if (charted.length >= MAX_CHARTED) {
        showError(new Error(`A chart holds at most ${MAX_CHARTED} points.`));
        tree.setCharted(key, false);
        return;
      }
      charted.push(key);
    } else if (!on && at >= 0) {
      charted.splice(at, 1);
    }
    showError(null);
    chart.setPoints(charted.map((k) => tree.pointByKey(k)).filter(Boolean));
    remember();
  },
  onStatus: showError,
});
mountTokenControl(document.getElementById("token"));

const saved = recalled();
const presetMs = PRESETS.some((p) => p.ms === saved.presetMs) ? saved.presetMs : PRESETS[1].ms;
const now = serverNow();
chart.setRange(now - presetMs, now, { presetMs });
tree.load().then(() => {
  const known = (saved.points || []).filter((key) => tree.pointByKey(key));
  charted.push(...known.slice(0, MAX_CHARTED));
  tree.render();
  chart.setPoints(charted.map((k) => tree.pointByKey(k)));
});
