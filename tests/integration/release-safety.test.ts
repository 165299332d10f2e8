/**
 * host/dc-release under adversity: bad arguments, an unreachable registry, a moved tag,
 * concurrent deploys, and an SSH connection cut in the middle of a release.
 */
import { randomBytes } from "crypto";
import { spawn } from "child_process";
import { mkdtempSync, rmSync, writeFileSync } from "fs";
import os from "os";
import path from "path";
import { TestEnv, REPOSITORY, collect, imageDigests, local, parseAnyResult, parseResult, sleep, sshRun, sshSpawn } from "./helpers";

jest.setTimeout(120_000);

const env = new TestEnv("itestb", [8193, 8194], 8091);

/** What a release could change on the host: files with size and mtime, containers, nginx upstream. */
async function hostSnapshot(): Promise<string> {
  const files = await sshRun(["bash", "-c", 'find "$1" -printf "%p %s %T@\\n" | sort', "snap", env.dir]);
  return `${files.stdout}\n${(await env.containers()).join(",")}`;
}

async function servedVersion(): Promise<string> {
  const a = await env.get("/version");
  expect(a.status).toBe(200);
  return a.body;
}

beforeAll(async () => {
  await env.reset();
  const first = await env.deploy("v1");
  expect(first.code).toBe(0);
});

afterAll(async () => {
  await env.teardown();
});

describe("bad arguments: exit 2, the reason names option and value, nothing changes", () => {
  const digest = () => imageDigests()["v2"];
  const cases: [string, () => string[], RegExp][] = [
    [
      "shell metacharacters in --image",
      () => ["deploy", "--env", "itestb", "--image", "x;rm -rf /", "--digest", digest()],
      /^invalid --image 'x;rm -rf \/': expected REPO:TAG/,
    ],
    [
      "command substitution in --image",
      () => ["deploy", "--env", "itestb", "--image", "$(id)", "--digest", digest()],
      /^invalid --image '\$\(id\)': expected REPO:TAG/,
    ],
    ["unknown action", () => ["explode", "--env", "itestb"], /^invalid action 'explode': expected deploy, rollback, status/],
    ["missing --env", () => ["deploy", "--image", `${REPOSITORY}:v2`, "--digest", digest()], /^missing --env/],
    ["uppercase env", () => ["deploy", "--env", "Prod", "--image", `${REPOSITORY}:v2`, "--digest", digest()], /^invalid --env 'Prod'/],
    [
      "short digest",
      () => ["deploy", "--env", "itestb", "--image", `${REPOSITORY}:v2`, "--digest", "sha256:abc"],
      /^invalid --digest 'sha256:abc': expected sha256: and 64 lowercase hex digits/,
    ],
    [
      "bad ports",
      () => ["deploy", "--env", "itestb", "--image", `${REPOSITORY}:v2`, "--digest", digest(), "--ports", "8193,8193"],
      /^invalid --ports '8193,8193': expected two different ports/,
    ],
    [
      "root with ..",
      () => ["deploy", "--env", "itestb", "--image", `${REPOSITORY}:v2`, "--digest", digest(), "--root", "/opt/../etc"],
      /^invalid --root '\/opt\/\.\.\/etc'/,
    ],
    ["unknown option", () => ["deploy", "--env", "itestb", "--force", "yes"], /^invalid option '--force'/],
    [
      "non-numeric retries",
      () => ["deploy", "--env", "itestb", "--image", `${REPOSITORY}:v2`, "--digest", digest(), "--health-retries", "1e3"],
      /^invalid --health-retries '1e3': expected an integer 1\.\.10000/,
    ],
    [
      "a migration timeout of zero",
      () => ["deploy", "--env", "itestb", "--image", `${REPOSITORY}:v2`, "--digest", digest(), "--migrate-timeout", "0"],
      /^invalid --migrate-timeout '0': expected 1\.\.86400 seconds/,
    ],
    [
      "a fractional stop timeout (docker stop takes whole seconds)",
      () => ["deploy", "--env", "itestb", "--image", `${REPOSITORY}:v2`, "--digest", digest(), "--stop-timeout", "1.5"],
      /^invalid --stop-timeout '1\.5': expected an integer 0\.\.600/,
    ],
    [
      "a migration option on a rollback",
      () => ["rollback", "--env", "itestb", "--migrate-timeout", "60"],
      /^invalid option '--migrate-timeout': not an option of dc-release rollback/,
    ],
    [
      "migrate with a newline",
      () => ["deploy", "--env", "itestb", "--image", `${REPOSITORY}:v2`, "--digest", digest(), "--migrate", "a\nb"],
      /^invalid --migrate/,
    ],
  ];

  test.each(cases)("%s", async (_name, argv, reason) => {
    const before = await hostSnapshot();
    const r = parseAnyResult(await sshRun(["bash", env.script, ...argv()]));
    expect(r.code).toBe(2);
    expect(r.json.ok).toBe(false);
    expect(r.json.reason).toMatch(reason);
    expect(await hostSnapshot()).toBe(before);
    expect(await servedVersion()).toBe("v1");
  });
});

