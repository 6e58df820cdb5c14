// How a point's value reads: digital points as OFF/ON, numbers with at most three significant decimals.

export function isDigital(point) {
  return point.dataType === "BOOLEAN" || point.unitSymbol === "Off/On" || point.unitSymbol === "OFF/ON";
}

export function formatValue(value, point) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  if (point && isDigital(point)) return value >= 0.5 ? "ON" : "OFF";
  const abs = Math.abs(value);
  const digits = abs >= 1000 ? 0 : abs >= 100 ? 1 : abs >= 1 ? 2 : 3;
  return String(Number(value.toFixed(digits)));
}

export function pointKey(ref) {
  return `${ref.deviceId}:${ref.pointType}:${ref.pointNumber}`;
}

export function pointLabel(point) {
  return point.pointName || `${point.pointType} ${point.pointNumber}`;
}
