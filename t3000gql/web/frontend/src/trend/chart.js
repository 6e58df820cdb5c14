// The trend chart (uPlot) of one or several points over a range.
//
// It never asks for more values than it has pixels: first raw samples with `limit` = plot width; if any point
// has more, buckets of bucketSeconds(range, pixels) with AVG as the line and MIN..MAX as a band. Zooming
// (drag to select, mouse wheel) and panning load again, so the bucket size follows the zoom. While the range
// ends now ("following"), it slides with the clock and new values from the `pointValues` subscription append
// at the right edge (raw), or the last buckets are read again (bucketed). The container's data-* attributes
// say what is shown (state, interval, samples per point, range, pixels; live once the subscription answered)
// for people and tests alike.

import uPlot from "uplot";
import { query, subscribe } from "../shared/graphql.js";
import { serverNow } from "../shared/site.js";
import { pointKey } from "./format.js";
import { createPlot } from "./plot.js";
import { MIN_RANGE_MS, bucketSeconds } from "./range.js";
import { formatSeconds } from "./time.js";

const COLORS = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];
export const MAX_CHARTED = COLORS.length;

const RAW = `query ChartRaw($points: [PointRefInput!]!, $start: DateTime!, $end: DateTime!, $limit: Int!) {
  series(points: $points, start: $start, end: $end, limit: $limit) { truncated columns { timestamps values } }
}`;
const BUCKETS = `query ChartBuckets($points: [PointRefInput!]!, $start: DateTime!, $end: DateTime!, $interval: Int!) {
  avg: series(points: $points, start: $start, end: $end, intervalSeconds: $interval, aggregate: AVG) {
    columns { timestamps values }
  }
  min: series(points: $points, start: $start, end: $end, intervalSeconds: $interval, aggregate: MIN) {
    columns { values }
  }
  max: series(points: $points, start: $start, end: $end, intervalSeconds: $interval, aggregate: MAX) {
    columns { values }
  }
}`;
// With the current values first: their arrival says the subscription is in place (no change after it is
// missed), and a current value newer than the loaded samples belongs at the right edge anyway.
const LIVE = `subscription ChartLive($points: [PointRefInput!]!) {
  pointValues(points: $points) { deviceId pointType pointNumber value timestamp }
}`;

const iso = (ms) => new Date(ms).toISOString();
const empty = () => ({ ts: [], avg: [], min: [], max: [] });
const lastOf = (list) => (list.length ? list[list.length - 1] : undefined);

export class TrendChart {
  constructor(container, { onRangeChange, onError }) {
    this.el = container;
    this.canvas = container.querySelector(".chart-canvas");
    this.info = container.querySelector(".chart-info");
    this.legend = container.querySelector(".chart-legend");
    this.onRangeChange = onRangeChange;
    this.onError = onError;
    this.points = []; // {key, ref, point, color}
    this.range = { start: 0, end: 0, follow: false, presetMs: null };
    this.mode = null; // "raw" or the bucket width in seconds
    this.data = new Map();
    this.seq = 0;
    this.plot = null;
    this.structure = "";
    this.pixelsUsed = 0;
    this.stopLive = null;
    this.loadTimer = null;
    this.tailTimer = null;
    this.setState("empty");
    new ResizeObserver(() => this.resize()).observe(this.canvas);
    this.canvas.addEventListener("wheel", (event) => this.onWheel(event), { passive: false });
    this.canvas.addEventListener("dblclick", () => this.resetZoom());
    setInterval(() => this.slide(), 1000);
  }

  // --- what is charted -----------------------------------------------------------------------------------

  setPoints(points) {
    this.points = points.map((point, i) => ({
      key: pointKey(point),
      ref: { deviceId: point.deviceId, pointType: point.pointType, pointNumber: point.pointNumber },
      point,
      color: COLORS[i % COLORS.length],
    }));
    this.stopLive?.();
    this.stopLive = null;
    delete this.el.dataset.live;
    if (this.points.length) {
      this.stopLive = subscribe(
        LIVE,
        { points: this.refs() },
        { onData: (data) => this.onLive(data.pointValues), onError: (e) => this.onError?.(e) },
      );
    }
    this.mode = null;
    this.data = new Map();
    this.load();
  }

  refs() {
    return this.points.map((p) => p.ref);
  }

  // --- the range -----------------------------------------------------------------------------------------

  setRange(start, end, { presetMs = null, follow = null } = {}) {
    let span = Math.max(MIN_RANGE_MS, Math.round(end - start));
    const now = serverNow();
    let last = Math.round(end);
    const following = follow ?? (presetMs !== null || last >= now - Math.max(5000, span * 0.01));
    if (following || last > now) last = now;
    if (presetMs !== null) span = presetMs;
    this.range = { start: last - span, end: last, follow: following, presetMs };
    this.onRangeChange?.(this.range);
    if (this.plot) this.plot.setScale("x", { min: this.range.start, max: this.range.end });
    this.scheduleLoad(presetMs !== null ? 0 : 150);
  }

