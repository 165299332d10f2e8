/**
 * Text outside ASCII in dc-release's result line: the host writes it as \uXXXX escapes, so the
 * line stays one line of ASCII, and the program's parser gives back exactly what the host had.
 * A migration's own words (DeepCalm's speak Russian) reach `reason`, and so does a refused value.
 */
import { REPOSITORY, TestEnv, imageDigests, parseResult, sshRun } from "./helpers";

jest.setTimeout(120_000);

const env = new TestEnv("itformat", [8441, 8442], 8440);

/** One line of printable ASCII: anything else is escaped. */
const ONE_ASCII_LINE = /^[\x20-\x7e]+\n$/;

beforeAll(async () => {
  await env.reset();
  expect((await env.deploy("v1", ["--warm", "0"])).code).toBe(0);
});

afterAll(async () => {
  await env.teardown();
});

test("a failing migration's message in Russian comes back exactly, on stdout and in deploy.log", async () => {
  const said = "база данных недоступна — повторите позже";
  const migrate = `echo '${said}' >&2; exit 3`;
  const run = await sshRun(env.deployArgs("v2", ["--migrate", migrate, "--warm", "0"]));
  expect(run.stdout).toMatch(ONE_ASCII_LINE);
  const r = parseResult(run);
  expect(r.code).toBe(1);
  expect(r.json.reason).toBe(`migration failed (exit 3): sh -c '${migrate}' said: ${said}; nothing was switched`);
  expect((await env.deployResults()).pop()).toEqual(r.json);
});

test("a refused value outside ASCII is named exactly", async () => {
  const run = await sshRun(["bash", env.script, "deploy", "--env", "dév", "--image", `${REPOSITORY}:v2`, "--digest", imageDigests()["v2"]]);
  expect(run.stdout).toMatch(ONE_ASCII_LINE);
  const r = parseResult(run);
  expect(r.code).toBe(2);
  expect(r.json).toMatchObject({ env: "dév", reason: "invalid --env 'dév': expected a lowercase name matching ^[a-z][a-z0-9-]{0,30}$" });
});
