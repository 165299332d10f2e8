/**
 * The app's Deployment as the Kubernetes runtime declares it, rendered from the stack's settings:
 * pure functions, so the unit tests read exactly what the cluster gets.
 *
 * The rollout is the host's blue/green in Kubernetes' words: `maxSurge: 100%` starts every new pod
 * at once beside the old ones, `maxUnavailable: 0` keeps every old pod until new ones are
 * available, which a pod is once it has been Ready (readiness on the health path, as dc-release's
 * gate) for `minReadySeconds`, the bake window, while the old pods still serve; a `preStop`
 * sleep drains a pod after the Service stopped sending to it, and `progressDeadlineSeconds`
 * bounds a release that never gets ready. During a release the env runs twice its pods.
 */

/** Labels every object of an env carries; `selector` picks the app's pods. */
export function appLabels(env: string): Record<string, string> {
  return { "app.kubernetes.io/name": "deep-calm", "app.kubernetes.io/instance": env, "app.kubernetes.io/managed-by": "deep-calm-deploy" };
}

export function selectorLabels(env: string): Record<string, string> {
  return { "app.kubernetes.io/name": "deep-calm", "app.kubernetes.io/instance": env };
}

/** Annotations on the pod template: which release it is (read back by status, rollback and the result). */
export const TAG_ANNOTATION = "deep-calm.dev/tag";
export const DIGEST_ANNOTATION = "deep-calm.dev/digest";
/** A digest of the app's environment: a changed Secret rolls the pods like a new image does. */
export const ENV_ANNOTATION = "deep-calm.dev/env-sha256";

export const APP_NAME = "deep-calm";
export const ENV_SECRET = "deep-calm-env";

export interface KubeAppSettings {
  env: string;
  namespace: string;
  replicas: number;
  containerPort: number;
  healthPath: string;
  /** Seconds between probes (Kubernetes takes whole seconds: the host's decimals are rounded up). */
  healthIntervalSeconds: number;
  healthTimeoutSeconds: number;
  /** Good probes in a row a pod needs to be Ready. */
  healthSuccesses: number;
  /** Seconds a stopping pod keeps serving after it left the Service's endpoints. */
  drainSeconds: number;
  /** Seconds a stopping pod gets between SIGTERM and SIGKILL, after the drain. */
  stopTimeoutSeconds: number;
  progressDeadlineSeconds: number;
  /** Seconds each new pod must stay Ready before an old one goes (the bake window); 0 = none. */
  bakeSeconds: number;
  cpuRequest: string;
  memoryRequest: string;
  /** KEY=value pairs not from the Secret (the program's own: DEPLOY_ENV, PORT, LISTEN_ADDRESS). */
  variables: Record<string, string>;
}

export interface KubeRelease {
  /** registry/repository@sha256:…: what the pods run. */
  image: string;
  tag: string;
  digest: string;
  /** sha256 of the app's environment (the Secret's data). */
  envDigest: string;
}

const wholeSeconds = (s: number): number => Math.max(1, Math.ceil(s));

/** The Deployment the release applies (server-side apply: the full object each time). */
export function deploymentManifest(s: KubeAppSettings, r: KubeRelease): Record<string, unknown> {
  const probe = (failureThreshold: number, successThreshold: number) => ({
    httpGet: { path: s.healthPath, port: "http" },
    periodSeconds: wholeSeconds(s.healthIntervalSeconds),
    timeoutSeconds: wholeSeconds(s.healthTimeoutSeconds),
    failureThreshold,
    successThreshold,
  });
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: APP_NAME, namespace: s.namespace, labels: appLabels(s.env) },
    spec: {
      replicas: s.replicas,
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: s.progressDeadlineSeconds,
      minReadySeconds: Math.ceil(s.bakeSeconds),
      selector: { matchLabels: selectorLabels(s.env) },
      strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: "100%" } },
      template: {
        metadata: {
          labels: appLabels(s.env),
          annotations: { [TAG_ANNOTATION]: r.tag, [DIGEST_ANNOTATION]: r.digest, [ENV_ANNOTATION]: r.envDigest },
        },
        spec: {
          terminationGracePeriodSeconds: wholeSeconds(s.drainSeconds) + s.stopTimeoutSeconds,
          containers: [
            {
              name: "app",
              image: r.image,
              ports: [{ name: "http", containerPort: s.containerPort }],
              env: Object.entries(s.variables).map(([name, value]) => ({ name, value })),
              envFrom: [{ secretRef: { name: ENV_SECRET } }],
              readinessProbe: probe(1, s.healthSuccesses),
              // Liveness only restarts a pod that stopped answering for a while, never one still starting.
              livenessProbe: { ...probe(6, 1), initialDelaySeconds: 10 },
              lifecycle: { preStop: { sleep: { seconds: wholeSeconds(s.drainSeconds) } } },
              resources: { requests: { cpu: s.cpuRequest, memory: s.memoryRequest } },
            },
          ],
        },
      },
    },
  };
}

/** The migration Job's name: one per digest, so a new image runs its migrations once, before its rollout. */
export function migrationJobName(digest: string): string {
  return `migrate-${digest.replace(/^sha256:/, "").slice(0, 12)}`;
}
