-- Rollups (docs/architecture.md, "Rollups"): per point, per 5-minute, 15-minute, 1-hour and 1-day bucket, the count, sum,
-- min, max, first and last (with their times), the time-weighted sum, the longest step between samples and the
-- counter increase. They live in yearly tables `rollups_YYYY` beside the history's `timeseries_data_YYYY`
-- (created by t3000gql.storage.rollups with the year's history table, dropped with it by retention), and are
-- kept up to date by the write path in the transaction of the raw rows.
--
-- A year's rollups answer reads only when they hold all of that year's history: a year whose history existed
-- before this migration (or came in by copy-db) is marked incomplete until `t3000gql rebuild-rollups` fills it;
-- until then aggregates of that year scan the raw rows, as before.
CREATE TABLE rollup_years (
    year      INTEGER PRIMARY KEY,
    complete  INTEGER NOT NULL DEFAULT 0   -- 1: every raw row of the year is rolled up
);
