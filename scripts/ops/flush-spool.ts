// Writes a stack's records spooled while Postgres was unreachable, to the log that stack writes to:
// `npm run flush-spool -- <stack> [--json]`. The spool is the stack's deploymentLogSpool, taken from
// the project directory, so this is the file the program spooled to.
import { flushCommand, runMain } from "../../infra/deployment-log/commands";
import { logForStack, stackArgs } from "../lib/stack-log";

const USAGE = "npm run flush-spool -- <stack> [--json]";

runMain(async () => {
  const { stack, rest } = stackArgs(process.argv.slice(2), USAGE);
  return flushCommand(logForStack(stack).log, rest);
});
