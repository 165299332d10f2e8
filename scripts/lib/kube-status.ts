/**
 * `npm run status` for a stack with `runtime: kubernetes`: the same report as a host's, read from
 * the cluster. Serving is the Deployment's current template (its tag and digest annotations) and
 * since when its ReplicaSet exists; healthy is every replica Ready on that template with no rollout
 * stuck, and one GET of the env's URL on its health path answering 2xx; retained are the older
 * ReplicaSets a rollback returns to without a pull; the drift rules are the host's.
 */
import { kubeClient, type KubeAccess } from "../../infra/kube/access";
import { getDeployment, releaseOf, replicaSets, revision } from "../../infra/kube/rollout";
import { type KubeStackConfig, loadKubeconfig, loadKubeStackConfig } from "../../stacks/kube-config";
import { driftOf, exitFor, type HostStatus, type StackExpectation } from "./status-report";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- API objects are read field by field

/** The release a template runs; "?" for one this program did not annotate (applied by hand). */
const release = (o: Obj) => releaseOf(o) ?? { tag: "?", digest: "" };

/** The kubernetes stack's config and its cluster access, from `pulumi config --json --show-secrets`. */
export function kubeStackFromConfig(
  stack: string,
  read: (key: string) => unknown,
  inline: { value?: unknown; secret?: boolean } | undefined,
): { cfg: KubeStackConfig; access: KubeAccess } {
  const cfg = loadKubeStackConfig(stack, read);
  const { access } = loadKubeconfig(read, inline?.value as string | undefined, inline?.secret === true);
  return { cfg, access };
}

/** One GET of the env's URL on its health path, bounded. */
async function probe(url: string): Promise<{ url: string; httpStatus: number | null; upstream: string | null; healthy: boolean }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
    return { url, httpStatus: res.status, upstream: null, healthy: res.status >= 200 && res.status < 300 };
  } catch {
    return { url, httpStatus: null, upstream: null, healthy: false };
  }
}

export async function clusterStatus(cfg: KubeStackConfig, access: KubeAccess, expected: StackExpectation): Promise<HostStatus> {
  const started = Date.now();
  const request = kubeClient(access, 10_000);
  const { namespace } = cfg.kube;
  const where = `${access.server} namespace ${namespace}`;
  const deployment = await getDeployment(request, namespace);
  const sets = deployment === undefined ? [] : (await replicaSets(request, deployment)).sort((a, b) => revision(a) - revision(b));
  const current = sets.at(-1);
  const serving =
    deployment === undefined
      ? null
      : { ...release(deployment), port: null, since: (current?.metadata?.creationTimestamp as string) ?? null };
  const st = deployment?.status ?? {};
  const want = deployment?.spec?.replicas ?? 0;
  const stuck = ((st.conditions ?? []) as Obj[]).some((c) => c.type === "Progressing" && c.reason === "ProgressDeadlineExceeded");
  const podsReady = deployment !== undefined && st.updatedReplicas === want && st.readyReplicas === want && st.replicas === want && !stuck;
  const front = await probe(new URL(cfg.release.healthPath, cfg.publicUrl).toString());
  const healthy = podsReady && front.healthy;
  const drift = driftOf({ current: serving }, expected);
  const inSync = drift.length === 0;
  return {
    host: where,
    env: cfg.profile.env,
    serving,
    servingPort: null,
    health: {
      healthy,
      direct: null,
      front,
      ...(deployment === undefined ? {} : { pods: { ready: st.readyReplicas ?? 0, want, stuck } }),
    },
    retained: sets.slice(0, -1).map((rs) => ({ ...release(rs), since: (rs.metadata?.creationTimestamp as string) ?? null })),
    warm: null,
    lock: null,
    lastAttempt: null,
    created: (deployment?.metadata?.creationTimestamp as string | undefined) ?? null,
    expected,
    drift,
    inSync,
    exitCode: exitFor(healthy, inSync),
    hostMs: Date.now() - started,
  };
}