describe("registry and digest failures: exit 4, the old release keeps serving", () => {
  test("an unreachable registry", async () => {
    const r = parseResult(await sshRun(env.deployImageArgs("127.0.0.1:5999/deep-calm:v2", `sha256:${"ab".repeat(32)}`)));
    expect(r.code).toBe(4);
    expect(r.json.reason).toMatch(/^pull of 127\.0\.0\.1:5999\/deep-calm@sha256:(ab){32} failed: .*connection refused/);
    expect(await servedVersion()).toBe("v1");
    expect(await env.containers()).toEqual(["dc-itestb-8193"]);
  });

  test("an unreachable registry with the pinned digest already on the host: that copy runs", async () => {
    // A registry of its own that goes down after one pull: the host keeps 127.0.0.1:5998/...@digest.
    const dir = mkdtempSync(path.join(os.tmpdir(), "dc-registry-"));
    writeFileSync(
      path.join(dir, "config.yml"),
      `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\nhttp:\n  addr: 127.0.0.1:5998\n`,
    );
    const registry = spawn("/usr/bin/docker-registry", ["serve", path.join(dir, "config.yml")], { stdio: "ignore" });
    const ref = "127.0.0.1:5998/deep-calm-offline:v2";
    try {
      for (let i = 0; i < 100 && (await local("curl", ["-fsS", "http://127.0.0.1:5998/v2/"])).code !== 0; i++) await sleep(100);
      const v2 = `${REPOSITORY}@${imageDigests()["v2"]}`;
      expect((await local("docker", ["pull", "-q", v2])).code).toBe(0);
      expect((await local("docker", ["tag", v2, ref])).code).toBe(0);
      expect((await local("docker", ["push", ref])).code).toBe(0);
      const digest = (await local("docker", ["image", "inspect", "-f", "{{index .RepoDigests 0}}", ref])).stdout.trim().split("@")[1];
      expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      registry.kill("SIGTERM");
      await new Promise((r) => registry.once("exit", r));

      const r = parseResult(await sshRun(env.deployImageArgs(ref, digest, ["--warm", "0"])));
      expect(r.code).toBe(0);
      // docker run finds the pinned digest on the host: no pull, so the registry is not asked.
      expect(r.json).toMatchObject({ ok: true, tag: "v2", digest, pulled: false });
      expect(await servedVersion()).toBe("v2");
      const back = await env.deploy("v1", ["--warm", "0"]);
      expect(back.code).toBe(0);
    } finally {
      registry.kill("SIGKILL");
      await local("docker", ["image", "rm", ref]);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test.each([
    ["", []],
    [" (pulled by the migration's docker run)", ["--migrate", "/bin/migrate"]],
  ])("a pinned digest the registry does not have%s", async (_how, extra) => {
    const r = parseResult(await sshRun(env.deployImageArgs(`${REPOSITORY}:v2`, `sha256:${"cd".repeat(32)}`, extra)));
    expect(r.code).toBe(4);
    expect(r.json.reason).toMatch(/^pull of 127\.0\.0\.1:5000\/deep-calm@sha256:(cd){32} failed: .*(manifest unknown|not found)/);
    expect(await servedVersion()).toBe("v1");
    expect(await env.containers()).toEqual(["dc-itestb-8193"]);
  });

  test("the host runs the pinned digest, whatever the tag names now", async () => {
    // A tag the registry never had, pinned to v3's digest: what runs is v3's content.
    const tag = `moved-${randomBytes(4).toString("hex")}`;
    const r = parseResult(await sshRun(env.deployImageArgs(`${REPOSITORY}:${tag}`, imageDigests()["v3"], ["--warm", "0"])));
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ ok: true, tag, digest: imageDigests()["v3"] });
    expect(await servedVersion()).toBe("v3");
    expect((await env.deploy("v1", ["--warm", "0"])).code).toBe(0);
    // Forget it, so v3 stays new to this env for the tests below.
    await sshRun(["sed", "-i", `/ ${tag} /d`, `${env.layout.stateDir}/releases`]);
  });
});

describe("one release at a time per env", () => {
  test("two concurrent deploys: the second waits for the lock, never interleaves", async () => {
    const logBefore = (await env.deployLog()).length;
    // A request in flight on the old release for 1 s keeps the first holder draining while the
    // second arrives (a drain ends as soon as nothing is in flight).
    const slow = env.get("/cgi-bin/slow?1");
    await sleep(100);
    const opts = ["--warm", "0", "--drain", "1"];
    const [a, b] = await Promise.all([env.deploy("v2", opts), sleep(50).then(() => env.deploy("v3", opts))]);
    expect([a.code, b.code]).toEqual([0, 0]);
    expect((await slow).status).toBe(200);
    const lines = (await env.deployResults()).slice(logBefore);
    expect(lines.map((l) => l.tag).sort()).toEqual(["v2", "v3"]);
    const [first, second] = lines;
    // The second took the lock only after the first had finished.
    expect(Date.parse(second.lockedAt ?? "")).toBeGreaterThanOrEqual(Date.parse(first.finishedAt));
    expect(second.phases.lockMs).toBeGreaterThan(500);
    expect(await servedVersion()).toBe(second.tag);
    // A digest new to the env is pulled while the lock is awaited: images need no lock.
    const waited = [a, b].find((r) => r.json.tag === second.tag)!;
    expect(await env.read(waited.json.logFile!)).toContain(`image: pulled ${REPOSITORY}@${waited.json.digest} while the lock was busy`);
    expect(waited.json.phases.pullMs).toBeLessThan(waited.json.phases.lockMs);
  });

  test("with --lock-timeout 0 the second fails at once with exit 3 and a clear reason", async () => {
    const slow = env.deploy("bad-slow", ["--health-retries", "40", "--health-interval", "0.1"]);
    await sleep(700);
    // No wait, so no pull while waiting: nothing is left behind.
    const r = await env.deploy("bad-crash", ["--lock-timeout", "0"]);
    expect(r.code).toBe(3);
    expect((await sshRun(["bash", "-c", 'ls -a "$1"', "ls", env.dir])).stdout).not.toMatch(/\.pull-/);
    expect(r.json.reason).toMatch(
      /^lock busy: another dc-release \(pid \d+, deploy bad-slow since .*\) holds \/opt\/deep-calm\/itestb\/\.lock after 0s/,
    );
    expect((await slow).code).toBe(1);
  });
});

describe("the warm old release", () => {
  test("keeps running after the switch, then stops by itself after drain + warm", async () => {
    const before = await servedVersion();
    const r = await env.deploy(before === "v1" ? "v2" : "v1", ["--warm", "1"]);
    expect(r.code).toBe(0);
    expect((await env.containers()).length).toBe(2);
    await sleep(3000);
    expect(await env.containers()).toEqual([env.containerName(r.json.port!)]);
    expect(await env.read(r.json.logFile!)).toContain("warm period over: stopped");
  });
});

describe("a container the state does not know of", () => {
  test("holding the new release's name (left by a crash or by hand) is replaced, not fatal", async () => {
    const before = await servedVersion();
    const servingPort = Number((await env.get("/healthz")).upstream.split(":")[1]);
    const freePort = env.ports.find((p) => p !== servingPort)!;
    await local("docker", ["rm", "-f", env.containerName(freePort)]);
    const leftover = await local("docker", ["create", "--name", env.containerName(freePort), "--network", "host", `${REPOSITORY}:v1`]);
    expect(leftover.code).toBe(0);
    // The state forgets v3 (as after a crash): nothing in it points at the port, so docker run meets the name.
    await sshRun(["sed", "-i", "/ v3 /d", `${env.layout.stateDir}/releases`]);
    const r = await env.deploy("v3", ["--warm", "0"]);
    expect(r.code).toBe(0);
    expect(r.json.port).toBe(freePort);
    expect(await env.read(r.json.logFile!)).toContain(`start: removing a leftover ${env.containerName(freePort)}`);
    expect(await servedVersion()).toBe("v3");
    expect((await env.deploy(before, ["--warm", "0"])).code).toBe(0);
  });
});

describe("release images kept on the host", () => {
  // Images of our own (unique digests), so pruning never touches what other envs use.
  const repo = "127.0.0.1:5000/deep-calm-itest";
  const built: Record<string, string> = {};

  beforeAll(async () => {
    const base = `${REPOSITORY}@${imageDigests()["v1"]}`;
    expect((await local("docker", ["pull", "-q", base])).code).toBe(0);
    for (const tag of ["p1", "p2", "p3"]) {
      const dockerfile = `FROM ${base}\nLABEL itest.release="${tag}-${randomBytes(6).toString("hex")}"\n`;
      const build = await collect(
        spawn("docker", ["build", "--network", "host", "-q", "-t", `${repo}:${tag}`, "-"], {
          env: { ...process.env, DOCKER_BUILDKIT: "0" },
        }),
        dockerfile,
      );
      expect(build.code).toBe(0);
      const push = await local("docker", ["push", `${repo}:${tag}`]);
      built[tag] = /digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)![1];
    }
  });

  test("--keep 2 drops the oldest image, never the serving or previous one", async () => {
    for (const tag of ["p1", "p2", "p3"]) {
      const r = parseResult(await sshRun(env.deployImageArgs(`${repo}:${tag}`, built[tag], ["--keep", "2", "--warm", "0"])));
      expect(r.code).toBe(0);
    }
    const present = async (tag: string) => (await local("docker", ["image", "inspect", `${repo}@${built[tag]}`])).code === 0;
    expect(await present("p1")).toBe(false);
    expect(await present("p2")).toBe(true);
    expect(await present("p3")).toBe(true);
    const status = await env.status();
    expect(status.json.retained.map((x) => x.tag)).toEqual(["p2", "p3"]);
    expect(status.json).toMatchObject({ healthy: true, current: { tag: "p3" }, previous: { tag: "p2" } });
  });

  afterAll(async () => {
    await local("docker", ["image", "rm", ...["p1", "p2", "p3"].map((t) => `${repo}:${t}`)]);
  });
});

