// Applies the deployment log's migrations: `npm run deployments:migrate`.
import { logFromEnvironment, runMain } from "../../infra/deployment-log/commands";

runMain(async () => {
  const applied = await logFromEnvironment().migrate();
  return applied.length === 0 ? "deployment log schema is up to date" : `applied ${applied.join(", ")}`;
});
