-- Switchboard schema, version 2: call recordings, their retention, and the readiness probe's row.
ALTER TABLE workflow_runs ADD COLUMN recording_path TEXT;  -- file name under <db dir>/recordings/
ALTER TABLE workflow_runs ADD COLUMN recording_s REAL;    -- its length in seconds

-- NULL keeps recordings until their run is deleted.
ALTER TABLE organizations ADD COLUMN recording_retention_days INTEGER
    CHECK (recording_retention_days IS NULL OR recording_retention_days >= 1);

CREATE INDEX workflow_runs_recording ON workflow_runs(recording_path) WHERE recording_path IS NOT NULL;

-- /readyz proves the database takes writes by updating this one row.
CREATE TABLE heartbeat (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at TEXT NOT NULL
);
