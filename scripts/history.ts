// Recent deploys of one environment: `npm run history -- dev [--limit N] [--json]`.
import { historyCommand, logFromEnvironment, runMain } from "../infra/deployment-log/commands";

runMain(() => historyCommand(logFromEnvironment(), process.argv.slice(2)));
