/**
 * The Kubernetes runtime's pure parts: the kubeconfig check, the stack config, the Deployment as
 * rendered, and what the program declares (Pulumi mocks). The rollout itself runs against the
 * real local cluster in tests/e2e/kubernetes.test.ts.
 */
import * as pulumi from "@pulumi/pulumi";
import { ConfigValueError } from "../../infra/errors";
import { kubeAccess } from "../../infra/kube/access";
import { deploymentManifest, migrationJobName } from "../../infra/kube/manifests";
import { loadKubeconfig, loadKubeStackConfig, runtimeOf } from "../../stacks/kube-config";
import { KubeEnvironment } from "../../stacks/kubernetes";
import { kubePreflight } from "../../stacks/preflight";
import { DEPLOY_FIRST, resultWith } from "../fixtures/release-results";
import { allowResourceHooks } from "./hook-mocks";
import { DIGEST_V1, isSecretValue, mapReader, plainStrings } from "./harness";

jest.setTimeout(30_000);

const b64 = (s: string) => Buffer.from(s).toString("base64");
const KEY_MATERIAL = "-----BEGIN EC PRIVATE KEY-----\nc2VjcmV0a2V5bWF0ZXJpYWw=\n-----END EC PRIVATE KEY-----\n";

function kubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    "current-context": "ctx",
    contexts: [{ name: "ctx", context: { cluster: "c", user: "u" } }],
    clusters: [{ name: "c", cluster: { server: "https://10.213.0.1:6443", "certificate-authority-data": b64("CA"), ...cluster } }],
    users: [{ name: "u", user }],
  });
}

const CERT_USER = { "client-certificate-data": b64("CERT"), "client-key-data": b64(KEY_MATERIAL) };
const refusal = (fn: () => unknown): ConfigValueError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigValueError) return err;
    throw err;
  }
  throw new Error("not refused");
};

