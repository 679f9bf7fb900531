-- Switchboard schema, version 1.
CREATE TABLE organizations (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    max_concurrent_calls INTEGER NOT NULL DEFAULT 10 CHECK (max_concurrent_calls >= 0),
    monthly_minutes INTEGER CHECK (monthly_minutes IS NULL OR monthly_minutes >= 0),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    is_admin INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX users_org ON users(organization_id);

CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    prefix TEXT NOT NULL UNIQUE,
    key_hash TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    last_used_at TEXT
);

CREATE TABLE workflows (
    id INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    definition TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX workflows_org ON workflows(organization_id);

CREATE TABLE telephony_configurations (
    id INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    provider TEXT NOT NULL DEFAULT 'ari',
    ari_endpoint_url TEXT NOT NULL,
    stasis_app_name TEXT NOT NULL,
    ari_username TEXT,
    app_password_enc TEXT NOT NULL,
    websocket_client_name TEXT NOT NULL,
    from_extensions TEXT NOT NULL DEFAULT '[]',
    dial_template TEXT NOT NULL DEFAULT 'PJSIP/{number}',
    transfer_context TEXT NOT NULL DEFAULT 'from-internal',
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    -- Asterisk hands a Stasis app to the newest connection: two links for one app would fight.
    UNIQUE (ari_endpoint_url, stasis_app_name)
);
CREATE INDEX telephony_configurations_org ON telephony_configurations(organization_id);

CREATE TABLE phone_numbers (
    id INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    telephony_configuration_id INTEGER NOT NULL
        REFERENCES telephony_configurations(id) ON DELETE CASCADE,
    address TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    inbound_workflow_id INTEGER REFERENCES workflows(id) ON DELETE RESTRICT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (telephony_configuration_id, address)
);
CREATE INDEX phone_numbers_workflow ON phone_numbers(inbound_workflow_id);

CREATE TABLE workflow_runs (
    id INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    workflow_id INTEGER REFERENCES workflows(id) ON DELETE SET NULL,
    telephony_configuration_id INTEGER REFERENCES telephony_configurations(id) ON DELETE SET NULL,
    phone_number_id INTEGER REFERENCES phone_numbers(id) ON DELETE SET NULL,
    direction TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound', 'test')),
    status TEXT NOT NULL,
    reason TEXT,
    error_id TEXT,
    call_id TEXT,
    caller_number TEXT,
    called_number TEXT,
    context TEXT NOT NULL DEFAULT '{}',
    hangup_cause TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    answered_at TEXT,
    ended_at TEXT,
    duration_s REAL
);
CREATE INDEX workflow_runs_org_created ON workflow_runs(organization_id, created_at);
CREATE INDEX workflow_runs_status ON workflow_runs(status);
CREATE INDEX workflow_runs_call ON workflow_runs(call_id);

CREATE TABLE run_events (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES workflow_runs(id) ON DELETE CASCADE,
    at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    kind TEXT NOT NULL,
    role TEXT,
    text TEXT,
    data TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX run_events_run ON run_events(run_id, id);
