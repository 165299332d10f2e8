import { runStack } from "./harness";

test("local stack resources", async () => {
  const run = await runStack("local");
  console.log(run.resources.map((r) => `${r.type} ${r.name}`).join("\n"));
  console.log(JSON.stringify(run.resources.find((r) => r.name === "local-release-deploy")?.inputs, null, 1));
});
