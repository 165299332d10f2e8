/**
 * The accessories' update on the real host: the exact command the program runs when the compose
 * file changes (an in-place update under the real command provider, see the unit planner) keeps the
 * services' named volumes and leaves them running. The service is a stand-in built from the demo
 * image (no registry image can be pulled here) with host networking, as dockerd runs without a bridge.
 */
import { createHash } from "node:crypto";
import { accessoriesUpArgv, composeArgv, composeProjectName, makeDirsArgv, writeFileArgv } from "../../infra/compose";
import { envLayout } from "../../infra/layout";
import { renderComposeFile } from "../../infra/render";
import { HOST_ROOT, REPOSITORY, local, sshRun } from "./helpers";

jest.setTimeout(120_000);

const ENV = "itest-accessories";
const LAYOUT = envLayout(HOST_ROOT, ENV);
const PROJECT = composeProjectName(ENV);

/** A compose file like the rendered one: a named volume, restart policy, host networking. */
function composeFile(revision: string): string {
  return [
    "services:",
    "  store:",
    `    image: ${REPOSITORY}:v1`,
    "    restart: unless-stopped",
    "    network_mode: host",
    '    entrypoint: ["sh", "-c", "trap exit TERM; while :; do sleep 1; done"]',
    "    environment:",
    `      REVISION: "${revision}"`,
    "    volumes:",
    "      - store-data:/data",
    "volumes:",
    "  store-data: {}",
    "",
  ].join("\n");
}

async function upload(content: string): Promise<void> {
  const r = await sshRun(writeFileArgv(LAYOUT.composeFile, "0644"), content);
  expect(r.code).toBe(0);
}

async function inStore(script: string): Promise<string> {
  const id = (await local("docker", ["ps", "-q", "--filter", `label=com.docker.compose.project=${PROJECT}`])).stdout.trim();
  expect(id).not.toBe("");
  return (await local("docker", ["exec", id, "sh", "-c", script])).stdout.trim();
}

/** Removes the store and its volume, so that no run sees data an earlier run wrote. */
async function removeStore(): Promise<void> {
  await upload(composeFile("cleanup"));
  await sshRun(composeArgv(LAYOUT, "down", "-v", "--remove-orphans"));
}

beforeAll(async () => {
  expect((await sshRun(makeDirsArgv(LAYOUT))).code).toBe(0);
  await removeStore();
});

afterAll(async () => {
  await removeStore();
  await sshRun(["rm", "-rf", "--", LAYOUT.dir]);
});

test("a new compose file: the program's update keeps the data and the services running", async () => {
  const first = composeFile("1");
  await upload(first);
  const up = await sshRun(accessoriesUpArgv(LAYOUT, first));
  expect(up.stderr).not.toMatch(/error/i);
  expect(up.code).toBe(0);
  await inStore("echo kept > /data/marker");
  const before = await inStore("echo $REVISION");

  const second = composeFile("2");
  await upload(second);
  const update = await sshRun(accessoriesUpArgv(LAYOUT, second));
  expect(update.code).toBe(0);
  expect([before, await inStore("echo $REVISION")]).toEqual(["1", "2"]); // recreated with the new definition
  expect(await inStore("cat /data/marker")).toBe("kept");
  const running = await local("docker", ["ps", "--filter", `label=com.docker.compose.project=${PROJECT}`, "--format", "{{.Status}}"]);
  expect(running.stdout).toMatch(/^Up /);
});

test("a compose file other than the one rendered is refused before compose runs", async () => {
  const stale = await sshRun(accessoriesUpArgv(LAYOUT, composeFile("3")));
  expect(stale.code).toBe(2);
  expect(stale.stderr).toContain(
    `${LAYOUT.composeFile} is not the file this stack uploaded (sha256 ${createHash("sha256").update(composeFile("3")).digest("hex")})`,
  );
  expect(await inStore("echo $REVISION")).toBe("2");
});

test("the rendered accessories file is valid for the host's compose (Debian's is v1)", async () => {
  const rendered = renderComposeFile("dev", { postgres: { port: 5433, database: "deepcalm", user: "deepcalm" }, redis: { port: 6380 } });
  await upload(rendered);
  expect((await sshRun(writeFileArgv(LAYOUT.envFile, "0600"), "POSTGRES_PASSWORD=only-for-config\n")).code).toBe(0);
  const check = await sshRun(composeArgv(LAYOUT, "config", "-q"));
  expect(check.stderr).toBe("");
  expect(check.code).toBe(0);
});