describe("secrets in <env>/.env", () => {
  test("reach the container through --env-file and appear in no result, progress or log", async () => {
    const secret = randomBytes(16).toString("hex");
    await env.put(env.layout.envFile, `DEMO_SECRET=${secret}\n`, "0600");
    const before = await servedVersion();
    const r = await env.deploy(before === "v1" ? "v2" : "v1", ["--warm", "0"]);
    expect(r.code).toBe(0);
    const inspect = await local("docker", [
      "inspect",
      "-f",
      "{{json .Config.Env}} {{json .Args}} {{.Path}}",
      env.containerName(r.json.port!),
    ]);
    expect(inspect.stdout).toContain(`DEMO_SECRET=${secret}`); // docker keeps it in the container config
    expect(`${JSON.stringify(r.json)}${r.stderr}`).not.toContain(secret);
    const logs = await sshRun(["bash", "-c", 'cat "$1" "$2"/*', "x", env.layout.deployLog, env.layout.logsDir]);
    expect(logs.stdout).not.toContain(secret);
    await sshRun(["rm", "-f", env.layout.envFile]);
  });
});

describe("an SSH connection cut mid-release", () => {
  test("the host finishes the release; a rerun converges to a serving release", async () => {
    const before = await servedVersion();
    const tag = before === "v1" ? "v2" : "v1";
    const child = sshSpawn(env.deployArgs(tag, ["--warm", "0"]));
    const killed = new Promise<void>((resolve) => {
      child.stderr!.on("data", (d: Buffer) => {
        if (d.toString().includes("start:")) {
          child.kill("SIGKILL");
          resolve();
        }
      });
    });
    const cut = collect(child);
    await killed;
    const partial = await cut;
    expect(partial.stdout).toBe(""); // cut before its end: no result reached the client
    const rerun = await env.deploy(tag, ["--warm", "0"]);
    expect(rerun.code).toBe(0);
    expect(rerun.json).toMatchObject({ ok: true, tag, serving: { tag } });
    expect(await servedVersion()).toBe(tag);
    expect(await env.containers()).toEqual([env.containerName(rerun.json.port!)]);
    // The cut run itself completed on the host (it ignores the hang-up), so the rerun had nothing to do.
    const lines = await env.deployLog();
    const cutRun = lines[lines.length - 2];
    expect(cutRun).toMatchObject({ tag, ok: true, changed: true });
    expect(rerun.json.changed).toBe(false);
  });
});
