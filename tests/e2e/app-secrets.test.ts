/**
 * App secrets under the real engine (scripts/dev/install-engine.sh) and the local target: set with
 * `pulumi config set --secret --path 'appSecrets.KEY'` in a project of its own
 * (tests/fixtures/secrets-program: the program's components, env e2esecret, ports 8351/8352,
 * front 8353), they reach the release byte for byte and nowhere else: not the state in plain text,
 * the stack's outputs, pulumi's output, dc-release's logs, a deployment-log row or a Telegram
 * message. An entry set without --secret is refused at preview.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { DEFAULT_ROOT, envLayout } from "../../infra/layout";
import { releaseResultFrom } from "../../infra/release-result";
import { imageDigests, local, sshRun } from "../integration/helpers";
import { TelegramStandIn, databaseUrl, dropSchema, sql, startTelegramStandIn, testSchema } from "../integration/deployment-log-helpers";
import { FixtureProject, Run } from "./fixture-project";

jest.setTimeout(300_000);

/** The fixture's env, at the root it leaves to Pulumi.yaml's default. */
const LAYOUT = envLayout(DEFAULT_ROOT, "e2esecret");
const SCHEMA = testSchema("secrets");
/** In every value: any trace of a value that carries it shows up. */
const MARK = `mark${randomBytes(6).toString("hex")}`;
const SECRETS: Record<string, string> = {
  STRIPE_KEY: ` sk_live_${MARK}_$HOME "double" 'single' \\back #hash ü✓ `,
  TLS_KEY: `-----BEGIN PRIVATE KEY-----\n${MARK}\n-----END PRIVATE KEY-----`,
};
let project: FixtureProject;
let telegram: TelegramStandIn;

/** A value goes in on stdin, as a user pipes a file in: never on a command line. */
const setSecret = (key: string, value: string) => project.ok(["config", "set", "--secret", "--path", `appSecrets.${key}`], value);

async function up(tag: string): Promise<Run> {
  await project.ok(["config", "set-all", "--plaintext", `tag=${tag}`, "--plaintext", `digest=${imageDigests()[tag]}`]);
  return project.run(["up", "--yes", "--skip-preview", "--color", "never"]);
}

beforeAll(async () => {
  project = new FixtureProject("secrets-program", "probe", "app-secrets-probe-only");
  telegram = await startTelegramStandIn();
  await project.ok(["stack", "init"]);
  await project.ok([
    "config",
    "set-all",
    "--plaintext",
    `schema=${SCHEMA}`,
    "--plaintext",
    `spoolPath=${join(project.dir, "spool.jsonl")}`,
  ]);
  await project.ok(["config", "set-all", "--plaintext", `telegramApiUrl=${telegram.url}`]);
  await project.ok(["config", "set", "--secret", "databaseUrl"], databaseUrl());
  await project.ok(["config", "set", "--secret", "telegramBotToken"], "6012345678:AAE_secrets-probe-token");
  for (const [key, value] of Object.entries(SECRETS)) await setSecret(key, value);
});

afterAll(async () => {
  const destroy = await project.destroy();
  await telegram.close();
  await dropSchema(SCHEMA);
  project.remove();
  expect(destroy.status === 0 ? "" : destroy.out).toBe("");
});

test("pulumi up: the release gets each value byte for byte; pulumi's output never holds one", async () => {
  const run = await up("v1");
  expect(run.status === 0 ? "" : run.out).toBe("");
  expect(run.out).not.toContain(MARK);
  const environ = await local("docker", ["exec", "dc-e2esecret-8351", "cat", "/proc/1/environ"]);
  expect(environ.stdout.split("\0")).toContain(`STRIPE_KEY=${SECRETS.STRIPE_KEY}`);
  expect(environ.stdout.split("\0")).toContain("TLS_KEY_FILE=/run/secrets/TLS_KEY");
  const file = await local("docker", ["exec", "dc-e2esecret-8351", "cat", "/run/secrets/TLS_KEY"]);
  expect(file.stdout).toBe(SECRETS.TLS_KEY);
});

test("the state holds them only encrypted: not in plain text, not in a command line, not in an output", async () => {
  const exported = (await project.ok(["stack", "export"])).stdout;
  const commands = (
    JSON.parse(exported) as { deployment: { resources: { type: string; inputs?: Record<string, unknown> }[] } }
  ).deployment.resources
    .filter((r) => r.type === "command:remote:Command")
    .map((r) => JSON.stringify([r.inputs?.create, r.inputs?.update, r.inputs?.delete]));
  expect(commands.length).toBeGreaterThanOrEqual(4);
  const bundled = Buffer.from(SECRETS.TLS_KEY as string).toString("base64");
  for (const text of [exported, ...commands]) {
    expect(text).not.toContain(MARK);
    expect(text).not.toContain(bundled);
  }
  // They are in the state, encrypted: the passphrase shows them.
  expect((await project.ok(["stack", "export", "--show-secrets"])).stdout).toContain(bundled);
  const outputs = (await project.ok(["stack", "output", "--json", "--show-secrets"])).stdout;
  const { url, result } = JSON.parse(outputs) as { url: string; result: unknown };
  expect({ url, result: releaseResultFrom(result) }).toMatchObject({ url: "http://127.0.0.1:8353", result: { ok: true, tag: "v1" } });
  expect(outputs).not.toContain(MARK);
});

test("a failed release: its row, its Telegram message, deploy.log and the release logs hold none of it", async () => {
  const failed = await up("bad-crash");
  expect(failed.status).not.toBe(0);
  expect(failed.out).not.toContain(MARK);
  const rows = await sql(`SELECT * FROM "${SCHEMA}".deployments ORDER BY id`);
  expect(rows.map((r) => [r.tag, r.status])).toEqual([
    ["v1", "success"],
    ["bad-crash", "failed"],
  ]);
  expect(String(rows[1]?.logs)).toMatch(/crash/);
  expect(JSON.stringify(rows)).not.toContain(MARK);
  expect(telegram.requests).toHaveLength(2);
  expect(telegram.requests.map((r) => r.raw).join("\n")).not.toContain(MARK);
  const logs = await sshRun(["bash", "-c", 'cat "$1" "$2"/*', "logs", LAYOUT.deployLog, LAYOUT.logsDir]);
  expect(logs.stdout).toContain('"tag":"bad-crash"');
  expect(logs.stdout).not.toContain(MARK);
});

test("an entry set without --secret is refused at preview, with the fix", async () => {
  // --plaintext: the CLI itself balks at a plain entry in a map that holds secrets.
  await project.ok(["config", "set", "--plaintext", "--path", "appSecrets.SENTRY_DSN", "https://plain.example"]);
  const preview = await project.run(["preview", "--color", "never"]);
  await project.ok(["config", "rm", "--path", "appSecrets.SENTRY_DSN"]);
  expect(preview.status).not.toBe(0);
  expect(preview.out).toContain(
    "appSecrets.SENTRY_DSN: [secret] is not allowed; it is stored in plain text: " +
      "set it again with `pulumi config set --secret --path 'appSecrets.SENTRY_DSN'`",
  );
  expect(preview.out).not.toContain("plain.example");
});
