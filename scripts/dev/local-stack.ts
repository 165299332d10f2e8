/**
 * The machine stacks' environment for shell scripts (local, local-k8s), from the one definition in lib/pulumi.ts:
 * creates the stack on first use, then prints `export NAME=value` lines for `eval`
 * (scripts/dev/pulumi-local.sh does that). Nothing secret is printed: the passphrase guards only
 * this machine's throwaway stack.
 */
import { shellQuote } from "../../infra/quote";
import { ensureLocalStack, LOCAL_STACK, MACHINE_STACKS, machineConfigFile, stackContext } from "../lib/pulumi";

for (const stack of MACHINE_STACKS) ensureLocalStack(stackContext(stack).env, stack);
const exports: Record<string, string> = {
  PULUMI_BACKEND_URL: LOCAL_STACK.backendUrl,
  PULUMI_CONFIG_PASSPHRASE: LOCAL_STACK.passphrase,
  LOCAL_CONFIG: LOCAL_STACK.configFile,
  LOCAL_K8S_CONFIG: machineConfigFile("local-k8s"),
};
for (const [name, value] of Object.entries(exports)) {
  process.stdout.write(`export ${name}=${shellQuote(value)}\n`);
}
