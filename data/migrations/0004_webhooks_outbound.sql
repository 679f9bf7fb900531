-- Switchboard schema, version 4: the post-call webhook delivery log, and the organisation's allowed
-- hosts for requests to its own systems (tools, pre-call lookups, webhooks).

-- JSON list of host names, *.wildcards, addresses and networks (validated by agent.hosts); private,
-- loopback and link-local addresses are called only when listed. only_listed = 1: nothing else at all.
ALTER TABLE organizations ADD COLUMN outbound_allowed_hosts TEXT NOT NULL DEFAULT '[]';
ALTER TABLE organizations ADD COLUMN outbound_only_listed INTEGER NOT NULL DEFAULT 0
    CHECK (outbound_only_listed IN (0, 1));

-- One row per (finished call, webhook target). Times are UTC text like the rest of the schema
-- (2026-03-05T10:00:00.000Z), written from the worker's clock so tests can drive it.
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    run_id INTEGER REFERENCES workflow_runs(id) ON DELETE CASCADE,
    workflow_id INTEGER REFERENCES workflows(id) ON DELETE SET NULL,
    event TEXT NOT NULL DEFAULT 'call.ended',
    url TEXT NOT NULL,
    body TEXT NOT NULL,                   -- the exact JSON sent (signed anew on each attempt)
    secret_enc TEXT,                      -- encrypted; cleared once the delivery is final
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,                 -- NULL once final
    last_status_code INTEGER,
    last_error_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- The worker's question: what is due now (pending only).
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
-- A call's page and API: the deliveries of one run.
CREATE INDEX webhook_deliveries_run ON webhook_deliveries(run_id, id);
CREATE INDEX webhook_deliveries_org ON webhook_deliveries(organization_id, id);

CREATE TABLE webhook_attempts (
    id INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    at TEXT NOT NULL,
    status_code INTEGER,                  -- NULL: no HTTP answer (see error_id)
    error_id TEXT,
    message TEXT NOT NULL DEFAULT '',
    duration_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts(delivery_id, id);
