// Ranges and bucket sizes. A chart never asks for more values than it has pixels: raw samples when the
// range holds at most one per pixel, else buckets at least (range / pixels) wide, from this ladder.

export const PRESETS = [
  { key: "1h", label: "1 h", ms: 3600_000 },
  { key: "24h", label: "24 h", ms: 86_400_000 },
  { key: "7d", label: "7 days", ms: 7 * 86_400_000 },
  { key: "30d", label: "30 days", ms: 30 * 86_400_000 },
  { key: "1y", label: "1 year", ms: 365 * 86_400_000 },
];

const DAY = 86400;
export const BUCKETS = [
  1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, DAY, 2 * DAY, 7 * DAY,
  14 * DAY, 28 * DAY,
];
export const MIN_RANGE_MS = 10_000;

// The smallest ladder width whose buckets over [start, end) number at most `pixels`: epoch-aligned buckets
// touching the range are at most (end - start) / width + 1, so width >= (end - start) / (pixels - 1).
export function bucketSeconds(startMs, endMs, pixels) {
  const wanted = (endMs - startMs) / 1000 / Math.max(1, pixels - 1);
  const found = BUCKETS.find((seconds) => seconds >= wanted);
  return found ?? Math.ceil(wanted / DAY) * DAY;
}

export function bucketCount(startMs, endMs, seconds) {
  const width = seconds * 1000;
  return Math.floor((endMs - 1) / width) - Math.floor(startMs / width) + 1;
}
