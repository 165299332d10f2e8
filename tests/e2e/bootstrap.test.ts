/**
 * Host bootstrap under the real engine (scripts/dev/install-engine.sh) and the local target, from
 * nothing but root's SSH access (the local target's root test key): `pulumi up` of
 * tests/fixtures/bootstrap-program creates a second deploy user (dcboot) and root
 * (/opt/deep-calm-boot) with its sudoers rule and nginx include, generates the deploy key and
 * deploys the demo image v1 with it, served through nginx on 127.0.0.1:8800. A second up changes
 * nothing; a new deployKeyRotation installs a new key and removes the old one. The private keys
 * never reach pulumi's output or the state in plain text. Everything it created is removed after.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { bootstrapArgv, bootstrapPaths, BOOTSTRAP_SCRIPT } from "../../infra/bootstrap";
import { envLayout } from "../../infra/layout";
import { releaseResultFrom } from "../../infra/release-result";
import { statusAndBody } from "../../scripts/lib/load";
import { imageDigests, local, REPO_ROOT } from "../integration/helpers";
import { FixtureProject } from "./fixture-project";

jest.setTimeout(300_000);

const USER = "dcboot";
const ROOT = "/opt/deep-calm-boot";
const LAYOUT = envLayout(ROOT, "boot");
const PATHS = bootstrapPaths(USER, ROOT);
const FRONT = "http://127.0.0.1:8800";
const ROOT_KEY = join(REPO_ROOT, ".local-target/ssh/root_ed25519");
/** How every OpenSSH private key's base64 body begins ("openssh-key-v1"). */
const OPENSSH_KEY_BODY = "b3BlbnNzaC1rZXktdjE";
let project: FixtureProject;

const up = () => project.run(["up", "--yes", "--skip-preview", "--color", "never"]);

async function outputs(): Promise<Record<string, unknown>> {
  return JSON.parse((await project.ok(["stack", "output", "--json"])).stdout) as Record<string, unknown>;
}

/** The deploy user's authorized keys, as `type base64` (comments dropped). */
async function authorizedKeys(): Promise<string[]> {
  const file = await local("sh", ["-c", `cat ~${USER}/.ssh/authorized_keys`]);
  return file.stdout
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => l.split(" ").slice(0, 2).join(" "));
}

/** Removes what the bootstrap created on this machine: only the test's own user, root and files. */
async function cleanUp(): Promise<void> {
  await local("sh", ["-c", `docker ps -aq --filter label=deep-calm.env=boot | xargs -r docker rm -f`]);
  if ((await local("id", [USER])).code === 0) {
    await local("userdel", ["--remove", USER]);
  }
  await local("rm", ["-rf", "--", ROOT, PATHS.sudoers, PATHS.nginxInclude]);
  await local("nginx", ["-s", "reload"]);
}

beforeAll(async () => {
  await cleanUp(); // what an interrupted earlier run may have left
  project = new FixtureProject("bootstrap-program", "boot", "bootstrap-probe-only");
  await project.ok(["stack", "init"]);
  await project.ok(["config", "set-all", "--plaintext", "tag=v1", "--plaintext", `digest=${imageDigests().v1}`]);
});

afterAll(async () => {
  const destroy = await project.destroy();
  // Destroy revokes the generated key; the prepared host stays (other stacks may use it).
  const left = await authorizedKeys();
  await cleanUp();
  project.remove();
  expect(destroy.status === 0 ? "" : destroy.out).toBe("");
  expect(left).toEqual([]);
});

test("an admin key in plain text, or none, is refused at preview", async () => {
  let run = await project.run(["preview", "--color", "never"]);
  expect(run.status).not.toBe(0);
  expect(run.out).toContain('adminSshPrivateKey: "" is not allowed; bootstrap: true connects as the admin');
  await project.ok(["config", "set", "adminSshPrivateKey"], "not-a-key-in-plain-text");
  run = await project.run(["preview", "--color", "never"]);
  expect(run.status).not.toBe(0);
  expect(run.out).toContain("adminSshPrivateKey: [secret] is not allowed; it is stored in plain text");
  expect(run.out).not.toContain("not-a-key-in-plain-text");
  // The real key, on stdin.
  await project.ok(["config", "set", "--secret", "adminSshPrivateKey"], readFileSync(ROOT_KEY, "utf8"));
});