describe("kubeconfig", () => {
  test("the current context's server, CA and client certificate", () => {
    const access = kubeAccess("kubeconfig", kubeconfig(CERT_USER));
    expect(access).toEqual({ server: "https://10.213.0.1:6443", caData: "CA", certData: "CERT", keyData: KEY_MATERIAL, insecure: false });
  });

  test("a token, or an exec plugin (managed clusters: aws eks get-token, gke-gcloud-auth-plugin)", () => {
    expect(kubeAccess("kubeconfig", kubeconfig({ token: "t0k3n-value" })).token).toBe("t0k3n-value");
    const exec = kubeAccess(
      "kubeconfig",
      kubeconfig({
        exec: {
          apiVersion: "client.authentication.k8s.io/v1beta1",
          command: "aws",
          args: ["eks", "get-token"],
          env: [{ name: "AWS_PROFILE", value: "ci" }],
        },
      }),
    ).exec;
    expect(exec).toEqual({
      command: "aws",
      args: ["eks", "get-token"],
      env: { AWS_PROFILE: "ci" },
      apiVersion: "client.authentication.k8s.io/v1beta1",
    });
  });

  test.each([
    ["not YAML", "{{{", /use a kubeconfig/],
    ["not a kubeconfig", "kind: Pod", /kind: Config/],
    ["no current context", JSON.stringify({ kind: "Config" }), /current-context/],
    [
      "a context it does not define",
      kubeconfig(CERT_USER).replace('"current-context":"ctx"', '"current-context":"other"'),
      /does not define/,
    ],
    [
      "a file reference",
      kubeconfig({ "client-certificate": "/home/me/.kube/cert.pem", "client-key-data": b64("K") }),
      /names the file client-certificate/,
    ],
    ["plain http", kubeconfig(CERT_USER, { server: "http://10.0.0.1:8080" }), /https:\/\/ URL/],
    ["no credentials", kubeconfig({}), /no credentials/],
  ])("refuses %s, showing no secret", (_what, text, message) => {
    const err = refusal(() => kubeAccess("kubeconfig", text));
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain("c2VjcmV0");
    expect(err.key).toBe("kubeconfig");
  });

  test("stored in plain text in the stack file, it is refused; a file is read from kubeconfigPath", () => {
    const read = mapReader({ kubeconfigPath: ".local-cluster/kubeconfig" });
    expect(refusal(() => loadKubeconfig(mapReader({}), kubeconfig(CERT_USER), false)).message).toMatch(/plain text.*--secret kubeconfig/);
    expect(
      loadKubeconfig(read, undefined, false, (p) => (p === ".local-cluster/kubeconfig" ? kubeconfig(CERT_USER) : "")).access.certData,
    ).toBe("CERT");
    expect(refusal(() => loadKubeconfig(mapReader({}), undefined, false)).message).toMatch(/needs the cluster's kubeconfig/);
  });
});

const LOCAL_K8S = {
  runtime: "kubernetes",
  imageTag: "v1",
  imageRegistry: "127.0.0.1:5000",
  imageRepository: "deep-calm",
  imageDigest: DIGEST_V1,
  publicUrl: "http://10.213.0.11:30080",
  kubeNodePort: 30080,
  migrateCommand: "/bin/migrate",
  drainSeconds: 2,
  bakeSeconds: 6,
};

describe("stack config, runtime kubernetes", () => {
  test("runtime is host unless set; another value is refused", () => {
    expect(runtimeOf(mapReader({}))).toBe("host");
    expect(runtimeOf(mapReader({ runtime: "kubernetes" }))).toBe("kubernetes");
    expect(refusal(() => runtimeOf(mapReader({ runtime: "swarm" }))).message).toMatch(
      /runtime: "swarm" is not allowed; use one of: host, kubernetes/,
    );
  });

  test("defaults: namespace per env, 2 replicas, NodePort Service, the host's gate settings", () => {
    const cfg = loadKubeStackConfig("local-k8s", mapReader(LOCAL_K8S));
    expect(cfg.kube).toEqual({
      namespace: "deep-calm-local-k8s",
      replicas: 2,
      containerPort: 8000,
      ingressClass: "",
      serverName: "_",
      nodePort: 30080,
      progressDeadlineSeconds: 120,
      cpuRequest: "100m",
      memoryRequest: "128Mi",
    });
    expect(cfg.release.healthPath).toBe("/healthz");
    expect(cfg.release.bakeSeconds).toBe(6);
  });

  test.each([
    ["maintenance", true, /maintenance mode/],
    ["bootstrap", true, /no host to bootstrap/],
    ["kubeNamespace", "Deep_Calm", /DNS label/],
    ["kubeCpuRequest", "lots", /Kubernetes quantity/],
    ["kubeNodePort", 8080, /30000 to 32767/],
    ["kubeProgressDeadline", 5, /kubeProgressDeadline/],
    ["kubeIngressClass", "Nginx Ingress", /IngressClass/],
  ])("refuses %s = %p before anything runs", (key, value, message) => {
    expect(refusal(() => loadKubeStackConfig("local-k8s", mapReader({ ...LOCAL_K8S, [key]: value }))).message).toMatch(message);
  });

  test("an env with basic auth in front of it (test) is refused on Kubernetes", () => {
    expect(refusal(() => loadKubeStackConfig("test", mapReader({ ...LOCAL_K8S }))).message).toMatch(/basic auth/);
  });
});

describe("app secrets on kubernetes", () => {
  const preflightWith = (secrets: Record<string, string>) =>
    kubePreflight({
      stack: "local-k8s",
      read: mapReader(LOCAL_K8S),
      plainSecrets: [],
      kubeconfig: kubeconfig(CERT_USER),
      kubeconfigIsSecret: true,
      appSecrets: { raw: JSON.stringify(secrets), storedAsSecret: true },
    });

  test("DATABASE_URL and REDIS_URL are the app's to set: the accessories are external services", async () => {
    await expect(
      preflightWith({ DATABASE_URL: "postgresql://u:p@db.example.com/dc", REDIS_URL: "redis://cache:6379/0" }),
    ).resolves.toMatchObject({
      digest: DIGEST_V1,
    });
  });

  test.each(["PORT", "LISTEN_ADDRESS", "DEPLOY_ENV"])("%s is the program's: an app secret of that name is refused", async (key) => {
    await expect(preflightWith({ [key]: "x" })).rejects.toThrow(key);
  });
});

describe("the Deployment", () => {
  const cfg = loadKubeStackConfig("local-k8s", mapReader(LOCAL_K8S));
  const settings = {
    env: "local-k8s",
    namespace: cfg.kube.namespace,
    replicas: 3,
    containerPort: 8000,
    healthPath: "/healthz",
    healthIntervalSeconds: 0.5,
    healthTimeoutSeconds: 2,
    healthSuccesses: 2,
    drainSeconds: 1.5,
    stopTimeoutSeconds: 10,
    progressDeadlineSeconds: 20,
    bakeSeconds: 5.5,
    cpuRequest: "50m",
    memoryRequest: "32Mi",
    variables: { PORT: "8000", LISTEN_ADDRESS: "0.0.0.0" },
  };
  const image = `127.0.0.1:5000/deep-calm@${DIGEST_V1}`;
  const d = deploymentManifest(settings, { image, tag: "v1", digest: DIGEST_V1, envDigest: "e".repeat(64) }) as any; // eslint-disable-line @typescript-eslint/no-explicit-any

  test("starts every new pod at once and keeps every old one until new ones have been Ready for the bake window", () => {
    expect(d.spec.strategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: "100%" } });
    expect(d.spec.minReadySeconds).toBe(6);
    expect(d.spec.progressDeadlineSeconds).toBe(20);
    expect(d.spec.replicas).toBe(3);
  });

  test("runs the image by digest, gated by probes on the health path, drained by a preStop sleep", () => {
    const c = d.spec.template.spec.containers[0];
    expect(c.image).toBe(image);
    expect(c.readinessProbe).toEqual({
      httpGet: { path: "/healthz", port: "http" },
      periodSeconds: 1,
      timeoutSeconds: 2,
      failureThreshold: 1,
      successThreshold: 2,
    });
    expect(c.livenessProbe.httpGet.path).toBe("/healthz");
    expect(c.livenessProbe.successThreshold).toBe(1);
    // Kubernetes takes whole seconds: 1.5 s of drain is 2 s.
    expect(c.lifecycle).toEqual({ preStop: { sleep: { seconds: 2 } } });
    expect(d.spec.template.spec.terminationGracePeriodSeconds).toBe(12);
    expect(c.resources).toEqual({ requests: { cpu: "50m", memory: "32Mi" } });
    expect(c.envFrom).toEqual([{ secretRef: { name: "deep-calm-env" } }]);
  });

  test("the template names its release and its environment's digest (a new Secret rolls the pods)", () => {
    expect(d.spec.template.metadata.annotations).toEqual({
      "deep-calm.dev/tag": "v1",
      "deep-calm.dev/digest": DIGEST_V1,
      "deep-calm.dev/env-sha256": "e".repeat(64),
    });
  });

  test("the migration Job is named by the digest", () => {
    expect(migrationJobName(DIGEST_V1)).toBe("migrate-111111111111");
  });
});

