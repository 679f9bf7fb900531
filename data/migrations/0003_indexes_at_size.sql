-- Switchboard schema, version 3: indexes for an admin and a call path at size (measured with
-- bench/admin_at_size.py on 100,000 runs: see bench/README.md).

-- Newest runs of an organisation and pages before a cursor (`/calls`, `/api/v1/workflow-runs`):
-- walked backwards, no sort of the whole history.
CREATE INDEX workflow_runs_org_id ON workflow_runs(organization_id, id);

-- The same filtered by configuration or workflow.
CREATE INDEX workflow_runs_config_id ON workflow_runs(telephony_configuration_id, id);
CREATE INDEX workflow_runs_workflow_id ON workflow_runs(workflow_id, id);

-- The quota check every call makes inside its write transaction: only the open runs.
CREATE INDEX workflow_runs_open ON workflow_runs(organization_id) WHERE ended_at IS NULL;

-- Minutes used this month (same check), read from the index alone; replaces (organization_id, created_at).
CREATE INDEX workflow_runs_org_created_duration ON workflow_runs(organization_id, created_at, duration_s);
DROP INDEX workflow_runs_org_created;