test("pulumi up from root access only: user, sudoers, nginx include, root; v1 released with the generated key", async () => {
  expect((await local("id", [USER])).code).not.toBe(0);
  const started = Date.now();
  const run = await up();
  expect(run.status === 0 ? "" : run.out).toBe("");
  console.log(`first up (bootstrap and release): ${Date.now() - started} ms`);
  expect(run.out).not.toContain(OPENSSH_KEY_BODY);

  expect((await local("id", ["-nG", USER])).stdout.split(/\s+/)).toContain("docker");
  expect((await local("stat", ["-c", "%U %a", ROOT])).stdout.trim()).toBe(`${USER} 755`);
  expect(readFileSync(PATHS.sudoers, "utf8")).toContain(`${USER} ALL=(root) NOPASSWD: /usr/sbin/nginx -t, /usr/sbin/nginx -s reload`);
  expect(readFileSync(PATHS.nginxInclude, "utf8")).toContain(`include ${ROOT}/*/nginx/enabled.conf;`);
  // The release ran as the new user, over the generated key (the only key it has).
  expect((await local("stat", ["-c", "%U", LAYOUT.deployLog])).stdout.trim()).toBe(USER);
  const out = await outputs();
  expect(await authorizedKeys()).toEqual([String(out.deployPublicKey).split(" ").slice(0, 2).join(" ")]);
  expect(releaseResultFrom(out.result).tag).toBe("v1");
  expect(String(out.bootstrapped)).toContain(`user ${USER}`);
  expect(String(out.bootstrapped)).toContain(`${PATHS.sudoers}; ${ROOT} owned by ${USER}; nginx includes ${ROOT}/*/nginx/enabled.conf`);
  expect(await statusAndBody(`${FRONT}/version`)).toBe("200 v1");
});

test("a second pulumi up changes nothing", async () => {
  const run = await up();
  expect(run.status === 0 ? "" : run.out).toBe("");
  const history = JSON.parse((await project.ok(["stack", "history", "--json"])).stdout) as {
    resourceChanges?: Record<string, number>;
  }[];
  const changes = history[0]?.resourceChanges ?? {};
  expect(Object.keys(changes).filter((op) => op !== "same")).toEqual([]);
  expect(changes.same).toBeGreaterThan(0);
  // On the host too: the bootstrap run again finds nothing to change.
  const [cmd, ...args] = bootstrapArgv(readFileSync(BOOTSTRAP_SCRIPT, "utf8"), USER, ROOT);
  const again = await local(cmd ?? "sh", args);
  expect(again.stdout.trim()).toBe("dc-bootstrap: nothing to change");
});

test("the state holds the private keys only encrypted", async () => {
  const state = (await project.ok(["stack", "export"])).stdout;
  // Every OpenSSH private key's body starts with base64("openssh-key-v1"); the state has the
  // header only as text of the key provider's serialized code.
  expect(state).not.toContain(OPENSSH_KEY_BODY);
  const rootKeyBody = readFileSync(ROOT_KEY, "utf8").split("\n")[1] ?? "";
  expect(rootKeyBody.length).toBeGreaterThan(20);
  expect(state).not.toContain(rootKeyBody);
  const resources = (JSON.parse(state) as { deployment: { resources: { type: string; outputs?: Record<string, unknown> }[] } }).deployment
    .resources;
  const key = resources.find((r) => r.type === "pulumi-nodejs:dynamic/deepcalm:DeployKey");
  expect(Object.keys(key?.outputs?.privateKey as object)).toEqual(["4dabf18193072939515e22adb298388d", "ciphertext"]);
});

test("a new deployKeyRotation installs a new key and removes the old one; v1 keeps serving", async () => {
  const before = String((await outputs()).deployPublicKey);
  await project.ok(["config", "set", "rotation", "2"]);
  const started = Date.now();
  const run = await up();
  expect(run.status === 0 ? "" : run.out).toBe("");
  console.log(`rotation up: ${Date.now() - started} ms`);
  expect(run.out).not.toContain(OPENSSH_KEY_BODY);
  const after = String((await outputs()).deployPublicKey);
  expect(after).not.toBe(before);
  expect(await authorizedKeys()).toEqual([after.split(" ").slice(0, 2).join(" ")]);
  expect(await statusAndBody(`${FRONT}/version`)).toBe("200 v1");
  // And the next up is a no-op again.
  expect((await up()).status).toBe(0);
  const history = JSON.parse((await project.ok(["stack", "history", "--json"])).stdout) as { resourceChanges?: Record<string, number> }[];
  expect(Object.keys(history[0]?.resourceChanges ?? {}).filter((op) => op !== "same")).toEqual([]);
});
