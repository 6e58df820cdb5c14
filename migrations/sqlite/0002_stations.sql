-- Power-monitoring stations (seed 004). A station is a device of type 'power_station' whose channels are
-- points (activePower1..6 = INPUT 1..6, muxPower1..4 = VARIABLE 1..4); the values live in the history
-- partitions like every other value. These tables hold only what a device row cannot: the station's own
-- identity, and per reading when and from where it arrived.

CREATE TABLE stations (
    device_id      INTEGER PRIMARY KEY REFERENCES devices (device_id) ON DELETE CASCADE ON UPDATE CASCADE,
    name           TEXT    NOT NULL UNIQUE,
    uuid           TEXT    NOT NULL UNIQUE,
    scene          TEXT    NOT NULL DEFAULT '',
    websocket_url  TEXT,                             -- NULL: no live monitor for this station
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

-- One row per reading: the values are in the history partitions under the station's channel points, keyed by
-- the same time. Written by the write path in the same transaction as the values (a statement hook).
-- flags: bit i set = channel i (in channel order) was stored with quality UNCERTAIN (an energy counter that
-- went backwards).
CREATE TABLE power_readings (
    device_id   INTEGER NOT NULL REFERENCES stations (device_id) ON DELETE CASCADE ON UPDATE CASCADE,
    ts          INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    source_id   INTEGER NOT NULL,
    flags       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (device_id, ts)
) WITHOUT ROWID;
CREATE INDEX idx_power_readings_ts ON power_readings (ts);
CREATE INDEX idx_power_readings_created ON power_readings (device_id, created_at);

-- Log import checkpoints: how far each file got, committed with each batch, so an interrupted import resumes
-- where it stopped. A file is known by a hash of its first bytes (not its path: logs get moved and renamed).
CREATE TABLE import_checkpoints (
    file_key      TEXT    PRIMARY KEY,
    path          TEXT    NOT NULL,
    byte_offset   INTEGER NOT NULL,
    line_number   INTEGER NOT NULL,
    size          INTEGER NOT NULL,
    imported      INTEGER NOT NULL DEFAULT 0,
    duplicates    INTEGER NOT NULL DEFAULT 0,
    invalid       INTEGER NOT NULL DEFAULT 0,
    flagged       INTEGER NOT NULL DEFAULT 0,
    completed     INTEGER NOT NULL DEFAULT 0,
    updated_at    INTEGER NOT NULL
);
