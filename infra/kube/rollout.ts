/**
 * A release on Kubernetes, the way dc-release does one on a host: apply the new Deployment,
 * wait until every pod of it is Ready, has stayed Ready for the bake window (minReadySeconds,
 * while every old pod still serves) and every old pod is gone, and when any of that fails (the
 * deadline, or a new pod that crashed) put the previous Deployment back, wait until it serves
 * again, then fail with one line saying why. Kubernetes itself stops a rollout that never gets ready
 * (`ProgressDeadlineExceeded`) but leaves it in place; this undoes it, so the Deployment ends on
 * the template it had, and the release resource's state (./release.ts) keeps saying so.
 *
 * The result is the host's result line (infra/release-result.ts), so the deployment log, the
 * Telegram messages, the metrics, `npm run rollback` and the stack's `release` output read a
 * Kubernetes release exactly as they read a host's.
 */
import { type ReleaseResult } from "../release-result";
import { isApiStatus, type KubeRequest } from "./access";
import { APP_NAME, DIGEST_ANNOTATION, ENV_ANNOTATION, TAG_ANNOTATION } from "./manifests";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- API objects are read field by field

export interface RolloutRequest {
  env: string;
  namespace: string;
  tag: string;
  digest: string;
  /** The repository, without tag or digest (the result's `image`). */
  repository: string;
  manifest: Obj;
  /** The Deployment this release replaces, as last applied; absent on the first release. */
  previous?: Obj;
  bakeSeconds: number;
  /** How often the cluster is asked, ms. */
  pollMs?: number;
}

/**
 * A failed release: the reason, then its result line (the old release serving, or nothing on a
 * first release), which the deployment-log hooks read from the error. A plain Error (see
 * access.ts: kubeApiError), with the two as fields too.
 */
