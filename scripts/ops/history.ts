// Recent deploys of a stack's env, from the log that stack writes to: `npm run history -- <stack> [--limit N] [--json]`.
import { historyCommand, runMain } from "../../infra/deployment-log/commands";
import { logForStack, stackArgs } from "../lib/stack-log";

const USAGE = "npm run history -- <stack> [--limit N] [--json]";

runMain(async () => {
  const { stack, rest } = stackArgs(process.argv.slice(2), USAGE);
  const { log, env } = logForStack(stack);
  return historyCommand(log, [env, ...rest]);
});
