-- Uploads ingested off the request path. A job is queued or running only while its process
-- keeps `heartbeat_at` fresh; one whose heartbeat stopped (the process died) is reported
-- failed, never left pending for good. The document's bytes are not kept: an interrupted job
-- is uploaded again.
CREATE TABLE ingest_jobs (
    id uuid PRIMARY KEY,
    source text NOT NULL,
    status text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    outcome jsonb,
    error jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ingest_jobs_created ON ingest_jobs (created_at);
