/**
 * `npm run status -- <stack> [--json]`: what the stack's host serves, and whether that is healthy
 * and what the stack expects. One SSH call per host runs `dc-release status` with the stack's own
 * options and its front (--front-url, --auth-file where the env has basic auth): the serving tag and
 * digest and since when, one probe direct and one through nginx, the retained releases and the warm
 * old one, the lock's holder, deploy.log's last line. The stack's expectation is its config's
 * imageTag and its outputs `image`, `digest` and `release` (scripts/lib/status-report.ts compares).
 *
 * Exit: 0 healthy and in sync | 1 unhealthy | 3 healthy but drifted | 2 could not look (bad
 * arguments, config, SSH, a refused status line).
 *
 * Time: the stack's config and outputs are read (two pulumi CLI runs) while the command loads the
 * program's config loader, which brings the Pulumi SDK (the slowest part, so Node's compile cache
 * is on); then one SSH call.
 */
import { enableCompileCache } from "node:module";
import { pulumiAsync, type PulumiRun } from "../lib/pulumi";
import { type HostStatus, hostStatus, overallExit, renderTable, STATUS_EXIT } from "../lib/status-report";

const USAGE = "usage: npm run status -- <stack> [--json]";

// V8's code cache (in the OS temp directory) for what Node compiles, from the second run on: the
// Pulumi SDK loads in about half the time.
enableCompileCache?.();

async function main(argv: string[]): Promise<number> {
  const started = Date.now();
  const [stack] = argv;
  if (stack === undefined || stack.startsWith("-")) {
    throw new Error(USAGE);
  }
  // Under way while the loader loads; an unknown stack is refused right after, naming the stacks.
  const outputsRun = pulumiAsync(stack, ["stack", "output", "--json"]);
  const configRun = pulumiAsync(stack, ["config", "--json", "--show-secrets"], { config: true });
  const lib = await import("../lib/status-stack");
  const { json } = lib.parseArgs(argv);
  const config = await configRun;
  if (config.status !== 0) {
    throw new Error(`cannot read the config of stack ${stack}: ${config.stderr.trim() || `pulumi exited ${config.status}`}`);
  }
  const { entry, read } = lib.configEntries(config.stdout);
  if (read("runtime") === "kubernetes") {
    return kubernetesStatus(stack, json, started, read, entry("kubeconfig"), outputsRun);
  }
  const { cfg, host } = lib.stackFromConfig(stack, config.stdout);
  const command = lib.statusArgv(cfg.profile.env, lib.statusSettings(cfg));
  const [seen, outputs] = await Promise.all([lib.withSshTarget(host, (target) => lib.readStatus(target, command)), outputsRun]);
  const hosts = [hostStatus(seen.where, seen.status, lib.expectationFrom(stack, cfg.image.tag.tag, stackOutputs(outputs)))];
  return report(stack, cfg.profile.env, json, started, hosts);
}

/** The stack's outputs; none (never deployed) read as nothing deployed. */
function stackOutputs(outputs: PulumiRun): Record<string, unknown> {
  return outputs.status === 0 && outputs.stdout.trim() !== "" ? (JSON.parse(outputs.stdout) as Record<string, unknown>) : {};
}

function report(stack: string, env: string, json: boolean, started: number, hosts: HostStatus[]): number {
  const exitCode = overallExit(hosts);
  const durationMs = Date.now() - started;
  if (json) {
    console.log(JSON.stringify({ stack, env, exitCode, durationMs, hosts }));
  } else {
    console.log(renderTable(hosts, exitCode));
    console.log(`(${durationMs} ms)`);
  }
  return exitCode;
}

/** runtime kubernetes: the same report, from the cluster's API (scripts/lib/kube-status.ts). */
async function kubernetesStatus(
  stack: string,
  json: boolean,
  started: number,
  read: (key: string) => unknown,
  kubeconfig: { value?: unknown; secret?: boolean } | undefined,
  outputsRun: Promise<PulumiRun>,
): Promise<number> {
  const [kube, lib] = await Promise.all([import("../lib/kube-status"), import("../lib/status-stack")]);
  const { cfg, access } = kube.kubeStackFromConfig(stack, read, kubeconfig);
  const seen = await kube.clusterStatus(cfg, access, lib.expectationFrom(stack, cfg.image.tag.tag, stackOutputs(await outputsRun)));
  return report(stack, cfg.profile.env, json, started, [seen]);
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : String(err));
      process.exitCode = STATUS_EXIT.failed;
    },
  );
}
