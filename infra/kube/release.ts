/**
 * The app's release on a Kubernetes cluster, as a resource: it owns the Deployment and rolls it
 * (./rollout.ts), so that a release that never gets ready fails `pulumi up` and leaves both the
 * cluster and this resource's state on the previous release. (The Kubernetes provider's own
 * Deployment would stop at ProgressDeadlineExceeded with the failed template applied and in its
 * state: its Update answers an await error with a partial error carrying the live object, which
 * the engine checkpoints, in pulumi-kubernetes provider/v4 pkg/provider/provider.go. Kubernetes
 * does not undo it either.) A failed update here throws a plain Error, which the engine takes as
 * a failed operation that leaves the resource's state as it was. Its `stdout` is the host's result line, so the same
 * deployment-log hooks record it; the rest of the env (Namespace, Secret, Service, Ingress,
 * PodDisruptionBudget, migration Job) is declared with @pulumi/kubernetes (stacks/kubernetes.ts).
 */
import * as pulumi from "@pulumi/pulumi";
import { kubeClient, type KubeAccess } from "./access";
import { removeDeployment, rollout, type RolloutRequest } from "./rollout";

export interface KubeReleaseInputs {
  access: KubeAccess;
  env: string;
  namespace: string;
  tag: string;
  digest: string;
  repository: string;
  /** The Deployment to apply (manifests.ts). */
  manifest: Record<string, unknown>;
  bakeSeconds: number;
}

interface KubeReleaseOutputs extends KubeReleaseInputs {
  /** The result line, as dc-release prints it on a host. */
  stdout: string;
}

function request(inputs: KubeReleaseInputs, previous?: Record<string, unknown>): RolloutRequest {
  const { env, namespace, tag, digest, repository, manifest, bakeSeconds } = inputs;
  return { env, namespace, tag, digest, repository, manifest, bakeSeconds, ...(previous ? { previous } : {}) };
}

const provider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: KubeReleaseInputs) {
    const result = await rollout(kubeClient(inputs.access), request(inputs));
    return { id: `${inputs.namespace}/deep-calm`, outs: { ...inputs, stdout: JSON.stringify(result) } };
  },
  async diff(_id: string, olds: KubeReleaseOutputs, news: KubeReleaseInputs) {
    const keys = ["env", "tag", "digest", "repository", "manifest", "bakeSeconds", "access"] as const;
    const changed = keys.filter((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
    // Another namespace is another Deployment: the old one goes first, as a host env that moves.
    const replaces = olds.namespace !== news.namespace ? ["namespace"] : [];
    return { changes: changed.length > 0 || replaces.length > 0, replaces, deleteBeforeReplace: true };
  },
  async update(_id: string, olds: KubeReleaseOutputs, news: KubeReleaseInputs) {
    const result = await rollout(kubeClient(news.access), request(news, olds.manifest));
    return { outs: { ...news, stdout: JSON.stringify(result) } };
  },
  async delete(_id: string, props: KubeReleaseOutputs) {
    await removeDeployment(kubeClient(props.access), props.namespace);
  },
};

export interface KubeReleaseArgs {
  access: pulumi.Input<KubeAccess>;
  env: string;
  namespace: string;
  tag: string;
  digest: pulumi.Input<string>;
  repository: string;
  manifest: pulumi.Input<Record<string, unknown>>;
  bakeSeconds: number;
}

export class KubeRelease extends pulumi.dynamic.Resource {
  declare public readonly stdout: pulumi.Output<string>;

  constructor(name: string, args: KubeReleaseArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      { ...args, access: pulumi.secret(args.access), stdout: undefined },
      { ...opts, additionalSecretOutputs: ["access"] },
      "deepcalm",
      "KubeRelease",
    );
  }
}
