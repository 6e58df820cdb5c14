-- PostgreSQL's twin of migrations/sqlite/0004_rollups.sql: rollups per point and 5-minute, 15-minute, 1-hour, 1-day bucket,
-- in a table partitioned by year like timeseries_data (partitions `rollups_YYYY` are made by
-- t3000gql.storage.rollups with the year's history partition, dropped with it by retention).
CREATE TABLE rollup_years (
    year      integer PRIMARY KEY,
    complete  integer NOT NULL DEFAULT 0   -- 1: every raw row of the year is rolled up
);

CREATE TABLE rollups (
    point_id  bigint  NOT NULL,
    level     integer NOT NULL,            -- bucket width in seconds: 300, 900, 3600, 86400
    bucket    bigint  NOT NULL,            -- the bucket's start, epoch ms (UTC, epoch-aligned)
    n         bigint  NOT NULL,
    total     double precision NOT NULL,
    low       double precision NOT NULL,
    high      double precision NOT NULL,
    first_ts  bigint  NOT NULL,
    first     double precision NOT NULL,
    last_ts   bigint  NOT NULL,
    last      double precision NOT NULL,
    tw_sum    double precision NOT NULL,   -- sum of value x (next ts - ts) over consecutive samples in the bucket
    max_gap   bigint  NOT NULL,            -- the longest such step (ms)
    increase  double precision NOT NULL,   -- counter increase between consecutive samples, resets counted from 0
    PRIMARY KEY (point_id, level, bucket)
) PARTITION BY RANGE (bucket);

-- Deleting points deletes their rollups as well as their history (see 0001: no foreign keys on history).
CREATE OR REPLACE FUNCTION t3000gql_points_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM timeseries_data WHERE point_id IN (SELECT id FROM deleted_points);
    DELETE FROM rollups WHERE point_id IN (SELECT id FROM deleted_points);
    RETURN NULL;
END
$$;
