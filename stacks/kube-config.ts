/**
 * The config of a stack with `runtime: kubernetes` (README: When one server is not enough): what
 * it shares with a host stack (the image, the release settings, recording), and the cluster's
 * own keys. Checked as a whole before anything is declared, like the host's.
 */
import { ConfigValueError, showValue } from "../infra/errors";
import { type KubeAccess, kubeAccess } from "../infra/kube/access";
import { type ReleaseSettings } from "../infra/release";
import { releaseSettingsFrom } from "../infra/release-options";
import * as v from "../infra/validate";
import {
  ConfigReader,
  FileReader,
  fileContent,
  imageSettings,
  profileFor,
  readProjectFile,
  recordingSettings,
  serverName,
  StackConfig,
} from "./config";

export type Runtime = "host" | "kubernetes";

export function runtimeOf(read: ConfigReader): Runtime {
  return v.oneOf("runtime", read("runtime") ?? "host", ["host", "kubernetes"]);
}

export interface KubeSettings {
  namespace: string;
  replicas: number;
  containerPort: number;
  /** Empty: no Ingress; the Service is a NodePort. */
  ingressClass: string;
  serverName: string;
  /** 0: the cluster picks. */
  nodePort: number;
  progressDeadlineSeconds: number;
  cpuRequest: string;
  memoryRequest: string;
}

export interface KubeStackConfig extends Pick<
  StackConfig,
  "profile" | "image" | "publicUrl" | "appEnvironment" | "telegramChatId" | "telegramApiUrl" | "deploymentLog"
> {
  release: ReleaseSettings;
  kube: KubeSettings;
}

const QUANTITY = /^([0-9]+(\.[0-9]+)?)(m|k|M|G|Ki|Mi|Gi)?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function quantity(key: string, value: unknown): string {
  if (typeof value !== "string" || !QUANTITY.test(value)) {
    throw new ConfigValueError(key, showValue(value, false), "use a Kubernetes quantity such as 100m, 0.5, 128Mi or 1Gi");
  }
  return value;
}

/**
 * Host-only switches a kubernetes stack must not turn on: they would silently do nothing. (The
 * host's `accessories`, on by default, is not read: on Kubernetes Postgres and Redis are external
 * services whose DATABASE_URL and REDIS_URL the app gets as appSecrets.)
 */
const HOST_ONLY: { key: string; off: unknown; why: string }[] = [
  { key: "bootstrap", off: false, why: "a cluster has no host to bootstrap" },
  { key: "maintenance", off: false, why: "maintenance mode is built for the host's nginx; not yet for Kubernetes" },
];

export function loadKubeStackConfig(stack: string, read: ConfigReader): KubeStackConfig {
  const profile = profileFor(stack);
  const get = (key: string, fallback?: unknown) => read(key) ?? fallback;
  if (profile.basicAuth) {
    throw new ConfigValueError(
      "runtime",
      showValue("kubernetes", false),
      `the ${profile.env} environment has basic auth in front of it, which the Kubernetes runtime does not put in front of an Ingress yet: use runtime host`,
    );
  }
  for (const { key, off, why } of HOST_ONLY) {
    const value = get(key, off);
    if (value !== off) throw new ConfigValueError(key, showValue(value, false), `${why}; unset it for runtime kubernetes`);
  }
  const publicUrl = v.httpUrl("publicUrl", get("publicUrl", ""));
  const namespace = String(get("kubeNamespace", "")) || `deep-calm-${profile.env}`;
  if (!DNS_LABEL.test(namespace)) {
    throw new ConfigValueError(
      "kubeNamespace",
      showValue(namespace, false),
      "use a DNS label: lowercase letters, digits and -, at most 63",
    );
  }
  const ingressClass = String(get("kubeIngressClass", ""));
  if (ingressClass !== "" && !DNS_LABEL.test(ingressClass)) {
    throw new ConfigValueError(
      "kubeIngressClass",
      showValue(ingressClass, false),
      "use the name of an IngressClass (kubectl get ingressclass), or empty",
    );
  }
  const nodePort = v.integerIn("kubeNodePort", get("kubeNodePort", 0), 0, 32767);
  if (nodePort !== 0 && nodePort < 30000) {
    throw new ConfigValueError(
      "kubeNodePort",
      showValue(nodePort, false),
      "use a port from 30000 to 32767 (the cluster's node port range), or 0",
    );
  }
  return {
    profile,
    image: imageSettings(profile, get),
    // The host's gate settings are the pods' probes, drain and bake here; frontUrl is not used.
    release: releaseSettingsFrom(get, { frontUrl: publicUrl, authFile: () => undefined }),
    publicUrl,
    ...recordingSettings(get),
    kube: {
      namespace,
      replicas: v.integerIn("kubeReplicas", get("kubeReplicas", 2), 1, 100),
      containerPort: v.port("kubeContainerPort", get("kubeContainerPort", 8000)),
      ingressClass,
      serverName: serverName("serverName", get("serverName")),
      nodePort,
      progressDeadlineSeconds: v.integerIn("kubeProgressDeadline", get("kubeProgressDeadline", 120), 10, 3600),
      cpuRequest: quantity("kubeCpuRequest", get("kubeCpuRequest", "100m")),
      memoryRequest: quantity("kubeMemoryRequest", get("kubeMemoryRequest", "128Mi")),
    },
  };
}

/**
 * The cluster's kubeconfig: the secret `kubeconfig`, or the file `kubeconfigPath`. Stored in plain
 * text in the stack file it is refused, like the deploy key. Returns it with what it gives access to.
 */
export function loadKubeconfig(
  read: ConfigReader,
  inline: string | undefined,
  storedAsSecret: boolean,
  readFile: FileReader = readProjectFile,
): { kubeconfig: string; access: KubeAccess } {
  const path = read("kubeconfigPath") ?? "";
  if (inline !== undefined && inline !== "") {
    if (!storedAsSecret) {
      throw new ConfigValueError(
        "kubeconfig",
        "[secret]",
        "it is stored in plain text: set it again with `kubectl config view --raw --flatten --minify | pulumi config set --secret kubeconfig`",
      );
    }
    return { kubeconfig: inline, access: kubeAccess("kubeconfig", inline) };
  }
  if (typeof path === "string" && path !== "") {
    const content = fileContent("kubeconfigPath", path, readFile);
    return { kubeconfig: content, access: kubeAccess("kubeconfigPath", content) };
  }
  throw new ConfigValueError(
    "kubeconfig",
    "(missing)",
    "runtime kubernetes needs the cluster's kubeconfig: `kubectl config view --raw --flatten --minify | pulumi config set --secret kubeconfig`",
  );
}
