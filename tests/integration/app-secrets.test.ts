/**
 * App secrets on the local target: the files the program uploads (with the program's own
 * renderers and command lines, values on stdin) reach a release dc-release starts, byte for byte,
 * in its environment or as read-only files; the host keeps them 0600/0400; no log holds them; a
 * rewrite leaves the serving release's files alone and the next release gets the new ones.
 */
import { randomBytes } from "crypto";
import { renderAppSecretsEnv, renderSecretFiles, writeSecretFilesArgv } from "../../infra/app-secrets";
import { renderEnvFile } from "../../infra/render";
import { TestEnv, local, sshRun } from "./helpers";

jest.setTimeout(120_000);

const env = new TestEnv("itsecret", [8341, 8342], 8343);
/** In every value: a log that holds any part of a value that carries it shows up. */
const MARK = `mark${randomBytes(6).toString("hex")}`;

const SECRETS: Record<string, string> = {
  DOLLAR: `sk_live_${MARK}_$HOME\${PATH}$(id)\`id\``,
  QUOTES: `"double ${MARK}" 'single'`,
  BACKSLASH: `C:\\new\\${MARK}\\table\\`,
  HASH: `#${MARK} # not a comment`,
  SPACES: `  ${MARK} padded  `,
  UNICODE: `пароль ✓ 密码 🔑 ${MARK}`,
  TLS_KEY: `-----BEGIN PRIVATE KEY-----\n${MARK}\n  indented line\n-----END PRIVATE KEY-----\n`,
  ENDS_WITH_CR: `${MARK}\r`,
};
const FILE_KEYS = ["ENDS_WITH_CR", "TLS_KEY"];

/** Uploads both files the way ComposeProject does: the same command lines, the values on stdin. */
async function uploadSecrets(secrets: Record<string, string>): Promise<void> {
  await env.put(env.layout.appSecretsEnv, renderAppSecretsEnv(secrets), "0600");
  const files = await sshRun(writeSecretFilesArgv(env.layout.secretFilesDir), renderSecretFiles(secrets));
  expect(files.code === 0 ? "" : files.stderr).toBe("");
}

/** The environment of the release's process 1, as the kernel holds it. */
async function containerEnv(container: string): Promise<Record<string, string>> {
  const r = await local("docker", ["exec", container, "cat", "/proc/1/environ"]);
  expect(r.code).toBe(0);
  const entries = r.stdout.split("\0").filter((e) => e !== "");
  return Object.fromEntries(entries.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
}

async function containerFile(container: string, path: string): Promise<string> {
  const r = await local("docker", ["exec", container, "cat", path]);
  expect(r.code === 0 ? "" : r.stderr).toBe("");
  return r.stdout;
}

beforeAll(async () => {
  await env.reset();
  // The .env the program writes too (compose reads it): both files reach the release.
  await env.put(env.layout.envFile, renderEnvFile({ DEPLOY_ENV: env.name }), "0600");
  await uploadSecrets(SECRETS);
});

afterAll(async () => {
  await env.teardown();
});

test("a release started by dc-release gets every secret byte for byte: env for one line, a file for the rest", async () => {
  // The migration's container gets them too (a check that shows nothing).
  const r = await env.deploy("v1", ["--migrate", 'test -n "$DOLLAR" && test -r "$TLS_KEY_FILE" && test "$DEPLOY_ENV" = itsecret']);
  expect(r.json.reason).toBeNull();
  expect(r.code).toBe(0);
  const container = env.containerName(8341);
  const environ = await containerEnv(container);
  for (const [key, value] of Object.entries(SECRETS)) {
    if (FILE_KEYS.includes(key)) {
      expect([key, environ[key], environ[`${key}_FILE`]]).toEqual([key, undefined, `/run/secrets/${key}`]);
      expect([key, await containerFile(container, `/run/secrets/${key}`)]).toEqual([key, value]);
    } else {
      expect([key, Buffer.from(environ[key] ?? "(missing)")]).toEqual([key, Buffer.from(value)]);
    }
  }
  expect(environ).toMatchObject({ DEPLOY_ENV: "itsecret", PORT: "8341" });
});

test("the host keeps them to the deploy user (0600, 0700, 0400); the release cannot write the files", async () => {
  const { appSecretsEnv, secretFilesDir } = env.layout;
  const files = [appSecretsEnv, secretFilesDir, `${secretFilesDir}/TLS_KEY`];
  const stat = await sshRun(["stat", "-c", "%a %U", ...files]);
  expect(stat.stdout.split("\n").slice(0, 3)).toEqual(["600 deploy", "700 deploy", "400 deploy"]);
  const write = await local("docker", ["exec", env.containerName(8341), "sh", "-c", "echo x >> /run/secrets/TLS_KEY"]);
  expect(write.code).not.toBe(0);
  expect(write.stderr).toMatch(/Read-only file system/);
});

test("neither dc-release's output, deploy.log nor the release logs hold any of it", async () => {
  const r = await sshRun(["bash", "-c", 'cat "$1" "$2"/*', "logs", env.layout.deployLog, env.layout.logsDir]);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('"tag":"v1"');
  expect(r.stdout).not.toContain(MARK);
  const again = await sshRun(env.deployArgs("v1"));
  expect(again.code).toBe(0);
  expect(`${again.stdout}${again.stderr}`).not.toContain(MARK);
});

test("a rewrite leaves the serving release its files; the next release gets the new set, a dropped file is gone", async () => {
  const rotated = { DOLLAR: `rotated_${MARK}_$1`, TLS_KEY: `new key ${MARK}\nline 2\n` };
  await uploadSecrets(rotated);
  // The serving release mounted the old file by itself: the rename did not touch it.
  expect(await containerFile(env.containerName(8341), "/run/secrets/TLS_KEY")).toBe(SECRETS.TLS_KEY);
  const listing = await sshRun(["ls", "-A", env.layout.secretFilesDir]);
  expect(listing.stdout).toBe("TLS_KEY\n");

  const r = await env.deploy("v2");
  expect(r.code).toBe(0);
  const container = env.containerName(8342);
  const environ = await containerEnv(container);
  expect(environ.DOLLAR).toBe(rotated.DOLLAR);
  expect(environ.ENDS_WITH_CR_FILE).toBeUndefined();
  expect(environ.QUOTES).toBeUndefined();
  expect(await containerFile(container, "/run/secrets/TLS_KEY")).toBe(rotated.TLS_KEY);
});
