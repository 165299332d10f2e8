/**
 * End to end on a real Kubernetes cluster: the `local-k8s` stack with the real engine and the real
 * Kubernetes provider, on this machine's two-node cluster (scripts/dev/local-cluster.sh up; npm
 * test starts it). Every release runs under load through the Service's node port: a deploy, a
 * rollback (`npm run rollback`), releases that never get ready or break in the bake window, each
 * with no request failed; then `pulumi destroy` leaves nothing in the cluster.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DeploymentLog } from "../../infra/deployment-log/log";
import { isApiStatus, kubeAccess, kubeClient } from "../../infra/kube/access";
import { DIGEST_ANNOTATION, TAG_ANNOTATION } from "../../infra/kube/manifests";
import { getDeployment } from "../../infra/kube/rollout";
import { releaseResultFrom, type ReleaseResult } from "../../infra/release-result";
import { loadAround, statusAndBody, type LoadReport } from "../../scripts/lib/load";
import { PROJECT_DIR, pulumi, pulumiAsync } from "../../scripts/lib/pulumi";

jest.setTimeout(600_000);

const STACK = "local-k8s";
const NAMESPACE = "deep-calm-local-k8s";
const CLUSTER = join(PROJECT_DIR, ".local-cluster");
const KUBECONFIG = join(CLUSTER, "kubeconfig");
/** The Service's node port on each node (10.213.0.11, .12: the bridge local-cluster.sh made). */
const NODE_URLS = ["http://10.213.0.11:30080", "http://10.213.0.12:30080"];
const RPS = 40;

if (!existsSync(KUBECONFIG)) {
  throw new Error(`no local cluster (${KUBECONFIG} is missing): run scripts/dev/local-cluster.sh up`);
}
const request = kubeClient(kubeAccess("kubeconfig", readFileSync(KUBECONFIG, "utf8")));
const images = JSON.parse(readFileSync(join(PROJECT_DIR, ".local-target", "images.json"), "utf8")) as Record<string, string>;
const digestOf = (tag: string): string => {
  const d = images[tag];
  if (d === undefined) throw new Error(`no demo image ${tag} in .local-target/images.json`);
  return d;
};

function setTag(tag: string): void {
  const set = pulumi(STACK, ["config", "set", "imageTag", tag], { config: true });
  expect(set.status).toBe(0);
}

/** `pulumi up` of the stack while GETs of /version go to the first node's port at RPS. */
async function upUnderLoad(
  run: () => Promise<{ status: number; stdout: string; stderr: string }>,
): Promise<{ status: number; out: string; load: LoadReport }> {
  const { result, load } = await loadAround(`${NODE_URLS[0]}/version`, RPS, run);
  return { status: result.status, out: result.stdout + result.stderr, load };
}

function command(cmd: string, args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: PROJECT_DIR, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code) => resolve({ status: code ?? 1, stdout, stderr }));
  });
}

const up = () => pulumiAsync(STACK, ["up", "--yes", "--skip-preview", "--color", "never"], { config: true });

function releaseOutput(): ReleaseResult {
  const out = pulumi(STACK, ["stack", "output", "release", "--json"]);
  expect(out.status).toBe(0);
  return releaseResultFrom(JSON.parse(out.stdout));
}

/** The live Deployment's release (its template's annotations). */
async function liveRelease(): Promise<{ tag: string; digest: string } | undefined> {
  const d = await getDeployment(request, NAMESPACE);
  const a = (d?.spec?.template?.metadata?.annotations ?? {}) as Record<string, string>;
  return d === undefined ? undefined : { tag: a[TAG_ANNOTATION] ?? "", digest: a[DIGEST_ANNOTATION] ?? "" };
}

/** The KubeRelease resource's digest as the stack's state holds it. */
function stateDigest(): string | undefined {
  const exported = pulumi(STACK, ["stack", "export"]);
  const deployment = JSON.parse(exported.stdout) as { deployment: { resources?: { type: string; outputs?: { digest?: string } }[] } };
  return deployment.deployment.resources?.find((r) => r.type === "pulumi-nodejs:dynamic/deepcalm:KubeRelease")?.outputs?.digest;
}

function expectNoneFailed(load: LoadReport): void {
  expect({ failed: load.failed, failures: load.failures.slice(0, 5) }).toEqual({ failed: 0, failures: [] });
  expect(load.sent).toBeGreaterThan(RPS);
}

function databaseUrl(): string | undefined {
  const file = join(PROJECT_DIR, ".local-target", "postgres.env");
  return existsSync(file) ? /^DATABASE_URL=(.+)$/m.exec(readFileSync(file, "utf8"))?.[1]?.trim() : undefined;
}

const startedAt = new Date().toISOString();

beforeAll(() => {
  // A stack left by an earlier run starts from nothing, so the first release is a first one.
  const destroy = pulumi(STACK, ["destroy", "--yes", "--skip-preview", "--color", "never"], { config: true });
  expect(destroy.status).toBe(0);
});

