// A self-contained HTML report: `npm run report -- [--out FILE] [--env dev] [--days 30]`.
import { logFromEnvironment, reportCommand, runMain } from "../infra/deployment-log/commands";

runMain(async () => `wrote ${await reportCommand(logFromEnvironment(), process.argv.slice(2))}`);
