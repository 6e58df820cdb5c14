// The device -> point tree with search. Each open device shows its points' current value, unit and age,
// updated live; a value older than CACHE_DURATION_SECONDS is marked stale. Clicking a point charts it.

import { query, subscribe } from "../shared/graphql.js";
import { serverNow, site } from "../shared/site.js";
import { formatValue, isDigital, pointKey, pointLabel } from "./format.js";
import { formatAge, formatZoned } from "./time.js";

const DEVICES = `query TrendTree {
  devices {
    deviceId deviceName deviceType online
    points { deviceId pointType pointNumber pointName unitSymbol dataType isActive }
  }
}`;
const DEVICE_STATUS = `subscription { deviceStatus { deviceId online } }`;
const MAX_OPEN_BY_SEARCH = 25;

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export class PointTree {
  constructor(container, { live, isCharted, onToggle, onStatus }) {
    this.container = container;
    this.live = live;
    this.isCharted = isCharted;
    this.onToggle = onToggle;
    this.onStatus = onStatus;
    this.devices = [];
    this.open = new Set();
    this.search = "";
    this.rows = new Map(); // point key -> {row, value, age}
    this.deviceRows = new Map();

    this.searchInput = element("input", "tree-search");
    this.searchInput.type = "search";
    this.searchInput.setAttribute("aria-label", "search devices and points");
    const search = element("label", "tree-search-label", "Find ");
    search.title = "Search devices and points by name, id, type or unit";
    search.append(this.searchInput);
    this.searchInput.addEventListener("input", () => {
      this.search = this.searchInput.value.trim().toLowerCase();
      this.render();
    });
    this.list = element("div", "tree-list");
    this.list.setAttribute("role", "tree");
    container.append(search, this.list);

    live.onChange((key, entry) => this.showValue(key, entry));
    setInterval(() => this.tickAges(), 1000);
  }

  async load() {
    this.list.replaceChildren(element("p", "tree-note", "Loading devices…"));
    try {
      const data = await query(DEVICES);
      this.devices = data.devices;
    } catch (error) {
      this.list.replaceChildren(element("p", "tree-note error", `Devices could not be loaded: ${error.message}`));
      this.onStatus?.(error);
      return;
    }
    if (this.devices.length && this.open.size === 0) this.open.add(this.devices[0].deviceId);
    subscribe(DEVICE_STATUS, {}, { onData: (data) => this.showOnline(data.deviceStatus) });
    this.render();
  }

  pointByKey(key) {
    for (const device of this.devices) {
      for (const point of device.points) if (pointKey(point) === key) return { ...point, device };
    }
    return null;
  }

  matches(device) {
    if (!this.search) return { device: true, points: device.points };
    const deviceHit = `${device.deviceName} ${device.deviceId} ${device.deviceType}`.toLowerCase().includes(this.search);
    const points = device.points.filter((point) =>
      `${pointLabel(point)} ${point.pointType} ${point.pointNumber} ${point.unitSymbol || ""}`
        .toLowerCase()
        .includes(this.search),
    );
    return { device: deviceHit, points: deviceHit ? device.points : points };
  }

  render() {
    this.rows.clear();
    this.deviceRows.clear();
    const fragment = document.createDocumentFragment();
    const watched = [];
    let openedBySearch = 0;
    for (const device of this.devices) {
      const { device: deviceHit, points } = this.matches(device);
      if (!deviceHit && points.length === 0) continue;
      let isOpen = this.open.has(device.deviceId);
      if (this.search && !deviceHit && openedBySearch < MAX_OPEN_BY_SEARCH) {
        isOpen = true;
        openedBySearch += 1;
      }
      fragment.append(this.deviceRow(device, isOpen));
      if (!isOpen) continue;
      watched.push(device.deviceId);
      const group = element("div", "tree-points");
      group.setAttribute("role", "group");
      for (const point of points) group.append(this.pointRow(point));
      if (points.length === 0) group.append(element("p", "tree-note", "No points"));
      fragment.append(group);
    }
    if (!fragment.childNodes.length) {
      fragment.append(element("p", "tree-note", this.search ? "Nothing matches." : "No devices yet."));
    }
    this.list.replaceChildren(fragment);
    this.live.watchDevices(watched);
    for (const [key, entry] of this.live.values) this.showValue(key, entry);
  }

  deviceRow(device, isOpen) {
    const row = element("button", "tree-device");
    row.type = "button";
    row.dataset.device = String(device.deviceId);
    row.setAttribute("role", "treeitem");
    row.setAttribute("aria-expanded", String(isOpen));
    const status = element("span", "status-dot");
    this.setOnline(status, device.online);
    row.append(
      element("span", "caret", isOpen ? "▾" : "▸"),
      status,
      element("span", "device-name", device.deviceName),
      element("span", "device-id", String(device.deviceId)),
    );
    row.addEventListener("click", () => {
      if (this.open.has(device.deviceId)) this.open.delete(device.deviceId);
      else this.open.add(device.deviceId);
      this.render();
    });
    this.deviceRows.set(device.deviceId, status);
    return row;
  }

  pointRow(point) {
    const key = pointKey(point);
    const row = element("label", "tree-point");
    row.dataset.point = key;
    row.setAttribute("role", "treeitem");
    row.classList.toggle("inactive", !point.isActive);
    const box = element("input");
    box.type = "checkbox";
    box.checked = this.isCharted(key);
    box.addEventListener("change", () => this.onToggle(key, box.checked));
    const value = element("span", "point-value", "–");
    const unit = element("span", "point-unit", isDigital(point) ? "" : point.unitSymbol || "");
    const age = element("span", "point-age", "");
    row.append(box, element("span", "point-name", pointLabel(point)), value, unit, age);
    row.title = `${point.pointType} ${point.pointNumber}`;
    this.rows.set(key, { row, value, age, point, box });
    return row;
  }

  setCharted(key, charted) {
    const shown = this.rows.get(key);
    if (shown) shown.box.checked = charted;
  }

  showValue(key, entry) {
    const shown = this.rows.get(key);
    if (!shown) return;
    shown.value.textContent = formatValue(entry.value, shown.point);
    shown.value.dataset.value = String(entry.value);
    shown.value.dataset.ts = String(entry.ts);
    shown.value.title = `${formatZoned(entry.ts, site.timezone)} (${site.timezone}), from ${entry.source}`;
    shown.row.classList.add("has-value");
    shown.row.classList.remove("flash");
    void shown.row.offsetWidth; // restart the highlight animation
    shown.row.classList.add("flash");
    this.showAge(shown, entry);
  }

  showAge(shown, entry) {
    const age = serverNow() - entry.ts;
    shown.age.textContent = formatAge(age);
    const stale = age > site.cacheDurationSeconds * 1000;
    shown.row.classList.toggle("stale", stale);
    shown.age.title = stale ? `stale: older than ${site.cacheDurationSeconds} s` : "fresh";
  }

  tickAges() {
    for (const [key, shown] of this.rows) {
      const entry = this.live.get(key);
      if (entry) this.showAge(shown, entry);
    }
  }

  setOnline(dot, online) {
    dot.classList.toggle("online", online === true);
    dot.classList.toggle("offline", online === false);
    dot.title = online === true ? "online" : online === false ? "offline" : "not contacted yet";
  }

  showOnline(change) {
    const device = this.devices.find((d) => d.deviceId === change.deviceId);
    if (device) device.online = change.online;
    const dot = this.deviceRows.get(change.deviceId);
    if (dot) this.setOnline(dot, change.online);
  }
}