describe("local-k8s on a real two-node cluster", () => {
  test("v1: Namespace, Secret, migration Job, Deployment on both nodes, NodePort Service; status says healthy", async () => {
    setTag("v1");
    const run = await up();
    expect(run.status).toBe(0);
    for (const url of NODE_URLS) expect(await statusAndBody(`${url}/version`)).toBe("200 v1");
    const release = releaseOutput();
    expect(release).toMatchObject({
      ok: true,
      action: "deploy",
      env: "local-k8s",
      tag: "v1",
      digest: digestOf("v1"),
      changed: true,
      rolledBack: false,
    });
    expect(release.bake.verdict).toBe("passed");
    const job = (await request("GET", `/apis/batch/v1/namespaces/${NAMESPACE}/jobs/migrate-${digestOf("v1").slice(7, 19)}`)) as {
      status: { succeeded?: number };
    };
    expect(job.status.succeeded).toBe(1);
    const pods = (await request("GET", `/api/v1/namespaces/${NAMESPACE}/pods?labelSelector=app.kubernetes.io%2Finstance%3Dlocal-k8s`)) as {
      items: { spec: { nodeName: string }; metadata: { labels: Record<string, string> } }[];
    };
    const appPods = pods.items.filter((p) => p.metadata.labels["deep-calm.dev/role"] === undefined);
    expect(new Set(appPods.map((p) => p.spec.nodeName)).size).toBe(2);
    const status = spawnSync("npx", ["tsx", "scripts/ops/status.ts", STACK], { cwd: PROJECT_DIR, encoding: "utf8" });
    expect(status.stdout).toMatch(/serving\s+v1 sha256:/);
    expect(status.stdout).toMatch(/pods: 2\/2 pods ready/);
    expect(status.status).toBe(0);
  });

  test("v1 -> v2 under load: no request fails, both node ports serve v2 after", async () => {
    setTag("v2");
    const run = await upUnderLoad(up);
    expect(run.status).toBe(0);
    expectNoneFailed(run.load);
    expect(Object.keys(run.load.versions).sort()).toEqual(["v1", "v2"]);
    for (const url of NODE_URLS) expect(await statusAndBody(`${url}/version`)).toBe("200 v2");
    expect(releaseOutput()).toMatchObject({ ok: true, tag: "v2", previous: { tag: "v1", digest: digestOf("v1") }, wentBack: false });
  });

  test("npm run rollback under load: back to v1 by the history, recorded as rolled_back", async () => {
    // Not spawnSync: the load runs on this process's event loop.
    const run = await upUnderLoad(() => command("npx", ["tsx", "scripts/ops/rollback.ts", STACK]));
    expect(run.status).toBe(0);
    expect(run.out).toMatch(/rolled local-k8s back to v1/);
    expectNoneFailed(run.load);
    expect(await liveRelease()).toEqual({ tag: "v1", digest: digestOf("v1") });
    expect(releaseOutput()).toMatchObject({ ok: true, tag: "v1", wentBack: true });
  });

  /**
   * A bad release, then the checks every failed release must pass: pulumi up fails naming why, the
   * Deployment ends on v1's template and the stack's state says v1, both node ports serve v1.
   */
  async function badRelease(tag: string, reason: RegExp): Promise<LoadReport> {
    setTag(tag);
    const run = await upUnderLoad(up);
    setTag("v1");
    expect(run.status).not.toBe(0);
    expect(run.out).toMatch(reason);
    expect(await liveRelease()).toEqual({ tag: "v1", digest: digestOf("v1") });
    expect(stateDigest()).toBe(digestOf("v1"));
    expect(releaseOutput()).toMatchObject({ tag: "v1", digest: digestOf("v1") });
    for (const url of NODE_URLS) expect(await statusAndBody(`${url}/version`)).toBe("200 v1");
    return run.load;
  }

  test("a release that never gets ready (bad-unhealthy) under load: no request fails, undone after ProgressDeadlineExceeded", async () => {
    const load = await badRelease(
      "bad-unhealthy",
      /not ready within 20s \(ProgressDeadlineExceeded\): pod deep-calm-[a-z0-9-]+: Readiness probe failed/,
    );
    expectNoneFailed(load);
    expect(Object.keys(load.versions)).toEqual(["v1"]);
  });

  test("a release that crashes after it got ready (bad-late-crash): caught in the bake window while v1 still serves, undone", async () => {
    const load = await badRelease(
      "bad-late-crash",
      /pod deep-calm-[a-z0-9-]+ crashed \(last exit code 137, Error\) within the 6s bake window/,
    );
    // Its pods were Ready and served beside v1's until they crashed: what failed is what reached a
    // dying pod before Kubernetes stopped routing to it, within a second, not the time to undo.
    expect(load.failureWindowMs).toBeLessThan(1500);
  });

  test("the deployment log recorded each attempt, as on a host", async () => {
    const url = databaseUrl();
    if (url === undefined) throw new Error("no local Postgres (.local-target/postgres.env): run scripts/dev/local-target.sh up");
    const rows = await new DeploymentLog({ databaseUrl: url }).history({ env: "local-k8s", limit: 20, since: startedAt });
    expect(rows.map((r) => `${r.tag} ${r.status}`).reverse()).toEqual([
      "v1 success",
      "v2 success",
      "v1 rolled_back",
      "bad-unhealthy failed",
      "bad-late-crash failed",
    ]);
  });

  test("pulumi destroy removes everything: the namespace and all in it", async () => {
    const run = pulumi(STACK, ["destroy", "--yes", "--skip-preview", "--color", "never"], { config: true });
    expect(run.status).toBe(0);
    let gone = false;
    for (let i = 0; i < 120 && !gone; i++) {
      try {
        await request("GET", `/api/v1/namespaces/${NAMESPACE}`);
        await new Promise((r) => setTimeout(r, 500));
      } catch (err) {
        gone = isApiStatus(err, 404);
        if (!gone) throw err;
      }
    }
    expect(gone).toBe(true);
  });
});
