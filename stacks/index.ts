/**
 * deep-calm-deploy: one environment per stack (dev, test, prod, local). Config is read and
 * validated and the image's digest pinned first (preflight); then the environment is declared;
 * its URL, image and release are exported.
 */
import * as pulumi from "@pulumi/pulumi";
import { appSecretsFromEngine } from "./app-secrets";
import { pulumiReader } from "./config";
import { DeepCalmEnvironment, type EnvironmentOutputs } from "./environment";
import { runtimeOf } from "./kube-config";
import { KubeEnvironment } from "./kubernetes";
import { asRunError, kubePreflight, preflight } from "./preflight";
import { loadConfigSchema } from "./schema";

/** The runtime knows which config keys arrived encrypted; the SDK does not type this helper. */
function isConfigSecret(key: string): boolean {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const runtimeConfig = require("@pulumi/pulumi/runtime/config") as { isConfigSecret?: (k: string) => boolean };
  return runtimeConfig.isConfigSecret?.(key) ?? false;
}

const config = new pulumi.Config();
const keyName = `${pulumi.getProject()}:sshPrivateKey`;
const adminKeyName = `${pulumi.getProject()}:adminSshPrivateKey`;
const kubeconfigName = `${pulumi.getProject()}:kubeconfig`;
/** Secret keys whose value sits in plain text in the stack file: refused before anything runs. */
const plainSecrets = ["deploymentLogDatabaseUrl", "telegramBotToken"].filter((key) => {
  const full = `${pulumi.getProject()}:${key}`;
  return (pulumi.runtime.getConfig(full) ?? "") !== "" && !isConfigSecret(full);
});
const checked = {
  stack: pulumi.getStack(),
  read: pulumiReader(config, loadConfigSchema()),
  // Read plainly only to validate it before anything is declared; it is wrapped as a secret at once.
  sshPrivateKey: pulumi.runtime.getConfig(keyName),
  sshPrivateKeyIsSecret: isConfigSecret(keyName),
  // The bootstrap's admin key, the same way: validated, then only ever a secret.
  adminSshPrivateKey: pulumi.runtime.getConfig(adminKeyName),
  adminSshPrivateKeyIsSecret: isConfigSecret(adminKeyName),
  plainSecrets,
  appSecrets: appSecretsFromEngine(isConfigSecret),
};

/** The stack's outputs, the same on both runtimes. */
function outputsOf(environment: EnvironmentOutputs) {
  return { url: environment.url, image: environment.imageRef, digest: environment.digest, release: environment.release };
}

/** The stack's runtime; a bad value fails the program with its message alone. */
function runtimeOrRefusal(): "host" | "kubernetes" {
  try {
    return runtimeOf(checked.read);
  } catch (err) {
    throw asRunError(err);
  }
}

/**
 * The entry is async so that whatever can refuse the stack (config, deploy key, the tag in the
 * registry) fails in preflight, before any resource is declared, with its message alone. What
 * it returns are the stack's outputs.
 */
export = async () => {
  if (runtimeOrRefusal() === "kubernetes") {
    const kube = await kubePreflight({
      ...checked,
      kubeconfig: pulumi.runtime.getConfig(kubeconfigName),
      kubeconfigIsSecret: isConfigSecret(kubeconfigName),
    });
    const environment = new KubeEnvironment(checked.stack, {
      ...kube,
      imageDigest: kube.digest,
      appSecrets: checked.appSecrets,
      deploymentLogDatabaseUrl: config.getSecret("deploymentLogDatabaseUrl"),
      telegramBotToken: config.getSecret("telegramBotToken"),
    });
    return outputsOf(environment);
  }
  const { digest } = await preflight(checked);
  const environment = new DeepCalmEnvironment(checked.stack, {
    ...checked,
    imageDigest: digest,
    deploymentLogDatabaseUrl: config.getSecret("deploymentLogDatabaseUrl"),
    telegramBotToken: config.getSecret("telegramBotToken"),
  });
  return outputsOf(environment);
};