export function rolloutError(reason: string, result: ReleaseResult): Error & { reason: string; result: ReleaseResult } {
  return Object.assign(new Error(`${reason}\n${JSON.stringify(result)}`), { reason, result });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function deploymentPath(namespace: string, suffix = ""): string {
  return `/apis/apps/v1/namespaces/${namespace}/deployments${suffix}`;
}

export async function getDeployment(request: KubeRequest, namespace: string): Promise<Obj | undefined> {
  try {
    return (await request("GET", deploymentPath(namespace, `/${APP_NAME}`))) as Obj;
  } catch (err) {
    if (isApiStatus(err, 404)) return undefined;
    throw err;
  }
}

/** Server-side apply of the whole object, as its one field manager. */
async function apply(request: KubeRequest, manifest: Obj): Promise<Obj> {
  const ns = manifest.metadata.namespace as string;
  return (await request(
    "PATCH",
    deploymentPath(ns, `/${APP_NAME}?fieldManager=deep-calm-deploy&force=true`),
    manifest,
    "application/apply-patch+yaml",
  )) as Obj;
}

function selector(deployment: Obj, extra: Record<string, string> = {}): string {
  const labels = { ...(deployment.spec?.selector?.matchLabels ?? {}), ...extra } as Record<string, string>;
  return encodeURIComponent(
    Object.entries(labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(","),
  );
}

export async function replicaSets(request: KubeRequest, deployment: Obj): Promise<Obj[]> {
  const ns = deployment.metadata.namespace as string;
  const list = (await request("GET", `/apis/apps/v1/namespaces/${ns}/replicasets?labelSelector=${selector(deployment)}`)) as Obj;
  return ((list.items ?? []) as Obj[]).filter((rs) =>
    ((rs.metadata?.ownerReferences ?? []) as Obj[]).some((o) => o.kind === "Deployment" && o.uid === deployment.metadata.uid),
  );
}

/** A ReplicaSet's place in its Deployment's history (the controller's revision annotation). */
export const revision = (o: Obj): number => Number(o.metadata?.annotations?.["deployment.kubernetes.io/revision"] ?? 0);

/** The ReplicaSet of the Deployment's current template (the newest revision). */
async function currentReplicaSet(request: KubeRequest, deployment: Obj): Promise<Obj | undefined> {
  const sets = await replicaSets(request, deployment);
  return sets.sort((a, b) => revision(b) - revision(a))[0];
}

/** The live (not terminating) pods of one of the Deployment's templates. */
async function podsOf(request: KubeRequest, deployment: Obj, templateHash: string): Promise<Obj[]> {
  const ns = deployment.metadata.namespace as string;
  const list = (await request(
    "GET",
    `/api/v1/namespaces/${ns}/pods?labelSelector=${selector(deployment, { "pod-template-hash": templateHash })}`,
  )) as Obj;
  return ((list.items ?? []) as Obj[]).filter((p) => p.metadata?.deletionTimestamp === undefined);
}

/** The pods of the Deployment's current template (its newest ReplicaSet), and that ReplicaSet. */
async function currentPods(request: KubeRequest, deployment: Obj): Promise<{ rs: Obj | undefined; pods: Obj[] }> {
  const rs = await currentReplicaSet(request, deployment);
  const hash = rs?.metadata?.labels?.["pod-template-hash"] as string | undefined;
  return { rs, pods: hash === undefined ? [] : await podsOf(request, deployment, hash) };
}

/** " (last exit code 137, Error)" of a container that ran before, else "". */
function lastExit(pod: Obj): string {
  const last = ((pod.status?.containerStatuses ?? []) as Obj[])[0]?.lastState?.terminated;
  return last ? ` (last exit code ${last.exitCode}${last.reason ? `, ${last.reason}` : ""})` : "";
}

/** Why a pod is not Ready, in the words of the kubelet: its container's state, else its last warning event. */
async function podProblem(request: KubeRequest, pod: Obj): Promise<string> {
  const name = pod.metadata.name as string;
  const status = ((pod.status?.containerStatuses ?? []) as Obj[])[0];
  const scheduled = ((pod.status?.conditions ?? []) as Obj[]).find((c) => c.type === "PodScheduled");
  if (scheduled?.status === "False") return `pod ${name} cannot be scheduled: ${scheduled.message ?? scheduled.reason}`;
  const waiting = status?.state?.waiting;
  const exited = lastExit(pod);
  if (waiting?.reason && waiting.reason !== "ContainerCreating") {
    return `pod ${name}: ${waiting.reason}${exited}${waiting.message ? `: ${String(waiting.message).split("\n")[0]}` : ""}`;
  }
  const ns = pod.metadata.namespace as string;
  const events = (await request(
    "GET",
    `/api/v1/namespaces/${ns}/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${name},type=Warning`)}`,
  )) as Obj;
  // What the kubelet says of the pod's container (probes, back-off, pulls), not of its DNS setup.
  // The newest of what gates readiness first (a failing readiness probe says why the pod is not
  // Ready; the liveness probe that then restarts it says less), then anything else.
  const warnings = ((events.items ?? []) as Obj[])
    .filter((e) => e.reason !== "MissingClusterDNS")
    .sort((a, b) => String(b.lastTimestamp ?? b.eventTime ?? "").localeCompare(String(a.lastTimestamp ?? a.eventTime ?? "")));
  const newest = warnings.find((e) => String(e.message).startsWith("Readiness probe failed")) ?? warnings[0];
  if (newest?.message) return `pod ${name}: ${String(newest.message).split("\n")[0]}${exited}`;
  return `pod ${name} is not ready (${status?.restartCount ?? 0} restarts)${exited}`;
}

/** Why the current ReplicaSet's pods are not all Ready: the first pod's problem, and how many are. */
async function rolloutProblem(request: KubeRequest, deployment: Obj): Promise<string> {
  const { rs, pods } = await currentPods(request, deployment);
  const unready = pods.filter((p) => !((p.status?.conditions ?? []) as Obj[]).some((c) => c.type === "Ready" && c.status === "True"));
  if (unready[0] !== undefined) return `${await podProblem(request, unready[0])} (${unready.length} of ${pods.length} new pods not ready)`;
  const failure = ((rs?.status?.conditions ?? []) as Obj[]).find((c) => c.type === "ReplicaFailure");
  return failure ? `${failure.reason}: ${failure.message}` : "no new pod was created";
}

/** `reason` is "" when ok (one shape: the program is also compiled without strict null checks). */
type Outcome = { ok: boolean; reason: string; deployment: Obj };

/**
 * Waits until the Deployment's rollout is complete: its controller saw the new generation, every
 * replica runs the new template and is available, and no old pod is left. It fails when
 * Kubernetes reports ProgressDeadlineExceeded, or past the deadline plus a margin if the
 * controller never says (a stopped controller-manager).
 */
async function waitForRollout(request: KubeRequest, namespace: string, pollMs: number, failFast = true): Promise<Outcome> {
  const first = await getDeployment(request, namespace);
  if (first === undefined) throw new Error(`the Deployment ${namespace}/${APP_NAME} is gone`);
  const limit = Date.now() + ((first.spec.progressDeadlineSeconds as number) + 30) * 1000;
  let deployment = first;
  for (;;) {
    const st = deployment.status ?? {};
    const want = deployment.spec.replicas as number;
    const progressing = ((st.conditions ?? []) as Obj[]).find((c) => c.type === "Progressing");
    if ((st.observedGeneration ?? 0) >= deployment.metadata.generation) {
      // Complete first: a rollout back to a ReplicaSet that still runs completes at once, while the
      // condition may still name the deadline the failed one hit.
      if (
        (st.updatedReplicas ?? 0) === want &&
        (st.replicas ?? 0) === want &&
        (st.availableReplicas ?? 0) === want &&
        !st.unavailableReplicas
      ) {
        return { ok: true, reason: "", deployment };
      }
      // Once the controller saw this generation, the newest ReplicaSet is this template's.
      const crashed = failFast ? await crashedPod(request, deployment) : undefined;
      if (crashed !== undefined) {
        const bake = (deployment.spec.minReadySeconds as number | undefined) ?? 0;
        return { ok: false, deployment, reason: `${crashed}${bake > 0 ? ` within the ${bake}s bake window` : ""}` };
      }
      if (progressing?.reason === "ProgressDeadlineExceeded") {
        const why = await rolloutProblem(request, deployment);
        return {
          ok: false,
          deployment,
          reason: `not ready within ${deployment.spec.progressDeadlineSeconds}s (ProgressDeadlineExceeded): ${why}`,
        };
      }
    }
    if (Date.now() > limit) {
      return {
        ok: false,
        deployment,
        reason: `the rollout did not finish within ${deployment.spec.progressDeadlineSeconds + 30}s: ${await rolloutProblem(request, deployment)}`,
      };
    }
    await sleep(pollMs);
    deployment = (await getDeployment(request, namespace)) ?? deployment;
  }
}

const restarts = (p: Obj) => ((p.status?.containerStatuses ?? []) as Obj[]).reduce((n, c) => n + Number(c.restartCount ?? 0), 0);

/**
 * A new pod whose container crashed (a non-zero exit, or killed) since it started: such a release
 * is not waited for until the deadline. (A restart by the liveness probe of a pod that never got
 * ready is left to the deadline, which then names the failing probe.)
 */
async function crashedPod(request: KubeRequest, deployment: Obj): Promise<string | undefined> {
  for (const pod of (await currentPods(request, deployment)).pods) {
    const last = ((pod.status?.containerStatuses ?? []) as Obj[])[0]?.lastState?.terminated;
    if (restarts(pod) > 0 && last !== undefined && Number(last.exitCode) !== 0) {
      return `pod ${pod.metadata.name} crashed${lastExit(pod)}`;
    }
  }
  return undefined;
}

const templateAnnotations = (d: Obj | undefined): Record<string, string> => d?.spec?.template?.metadata?.annotations ?? {};

/** The release a Deployment or ReplicaSet runs, from its pod template's annotations; null when it has none. */
export function releaseOf(d: Obj | undefined): { tag: string; digest: string } | null {
  const a = templateAnnotations(d);
  return a[TAG_ANNOTATION] && a[DIGEST_ANNOTATION] ? { tag: a[TAG_ANNOTATION], digest: a[DIGEST_ANNOTATION] } : null;
}

/** True when the new template is one an older ReplicaSet of the Deployment ran before the current one. */
async function goesBack(request: KubeRequest, live: Obj, manifest: Obj): Promise<boolean> {
  const want = templateAnnotations(manifest);
  const sets = await replicaSets(request, live);
  const current = Math.max(0, ...sets.map(revision));
  return sets.some((rs) => {
    const a = templateAnnotations(rs);
    return a[DIGEST_ANNOTATION] === want[DIGEST_ANNOTATION] && a[ENV_ANNOTATION] === want[ENV_ANNOTATION] && revision(rs) < current;
  });
}

interface Times {
  startedAt: number;
  rolloutMs: number;
  /** The bake window each new pod was watched for (minReadySeconds); 0 when there was none. */
  bakeMs: number;
}

function result(
  req: RolloutRequest,
  fields: Partial<ReleaseResult> & Pick<ReleaseResult, "ok" | "changed" | "serving" | "previous" | "created" | "wentBack">,
  t: Times,
  bakeVerdict: "off" | "passed" | "failed" | null,
): ReleaseResult {
  const finished = Date.now();
  const startedAt = new Date(t.startedAt).toISOString();
  return {
    action: "deploy",
    env: req.env,
    tag: req.tag,
    digest: req.digest,
    image: req.repository,
    port: null,
    releaseId: `${startedAt.replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")}-${req.tag}-kubernetes`,
    pulled: false,
    reused: false,
    rolledBack: false,
    reason: null,
    logFile: null,
    exitCode: fields.ok ? 0 : 1,
    startedAt,
    lockedAt: startedAt,
    finishedAt: new Date(finished).toISOString(),
    durationMs: finished - t.startedAt,
    servingAfterMs: fields.ok && fields.changed ? t.rolloutMs : null,
    phases: { lockMs: 0, pullMs: 0, migrateMs: 0, startMs: t.rolloutMs, healthMs: 0, switchMs: 0, smokeMs: 0, bakeMs: t.bakeMs },
    bake: {
      seconds: req.bakeSeconds,
      verdict: bakeVerdict,
      watchedMs: t.bakeMs,
      requests: 0,
      errors: 0,
      beforeRequests: 0,
      beforeErrors: 0,
    },
    interrupted: [],
    unconfirmed: [],
    ...fields,
  };
}

/**
 * Deploys `req.manifest`: returns the result of a release that serves, or throws a rolloutError
 * after putting `req.previous` back (or, on a first release, removing what never served).
 */
export async function rollout(request: KubeRequest, req: RolloutRequest): Promise<ReleaseResult> {
  const pollMs = req.pollMs ?? 500;
  const t: Times = { startedAt: Date.now(), rolloutMs: 0, bakeMs: 0 };
  const before = await getDeployment(request, req.namespace);
  const previous = releaseOf(before);
  const wentBack = before === undefined ? false : await goesBack(request, before, req.manifest);
  const applied = await apply(request, req.manifest);
  const changed = before === undefined || applied.metadata.generation !== before.metadata.generation;
  const waited = await waitForRollout(request, req.namespace, pollMs);
  t.rolloutMs = Date.now() - t.startedAt;
  let reason = waited.ok ? undefined : waited.reason;
  // The bake is each new pod's minReadySeconds, watched while every old pod still serves.
  const baked = req.bakeSeconds > 0 && changed;
  const verdict: "off" | "passed" | "failed" | null = waited.ok
    ? baked
      ? "passed"
      : "off"
    : baked && /bake window/.test(reason ?? "")
      ? "failed"
      : null;
  if (baked && waited.ok) t.bakeMs = Math.ceil(req.bakeSeconds) * 1000;
  // The API server's times are whole seconds (2026-12-02T13:23:40Z); the result line's have milliseconds.
  const stamp = applied.metadata.creationTimestamp as string | undefined;
  const created = stamp === undefined ? null : new Date(stamp).toISOString();
  if (reason === undefined) {
    return result(
      req,
      {
        ok: true,
        changed,
        previous,
        serving: { tag: req.tag, digest: req.digest, port: null },
        created,
        wentBack: changed ? wentBack : null,
      },
      t,
      verdict,
    );
  }
  // Back to what served before: the previous Deployment, whose pods are still there or come back
  // from images the nodes have; on a first release nothing served, and nothing is left.
  const back = req.previous ?? before;
  let serving: ReleaseResult["serving"] = null;
  if (back !== undefined && previous !== null) {
    await apply(request, stripStatus(back));
    // Going back is waited for to its end: the previous pods are not judged again.
    const restored = await waitForRollout(request, req.namespace, pollMs, false);
    if (!restored.ok) reason = `${reason}; going back to ${previous.tag} did not finish either: ${restored.reason}`;
    serving = { ...previous, port: null };
  } else {
    await removeDeployment(request, req.namespace);
  }
  throw rolloutError(
    reason,
    result(
      req,
      { ok: false, changed: false, previous, serving, created, wentBack: null, rolledBack: serving !== null, reason },
      t,
      verdict,
    ),
  );
}

/** What apply takes back: the object as declared, without what the server keeps of it. */
function stripStatus(d: Obj): Obj {
  const { apiVersion, kind, metadata, spec } = d;
  const { name, namespace, labels, annotations } = metadata ?? {};
  const kept = Object.fromEntries(
    Object.entries((annotations ?? {}) as Record<string, string>).filter(([k]) => !k.startsWith("deployment.kubernetes.io/")),
  );
  return {
    apiVersion: apiVersion ?? "apps/v1",
    kind: kind ?? "Deployment",
    metadata: { name, namespace, labels, ...(Object.keys(kept).length ? { annotations: kept } : {}) },
    spec,
  };
}

/** Removes the Deployment and waits until its pods are gone (bounded: 2 minutes). */
export async function removeDeployment(request: KubeRequest, namespace: string): Promise<void> {
  try {
    await request("DELETE", deploymentPath(namespace, `/${APP_NAME}`), { propagationPolicy: "Foreground" });
  } catch (err) {
    if (isApiStatus(err, 404)) return;
    throw err;
  }
  const until = Date.now() + 120_000;
  while (Date.now() < until && (await getDeployment(request, namespace)) !== undefined) await sleep(500);
}
