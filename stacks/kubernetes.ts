import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import { AppSecretsConfig, parseAppSecrets } from "../infra/app-secrets";
import { recordingHooks } from "../infra/deployment-log/recording";
import { Image } from "../infra/image";
import { type KubeAccess } from "../infra/kube/access";
import { APP_NAME, appLabels, deploymentManifest, ENV_SECRET, migrationJobName, selectorLabels } from "../infra/kube/manifests";
import { KubeRelease } from "../infra/kube/release";
import { parseReleaseResult, type ReleaseResult } from "../infra/release-result";
import { validateFor } from "../infra/validate-for";
import { type EnvironmentOutputs, recordingOf } from "./environment";
import { type KubeStackConfig } from "./kube-config";

export interface KubeEnvironmentArgs {
  cfg: KubeStackConfig;
  /** The cluster's kubeconfig (checked by loadKubeconfig), and what it gives access to. */
  kubeconfig: string;
  access: KubeAccess;
  /** The image's digest, pinned before anything was declared (stacks/preflight.ts). */
  imageDigest: string;
  deploymentLogDatabaseUrl?: pulumi.Input<string>;
  telegramBotToken?: pulumi.Input<string>;
  appSecrets?: AppSecretsConfig;
}

/**
 * Variables a pod gets from the program; an app secret may not shadow one. Unlike a host's
 * (PROGRAM_VARIABLES), DATABASE_URL and REDIS_URL are not among them: on Kubernetes the
 * accessories are external services, whose URLs the app gets as app secrets.
 */
export const KUBE_PROGRAM_VARIABLES = ["DEPLOY_ENV", "PORT", "LISTEN_ADDRESS"];

/** The app secrets of a kubernetes stack, checked against its appEnvironment and the program's variables. */
export function kubeAppSecrets(
  cfg: Pick<KubeStackConfig, "appEnvironment">,
  appSecrets: AppSecretsConfig | undefined,
): Record<string, string> {
  return parseAppSecrets(appSecrets, [...Object.keys(cfg.appEnvironment), ...KUBE_PROGRAM_VARIABLES]);
}

/** The app's environment: the stack's entries, DEPLOY_ENV, and the app secrets (all in one Secret). */
function appEnvironment(args: KubeEnvironmentArgs): Record<string, string> {
  const { cfg } = args;
  return { ...cfg.appEnvironment, DEPLOY_ENV: cfg.profile.env, ...kubeAppSecrets(cfg, args.appSecrets) };
}

/**
 * One environment of DeepCalm on a Kubernetes cluster: the same image pinned by digest, the same
 * gate, bake and recording as on a host, with Kubernetes doing the scheduling. The cluster's
 * objects are declared with @pulumi/kubernetes; the Deployment's rollout is the KubeRelease's.
 */
export class KubeEnvironment extends pulumi.ComponentResource implements EnvironmentOutputs {
  public readonly url: string;
  public readonly imageRef: pulumi.Output<string>;
  public readonly digest: pulumi.Output<string>;
  public readonly release: pulumi.Output<ReleaseResult>;