describe("what a kubernetes stack declares (Pulumi mocks)", () => {
  async function declare(): Promise<{
    resources: { type: string; name: string; inputs: Record<string, unknown> }[];
    hooks: ReturnType<typeof allowResourceHooks>;
  }> {
    const resources: { type: string; name: string; inputs: Record<string, unknown> }[] = [];
    await pulumi.runtime.setMocks(
      {
        newResource(args) {
          resources.push({ type: args.type, name: args.name, inputs: args.inputs as Record<string, unknown> });
          const state: Record<string, unknown> = { ...args.inputs };
          if (args.type.endsWith("KubeRelease")) state.stdout = resultWith(DEPLOY_FIRST, { env: "local-k8s", tag: "v1" });
          return { id: `${args.name}-id`, state };
        },
        call(args) {
          throw new Error(`unmocked call ${args.token}`);
        },
      },
      "deep-calm-deploy",
      "local-k8s",
      true,
    );
    const hooks = allowResourceHooks();
    const read = mapReader({ ...LOCAL_K8S, kubeconfigPath: "k" });
    const kube = await kubePreflight({
      stack: "local-k8s",
      read,
      plainSecrets: [],
      kubeconfig: kubeconfig(CERT_USER),
      kubeconfigIsSecret: true,
    });
    const env = new KubeEnvironment("local-k8s", {
      ...kube,
      imageDigest: kube.digest,
      appSecrets: { raw: JSON.stringify({ API_TOKEN: "s3cr3t-app-token" }), storedAsSecret: true },
    });
    await (env.release as unknown as { promise: () => Promise<unknown> }).promise();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    await (require("@pulumi/pulumi/runtime/settings") as { waitForRPCs: () => Promise<void> }).waitForRPCs();
    return { resources, hooks };
  }

  test("namespace, Secret, Service, PDB, migration Job and the release, through the real provider's types", async () => {
    const { resources, hooks } = await declare();
    expect(resources.map((r) => `${r.type} ${r.name}`).sort()).toEqual(
      [
        "deepcalm:image:Image local-k8s-image",
        "deepcalm:stack:KubeEnvironment local-k8s",
        "kubernetes:batch/v1:Job local-k8s-migrate",
        "kubernetes:core/v1:Namespace local-k8s-namespace",
        "kubernetes:core/v1:Secret local-k8s-env",
        "kubernetes:core/v1:Service local-k8s-service",
        "kubernetes:policy/v1:PodDisruptionBudget local-k8s-pdb",
        "pulumi-nodejs:dynamic/deepcalm:KubeRelease local-k8s-release",
        "pulumi:providers:kubernetes local-k8s-cluster",
      ].sort(),
    );
    const byName = new Map(resources.map((r) => [r.name, r.inputs as any])); // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(byName.get("local-k8s-migrate").metadata.name).toBe("migrate-111111111111");
    expect(byName.get("local-k8s-service").spec.type).toBe("NodePort");
    expect(byName.get("local-k8s-service").spec.ports[0].nodePort).toBe(30080);
    // The app's secrets and the kubeconfig's key stay secret wherever they go.
    for (const r of resources)
      expect(plainStrings(r.inputs).join("\n")).not.toMatch(/s3cr3t-app-token|c2VjcmV0a2V5bWF0ZXJpYWw|BEGIN EC PRIVATE/);
    expect(isSecretValue(byName.get("local-k8s-env").stringData)).toBe(true);
    expect(hooks.registered).toEqual(expect.arrayContaining(["local-k8s-deployment-recorded", "local-k8s-deployment-failure-recorded"]));
  });
});
