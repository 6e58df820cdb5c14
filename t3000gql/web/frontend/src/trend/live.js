// Current values of the points on screen, kept live by `pointValues` subscriptions (one per device that is
// open in the tree; graphql-ws multiplexes them on one WebSocket): first the cached values, then each change.

import { subscribe } from "../shared/graphql.js";
import { pointKey } from "./format.js";

const POINT_VALUES = `subscription DeviceValues($deviceId: Int!) {
  pointValues(deviceId: $deviceId) { deviceId pointType pointNumber value timestamp source }
}`;

export class LiveValues {
  constructor({ onError } = {}) {
    this.values = new Map(); // point key -> {value, ts, source}
    this.devices = new Map(); // deviceId -> unsubscribe
    this.listeners = new Set();
    this.onError = onError;
  }

  get(key) {
    return this.values.get(key);
  }

  onChange(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  watchDevices(deviceIds) {
    const wanted = new Set(deviceIds);
    for (const [deviceId, stop] of this.devices) {
      if (!wanted.has(deviceId)) {
        stop();
        this.devices.delete(deviceId);
      }
    }
    for (const deviceId of wanted) {
      if (this.devices.has(deviceId)) continue;
      const stop = subscribe(
        POINT_VALUES,
        { deviceId },
        { onData: (data) => this.take(data.pointValues), onError: (error) => this.onError?.(error) },
      );
      this.devices.set(deviceId, stop);
    }
  }

  take(sample) {
    const key = pointKey(sample);
    const ts = Date.parse(sample.timestamp);
    const known = this.values.get(key);
    if (known && known.ts > ts) return; // an older value arriving late does not replace a newer one
    const entry = { value: sample.value, ts, source: sample.source };
    this.values.set(key, entry);
    for (const listener of this.listeners) listener(key, entry);
  }
}
