// A self-contained HTML report of a stack's env: `npm run report -- <stack> [--out FILE] [--days 30]`.
import { reportCommand, runMain } from "../../infra/deployment-log/commands";
import { logForStack, stackArgs } from "../lib/stack-log";

const USAGE = "npm run report -- <stack> [--out FILE] [--days N]";

runMain(async () => {
  const { stack, rest } = stackArgs(process.argv.slice(2), USAGE);
  const { log, env } = logForStack(stack);
  return `wrote ${await reportCommand(log, [...rest, "--env", env])}`;
});
