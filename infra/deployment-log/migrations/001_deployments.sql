-- The seed's deployment log, plus what the metrics need and a unique id for idempotent writes.
CREATE TABLE deployments (
  id SERIAL PRIMARY KEY,
  deploy_id VARCHAR(200) NOT NULL UNIQUE,
  env VARCHAR(10) NOT NULL,
  tag VARCHAR(128) NOT NULL,
  digest VARCHAR(80),
  commit VARCHAR(64),
  committed_at TIMESTAMPTZ,
  status VARCHAR(20) NOT NULL CHECK (status IN ('success', 'failed', 'rolled_back')),
  deployed_by VARCHAR(100),
  started_at TIMESTAMPTZ,
  finished_at TIMESTAMPTZ,
  deployed_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  duration_ms INTEGER CHECK (duration_ms IS NULL OR duration_ms >= 0),
  rollback_from VARCHAR(128),
  logs TEXT
);

CREATE INDEX deployments_env_deployed_at ON deployments (env, deployed_at DESC);
