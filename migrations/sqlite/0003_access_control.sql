-- Access control and safe commanding (docs/security.md): API tokens, a fuller audit trail, and the rules that
-- guard writes to hardware.

-- API tokens. The secret itself is never stored: only its SHA-256 (tokens are 256 random bits, so a fast
-- hash is as good as a slow one). A revoked token keeps its row (the audit trail names it); a name is unique
-- among the tokens not revoked. changed_seq grows with every create and revoke, so a process sees that
-- another one changed the tokens with one indexed read.
CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL,
    role          TEXT    NOT NULL,           -- viewer | ingest | operator | admin
    token_hash    TEXT    NOT NULL UNIQUE,    -- hex SHA-256 of the token
    created_at    INTEGER NOT NULL,
    created_by    TEXT    NOT NULL,
    expires_at    INTEGER,                    -- NULL: never
    last_used_at  INTEGER,
    revoked_at    INTEGER,
    changed_seq   INTEGER NOT NULL
);
CREATE UNIQUE INDEX idx_api_tokens_name ON api_tokens (name) WHERE revoked_at IS NULL;
CREATE INDEX idx_api_tokens_changed ON api_tokens (changed_seq);

-- The audit trail says from where (client address), how it ended (a command to a device is recorded as
-- pending before it is sent, then done or failed) and the details that do not fit the value columns (JSON:
-- fields changed, samples deleted, the BACnet priority, the device's error).
ALTER TABLE audit_log ADD COLUMN client TEXT;
ALTER TABLE audit_log ADD COLUMN outcome TEXT NOT NULL DEFAULT 'done';   -- done | pending | failed
ALTER TABLE audit_log ADD COLUMN detail TEXT;
CREATE INDEX idx_audit_log_device ON audit_log (device_id, id);
CREATE INDEX idx_audit_log_user ON audit_log (user_id, id);

-- Which points may be commanded, and within which limits. Outputs and variables are writable by default,
-- inputs (and a power station's channels, whose values the station sends) are not.
ALTER TABLE monitoring_points ADD COLUMN writable INTEGER NOT NULL DEFAULT 0;
ALTER TABLE monitoring_points ADD COLUMN min_value REAL;
ALTER TABLE monitoring_points ADD COLUMN max_value REAL;
UPDATE monitoring_points SET writable = 1
 WHERE point_type IN (0, 2)
   AND device_id NOT IN (SELECT device_id FROM devices WHERE device_type = 'power_station');
