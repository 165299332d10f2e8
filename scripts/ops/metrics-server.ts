// Prometheus endpoint over the deployment log: `npm run metrics-server -- [--port 9464]`.
import { logFromEnvironment, metricsServerCommand, runMain } from "../../infra/deployment-log/commands";

runMain(() => metricsServerCommand(logFromEnvironment(), process.argv.slice(2)));
