// DORA metrics of a stack's env, from the log that stack writes to: `npm run metrics -- <stack> [--days 30] [--json]`.
import { metricsCommand, runMain } from "../../infra/deployment-log/commands";
import { logForStack, stackArgs } from "../lib/stack-log";

const USAGE = "npm run metrics -- <stack> [--days N] [--json]";

runMain(async () => {
  const { stack, rest } = stackArgs(process.argv.slice(2), USAGE);
  const { log, env } = logForStack(stack);
  return metricsCommand(log, [...rest, "--env", env]);
});
