// The uPlot instance of a chart: time in the site's zone on x, one y scale per unit (axes for the first two),
// a line per point, and in bucketed charts a faint min and max per point with the band between them.

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { site } from "../shared/site.js";
import { formatValue, isDigital, pointLabel } from "./format.js";
import { formatZoned } from "./time.js";

function unitsOf(points) {
  const units = [];
  for (const p of points) {
    const unit = p.point.unitSymbol || "";
    if (!units.includes(unit)) units.push(unit);
  }
  return units;
}

// points: [{point, color}]; kind: "raw" | "buckets"; xRange: () => [start, end] in epoch ms.
export function createPlot({ target, legend, points, kind, size, xRange, onSelect }) {
  const units = unitsOf(points);
  const scales = { x: { time: true, auto: false, range: xRange } };
  units.forEach((unit) => {
    scales[`u:${unit}`] = { auto: true };
  });
  const axes = [{ stroke: "#374151", grid: { stroke: "#e5e7eb" } }];
  units.slice(0, 2).forEach((unit, i) => {
    axes.push({
      scale: `u:${unit}`,
      label: unit || undefined,
      side: i === 0 ? 3 : 1,
      stroke: "#374151",
      grid: { show: i === 0, stroke: "#e5e7eb" },
      size: 60,
    });
  });
  const series = [{ label: "Time", value: (u, v) => (v == null ? "–" : formatZoned(v, site.timezone)) }];
  const bands = [];
  for (const p of points) {
    const name = `${p.point.device?.deviceName ? `${p.point.device.deviceName} · ` : ""}${pointLabel(p.point)}`;
    const scale = `u:${p.point.unitSymbol || ""}`;
    const value = (u, v) => (v == null ? "–" : `${formatValue(v, p.point)} ${p.point.unitSymbol || ""}`.trim());
    const paths = isDigital(p.point) ? uPlot.paths.stepped({ align: 1 }) : undefined;
    series.push({ label: name, scale, stroke: p.color, width: 1.5, value, paths });
    if (kind === "buckets") {
      const faint = `${p.color}66`;
      series.push({ label: `${pointLabel(p.point)} min`, scale, stroke: faint, width: 0.5, value, paths });
      series.push({ label: `${pointLabel(p.point)} max`, scale, stroke: faint, width: 0.5, value, paths });
      const at = series.length - 1;
      bands.push({ series: [at, at - 1], fill: `${p.color}22` });
    }
  }
  return new uPlot(
    {
      ...size,
      ms: 1,
      tzDate: (ts) => uPlot.tzDate(new Date(ts), site.timezone),
      scales,
      axes,
      series,
      bands,
      cursor: { drag: { x: true, y: false, setScale: false } },
      legend: { mount: (_u, element) => legend.replaceChildren(element) },
      hooks: { setSelect: [onSelect] },
    },
    [[], ...series.slice(1).map(() => [])],
    target,
  );
}
