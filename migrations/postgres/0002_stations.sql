-- PostgreSQL's twin of migrations/sqlite/0002_stations.sql: power-monitoring stations (seed 004). A station is a
-- device of type 'power_station' whose channels are points; the values live in the history partitions like
-- every other value. These tables hold only what a device row cannot.

CREATE TABLE stations (
    device_id      bigint  PRIMARY KEY REFERENCES devices (device_id) ON DELETE CASCADE ON UPDATE CASCADE,
    name           text    COLLATE "C" NOT NULL UNIQUE,
    uuid           text    NOT NULL UNIQUE,
    scene          text    NOT NULL DEFAULT '',
    websocket_url  text,                             -- NULL: no live monitor for this station
    created_at     bigint  NOT NULL,
    updated_at     bigint  NOT NULL
);

-- One row per reading (its values are in the history partitions under the station's channel points, keyed by
-- the same time). flags: bit i set = channel i was stored with quality UNCERTAIN.
CREATE TABLE power_readings (
    device_id   bigint  NOT NULL REFERENCES stations (device_id) ON DELETE CASCADE ON UPDATE CASCADE,
    ts          bigint  NOT NULL,
    created_at  bigint  NOT NULL,
    source_id   bigint  NOT NULL,
    flags       integer NOT NULL DEFAULT 0,
    PRIMARY KEY (device_id, ts)
);
CREATE INDEX idx_power_readings_ts ON power_readings (ts);
CREATE INDEX idx_power_readings_created ON power_readings (device_id, created_at);

-- Log import checkpoints: how far each file got, committed with each batch.
CREATE TABLE import_checkpoints (
    file_key      text    PRIMARY KEY,
    path          text    NOT NULL,
    byte_offset   bigint  NOT NULL,
    line_number   bigint  NOT NULL,
    size          bigint  NOT NULL,
    imported      bigint  NOT NULL DEFAULT 0,
    duplicates    bigint  NOT NULL DEFAULT 0,
    invalid       bigint  NOT NULL DEFAULT 0,
    flagged       bigint  NOT NULL DEFAULT 0,
    completed     integer NOT NULL DEFAULT 0,
    updated_at    bigint  NOT NULL
);