  zoom(factor, centerMs = (this.range.start + this.range.end) / 2) {
    const { start, end } = this.range;
    const left = centerMs - (centerMs - start) * factor;
    const right = centerMs + (end - centerMs) * factor;
    this.setRange(left, right);
  }

  pan(fraction) {
    const span = this.range.end - this.range.start;
    const shift = span * fraction;
    this.setRange(this.range.start + shift, this.range.end + shift);
  }

  resetZoom() {
    const span = this.range.presetMs ?? this.range.end - this.range.start;
    const now = serverNow();
    this.setRange(now - span, now, { presetMs: this.range.presetMs, follow: true });
  }

  onWheel(event) {
    if (!this.plot || !this.points.length) return;
    event.preventDefault();
    const x = event.clientX - this.plot.over.getBoundingClientRect().left;
    const center = this.plot.posToVal(Math.min(Math.max(x, 0), this.plot.over.clientWidth), "x");
    this.zoom(event.deltaY < 0 ? 0.75 : 1 / 0.75, center);
  }

  onSelect(u) {
    if (u.select.width < 4) return;
    const start = u.posToVal(u.select.left, "x");
    const end = u.posToVal(u.select.left + u.select.width, "x");
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    this.setRange(start, end);
  }

  // --- loading -------------------------------------------------------------------------------------------

  pixels() {
    if (this.plot) return Math.max(20, Math.floor(this.plot.bbox.width / uPlot.pxRatio));
    return Math.max(20, this.canvas.clientWidth - 80);
  }

  scheduleLoad(delay) {
    clearTimeout(this.loadTimer);
    this.loadTimer = setTimeout(() => this.load(), delay);
  }

  async load() {
    clearTimeout(this.loadTimer);
    const seq = ++this.seq;
    if (!this.points.length) {
      this.destroyPlot();
      this.setState("empty");
      this.info.textContent = "Tick points in the tree to chart them.";
      return;
    }
    if (this.range.end <= this.range.start) return;
    this.ensurePlot(this.mode === "raw" || this.mode === null ? "raw" : "buckets");
    this.setState("loading");
    const { start, end } = this.range;
    const pixels = this.pixels();
    const base = { points: this.refs(), start: iso(start), end: iso(end) };
    try {
      const raw = await query(RAW, { ...base, limit: pixels });
      if (seq !== this.seq) return;
      const data = new Map();
      let mode = "raw";
      if (!raw.series.some((s) => s && s.truncated)) {
        this.points.forEach((p, i) => {
          const columns = raw.series[i]?.columns;
          data.set(p.key, { ...empty(), ts: columns?.timestamps || [], avg: columns?.values || [] });
        });
      } else {
        mode = bucketSeconds(start, end, pixels);
        const got = await query(BUCKETS, { ...base, interval: mode });
        if (seq !== this.seq) return;
        this.points.forEach((p, i) => {
          data.set(p.key, {
            ts: got.avg[i]?.columns.timestamps || [],
            avg: got.avg[i]?.columns.values || [],
            min: got.min[i]?.columns.values || [],
            max: got.max[i]?.columns.values || [],
          });
        });
      }
      this.mode = mode;
      this.data = data;
      this.pixelsUsed = pixels;
      this.draw();
      if (this.pixels() < pixels) {
        // The axes took their room only once there was data: ask again for the narrower plot.
        this.load();
        return;
      }
      this.setState("ready");
    } catch (error) {
      if (seq !== this.seq) return;
      this.setState("error");
      this.info.textContent = `The chart could not be loaded: ${error.message}`;
      this.onError?.(error);
    }
  }

  // New values at the right edge while following now.
  onLive(sample) {
    this.el.dataset.live = "on";
    if (!this.range.follow || this.mode === null) return;
    const key = pointKey(sample);
    const series = this.data.get(key);
    if (!series) return;
    const ts = Date.parse(sample.timestamp);
    if (ts < this.range.start) return;
    if (this.mode !== "raw") {
      this.scheduleTail();
      return;
    }
    const last = lastOf(series.ts);
    if (last === undefined || ts > last) {
      series.ts.push(ts);
      series.avg.push(sample.value);
    } else if (ts === last) {
      series.avg[series.avg.length - 1] = sample.value;
    } else {
      return; // a correction of an older sample shows at the next load
    }
    if (series.ts.length > this.pixelsUsed) this.scheduleLoad(0); // now denser than the pixels: buckets
    else this.draw();
  }

  scheduleTail() {
    if (this.tailTimer !== null) return;
    this.tailTimer = setTimeout(() => {
      this.tailTimer = null;
      this.refreshTail();
    }, 1000);
  }

