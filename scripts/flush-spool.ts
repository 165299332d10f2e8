// Writes records spooled while Postgres was unreachable: `npm run flush-spool -- [--json]`.
import { flushCommand, logFromEnvironment, runMain } from "../infra/deployment-log/commands";

runMain(() => flushCommand(logFromEnvironment(), process.argv.slice(2)));