  constructor(name: string, args: KubeEnvironmentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("deepcalm:stack:KubeEnvironment", name, {}, opts);
    const { cfg } = args;
    const env = cfg.profile.env;
    const { namespace } = cfg.kube;
    const labels = appLabels(env);
    this.url = cfg.publicUrl;

    const image = new Image(
      `${env}-image`,
      {
        registry: cfg.image.registry,
        repository: cfg.image.repository,
        tag: cfg.image.tag,
        digestSource: "config",
        digest: args.imageDigest,
      },
      { parent: this },
    );
    this.imageRef = image.ref;
    this.digest = image.digest;
    const pinned = image.digest.apply((d) => `${cfg.image.registry}/${cfg.image.repository}@${d}`);

    const cluster = new k8s.Provider(
      `${env}-cluster`,
      { kubeconfig: pulumi.secret(args.kubeconfig), enableServerSideApply: true },
      { parent: this },
    );
    const inCluster = { parent: this, provider: cluster };
    const ns = new k8s.core.v1.Namespace(`${env}-namespace`, { metadata: { name: namespace, labels } }, inCluster);
    const scoped = { ...inCluster, dependsOn: [ns] };

    const variables = validateFor(this, () => appEnvironment(args));
    const envDigest = createHash("sha256")
      .update(JSON.stringify(Object.entries(variables).sort()))
      .digest("hex");
    const secret = new k8s.core.v1.Secret(
      `${env}-env`,
      { metadata: { name: ENV_SECRET, namespace, labels }, type: "Opaque", stringData: pulumi.secret(variables) },
      scoped,
    );

    const { release: r, kube } = cfg;
    const settings = {
      env,
      namespace,
      replicas: kube.replicas,
      containerPort: kube.containerPort,
      healthPath: r.healthPath,
      healthIntervalSeconds: r.healthIntervalSeconds,
      healthTimeoutSeconds: r.healthTimeoutSeconds,
      healthSuccesses: r.healthSuccesses,
      drainSeconds: r.drainSeconds,
      stopTimeoutSeconds: r.stopTimeoutSeconds,
      progressDeadlineSeconds: kube.progressDeadlineSeconds,
      bakeSeconds: r.bakeSeconds,
      cpuRequest: kube.cpuRequest,
      memoryRequest: kube.memoryRequest,
      variables: { PORT: String(kube.containerPort), LISTEN_ADDRESS: "0.0.0.0" },
    };

    // Migrations: a Job per digest, which the provider waits for; a failed one fails the up before the rollout.
    const migrations: pulumi.Resource[] = [];
    if (r.migrateCommand !== "") {
      migrations.push(
        new k8s.batch.v1.Job(
          `${env}-migrate`,
          {
            metadata: { name: image.digest.apply(migrationJobName), namespace, labels },
            spec: {
              backoffLimit: 0,
              activeDeadlineSeconds: r.migrateTimeoutSeconds,
              template: {
                // Not the app's labels: the Service would send requests to a migration's pod.
                metadata: { labels: { ...labels, "app.kubernetes.io/name": "deep-calm-migrate", "deep-calm.dev/role": "migrate" } },
                spec: {
                  restartPolicy: "Never",
                  containers: [
                    {
                      name: "migrate",
                      image: pinned,
                      command: ["/bin/sh", "-c", r.migrateCommand],
                      env: Object.entries(settings.variables).map(([n, value]) => ({ name: n, value })),
                      envFrom: [{ secretRef: { name: ENV_SECRET } }],
                    },
                  ],
                },
              },
            },
          },
          { ...scoped, dependsOn: [ns, secret], deleteBeforeReplace: false },
        ),
      );
    }

    // A node drain (an upgrade of the cluster) keeps at least one pod serving.
    new k8s.policy.v1.PodDisruptionBudget(
      `${env}-pdb`,
      {
        metadata: { name: APP_NAME, namespace, labels },
        spec: {
          selector: { matchLabels: selectorLabels(env) },
          ...(kube.replicas > 1 ? { minAvailable: kube.replicas - 1 } : { maxUnavailable: 1 }),
        },
      },
      scoped,
    );

    const release = new KubeRelease(
      `${env}-release`,
      {
        access: args.access,
        env,
        namespace,
        tag: cfg.image.tag.tag,
        digest: image.digest,
        repository: `${cfg.image.registry}/${cfg.image.repository}`,
        manifest: pulumi
          .all([pinned, image.digest])
          .apply(([ref, digest]) => deploymentManifest(settings, { image: ref, tag: cfg.image.tag.tag, digest, envDigest })),
        bakeSeconds: r.bakeSeconds,
      },
      { parent: this, dependsOn: [secret, ...migrations], hooks: recordingHooks(recordingOf(cfg, args)) },
    );
    const service = new k8s.core.v1.Service(
      `${env}-service`,
      {
        metadata: { name: APP_NAME, namespace, labels },
        spec: {
          type: kube.ingressClass === "" ? "NodePort" : "ClusterIP",
          selector: selectorLabels(env),
          ports: [
            {
              name: "http",
              port: 80,
              targetPort: "http",
              ...(kube.ingressClass === "" && kube.nodePort !== 0 ? { nodePort: kube.nodePort } : {}),
            },
          ],
        },
      },
      // After the release: the provider waits until a Service has endpoints, which are the release's pods.
      { ...scoped, dependsOn: [ns, release] },
    );
    if (kube.ingressClass !== "") {
      new k8s.networking.v1.Ingress(
        `${env}-ingress`,
        {
          metadata: { name: APP_NAME, namespace, labels },
          spec: {
            ingressClassName: kube.ingressClass,
            rules: [
              {
                ...(kube.serverName === "_" ? {} : { host: kube.serverName }),
                http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: APP_NAME, port: { name: "http" } } } }] },
              },
            ],
          },
        },
        { ...scoped, dependsOn: [service] },
      );
    }
    this.release = release.stdout.apply(parseReleaseResult);
    this.registerOutputs({ url: this.url, imageRef: this.imageRef, digest: this.digest, release: this.release });
  }
}