  // Reads again the buckets from the oldest "last bucket" of the charted points to now.
  async refreshTail() {
    const seq = this.seq;
    const width = this.mode * 1000;
    const lasts = [...this.data.values()].map((s) => lastOf(s.ts) ?? this.range.start);
    const from = Math.max(this.range.start, Math.floor(Math.min(...lasts) / width) * width);
    const to = Math.max(this.range.end, serverNow()) + 1;
    if (to <= from) return;
    const vars = { points: this.refs(), start: iso(from), end: iso(to), interval: this.mode };
    let got;
    try {
      got = await query(BUCKETS, vars);
    } catch (error) {
      this.onError?.(error);
      return;
    }
    if (seq !== this.seq || !this.range.follow) return;
    this.points.forEach((p, i) => {
      const series = this.data.get(p.key);
      let keep = series.ts.length;
      while (keep > 0 && series.ts[keep - 1] >= from) keep -= 1;
      for (const name of ["ts", "avg", "min", "max"]) series[name].length = keep;
      const columns = got.avg[i]?.columns;
      if (!columns) return;
      series.ts.push(...columns.timestamps);
      series.avg.push(...columns.values);
      series.min.push(...got.min[i].columns.values);
      series.max.push(...got.max[i].columns.values);
    });
    this.draw();
  }

  // While following, the range moves with the clock; what falls off the left edge is dropped.
  slide() {
    if (!this.range.follow || !this.plot) return;
    const now = serverNow();
    const delta = now - this.range.end;
    if (delta < 500) return;
    this.range = { ...this.range, start: this.range.start + delta, end: now };
    const width = this.mode === "raw" || this.mode === null ? 1 : this.mode * 1000;
    const keepFrom = Math.floor(this.range.start / width) * width;
    for (const series of this.data.values()) {
      let drop = 0;
      while (drop < series.ts.length && series.ts[drop] < keepFrom) drop += 1;
      if (drop) for (const name of ["ts", "avg", "min", "max"]) series[name].splice(0, drop);
    }
    this.onRangeChange?.(this.range);
    this.draw();
  }

  // --- drawing -------------------------------------------------------------------------------------------

  ensurePlot(kind) {
    const structure = `${kind}|${this.points.map((p) => p.key).join(",")}`;
    if (this.plot && structure === this.structure) return;
    this.destroyPlot();
    this.structure = structure;
    this.plot = createPlot({
      target: this.canvas,
      legend: this.legend,
      points: this.points,
      kind,
      size: this.size(),
      xRange: () => [this.range.start, this.range.end],
      onSelect: (u) => this.onSelect(u),
    });
  }

  destroyPlot() {
    if (this.plot) {
      this.plot.destroy();
      this.plot = null;
      this.structure = "";
      this.legend.replaceChildren();
    }
  }

  size() {
    return { width: Math.max(200, this.canvas.clientWidth), height: Math.max(200, this.canvas.clientHeight) };
  }

  resize() {
    if (!this.plot) return;
    this.plot.setSize(this.size());
    const pixels = this.pixels();
    if (this.pixelsUsed && Math.abs(pixels - this.pixelsUsed) / this.pixelsUsed > 0.2) this.scheduleLoad(200);
  }

  draw() {
    const kind = this.mode === "raw" ? "raw" : "buckets";
    this.ensurePlot(kind);
    const tables = this.points.map((p) => {
      const s = this.data.get(p.key) || empty();
      return kind === "raw" ? [s.ts, s.avg] : [s.ts, s.avg, s.min, s.max];
    });
    const aligned = tables.length === 1 ? tables[0] : uPlot.join(tables);
    this.plot.setData(aligned);
    const counts = this.points.map((p) => (this.data.get(p.key)?.ts.length ?? 0));
    this.el.dataset.interval = this.mode === "raw" ? "raw" : String(this.mode);
    this.el.dataset.samples = counts.join(",");
    this.el.dataset.start = String(this.range.start);
    this.el.dataset.end = String(this.range.end);
    this.el.dataset.pixels = String(this.pixelsUsed);
    const each = counts.join(" / ");
    this.info.textContent =
      this.mode === "raw"
        ? `Raw samples (${each})`
        : `${formatSeconds(this.mode)} buckets: average line, min–max band (${each} buckets)`;
  }

  setState(state) {
    this.el.dataset.state = state;
  }

  // --- export --------------------------------------------------------------------------------------------

  // /export.csv for exactly what is shown: the same points, range and buckets (AVG, MIN, MAX).
  exportUrl() {
    const params = new URLSearchParams();
    params.set("points", this.points.map((p) => pointKey(p.ref)).join(","));
    params.set("start", String(this.range.start));
    params.set("end", String(this.range.end));
    if (this.mode !== "raw" && this.mode !== null) {
      params.set("interval", String(this.mode));
      params.set("aggregate", "AVG,MIN,MAX");
    }
    return `/export.csv?${params}`;
  }
}
