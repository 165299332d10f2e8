// DORA metrics from the deployment log: `npm run metrics -- [--env dev] [--days 30] [--json]`.
import { logFromEnvironment, metricsCommand, runMain } from "../infra/deployment-log/commands";

runMain(() => metricsCommand(logFromEnvironment(), process.argv.slice(2)));
