import { randomUUID } from "crypto";

export type DeploymentStatus = "success" | "failed" | "rolled_back";

export const DEPLOYMENT_STATUSES: readonly DeploymentStatus[] = ["success", "failed", "rolled_back"];

/** One deploy attempt as the `deployments` table holds it. */
export interface DeploymentRecord {
  /** Unique per attempt; a second write of the same id is a no-op. */
  deployId: string;
  env: string;
  tag: string;
  digest?: string | null;
  /** Full or short git sha of the app commit the image was built from. */
  commit?: string | null;
  /** ISO time of the app commit, for lead time. */
  committedAt?: string | null;
  status: DeploymentStatus;
  /** GitHub actor or local user. */
  deployedBy?: string | null;
  /** ISO time the release procedure started (defaults to deployedAt). */
  startedAt?: string | null;
  /** ISO time the release procedure finished (defaults to deployedAt). */
  finishedAt?: string | null;
  /** ISO time of the record; the table defaults it to now(). */
  deployedAt: string;
  durationMs?: number | null;
  /** The tag that was serving before a rollback. */
  rollbackFrom?: string | null;
  /** Redacted tail of the release output. */
  logs?: string | null;
}

/** A record read back from the table. */
export interface StoredDeployment extends DeploymentRecord {
  id: number;
}

/** A deploy id unique per program run, env and resource: retries inside one run share it. */
export function deployIdFor(runId: string, env: string, resourceName: string): string {
  return `${runId}:${env}:${resourceName}`;
}

/** The run id of this program process: the CI run when there is one, else a fresh UUID. */
export function currentRunId(environ: NodeJS.ProcessEnv = process.env): string {
  const explicit = environ.DEEP_CALM_DEPLOY_ID;
  if (explicit !== undefined && explicit !== "") {
    return explicit;
  }
  const run = environ.GITHUB_RUN_ID;
  if (run !== undefined && run !== "") {
    return `gh-${run}-${environ.GITHUB_RUN_ATTEMPT ?? "1"}`;
  }
  return randomUUID();
}

/** The app commit a `sha-<sha>` image tag names. */
export function commitFromTag(tag: string | undefined): string | undefined {
  return /^sha-([0-9a-f]{7,40})$/.exec(tag ?? "")?.[1];
}

/** Checks a parsed value is a record (used for spool lines). */
export function isDeploymentRecord(value: unknown): value is DeploymentRecord {
  if (value === null || typeof value !== "object") {
    return false;
  }
  const r = value as Record<string, unknown>;
  return (
    typeof r.deployId === "string" &&
    typeof r.env === "string" &&
    typeof r.tag === "string" &&
    typeof r.deployedAt === "string" &&
    DEPLOYMENT_STATUSES.includes(r.status as DeploymentStatus)
  );
}
