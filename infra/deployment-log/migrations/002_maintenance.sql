-- Maintenance mode toggles (infra/deployment-log/maintenance.ts): a table of their own, so a
-- toggle is in the log but never counts as a deploy in the metrics, which read `deployments`.
CREATE TABLE maintenance_events (
  id SERIAL PRIMARY KEY,
  event_id VARCHAR(200) NOT NULL UNIQUE,
  env VARCHAR(40) NOT NULL,
  state VARCHAR(3) NOT NULL CHECK (state IN ('on', 'off')),
  message TEXT,
  toggled_by VARCHAR(100),
  toggled_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE INDEX maintenance_events_env_toggled_at ON maintenance_events (env, toggled_at DESC);
