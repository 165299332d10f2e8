/**
 * The scripts the workflows run: post-deploy-check.sh against an HTTP server on 127.0.0.1,
 * commit-desired-tag.sh against a throwaway clone with a local bare origin, and basic-auth-pass.ts
 * over stack exports.
 */
import { execFileSync, spawn } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, Server } from "node:http";
import { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(__dirname, "..", "..");

function run(cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  return new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(cmd, args, { cwd: options.cwd ?? ROOT, env: { ...process.env, ...options.env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (status) => resolve({ status: status ?? -1, stdout, stderr }));
  });
}

describe("post-deploy-check.sh", () => {
  const PASS = 'p"a\\ss';
  let server: Server;
  let base: string;
  let healthCalls = 0;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const expected = `Basic ${Buffer.from(`ops:${PASS}`).toString("base64")}`;
      if (req.url?.startsWith("/private") && req.headers.authorization !== expected) {
        res.writeHead(401).end();
        return;
      }
      if (req.url === "/maintenance-healthz") {
        res.writeHead(503, { "retry-after": "300", "x-deep-calm-maintenance": "on" }).end("<h1>Maintenance</h1>");
        return;
      }
      if (req.url === "/slow-healthz") {
        healthCalls += 1;
        res.writeHead(healthCalls < 3 ? 503 : 200).end();
        return;
      }
      res.writeHead(req.url === "/broken" ? 500 : 200).end("ok");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => server.close());

  const check = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    run("bash", [join(ROOT, "scripts", "ci", "post-deploy-check.sh"), ...args], {
      env: { HEALTH_DELAY: "0", BASIC_AUTH_PASS: "", ...env },
    });

  test("retries the health path until it answers, then runs each smoke path", async () => {
    const result = await check([`${base}/`, "/slow-healthz", "/version"]);
    expect(result.stdout).toBe(`health: ${base}/slow-healthz 200\nsmoke:  ${base}/version 200\n`);
    expect([result.status, healthCalls]).toEqual([0, 3]);
  });

  test("a failing smoke path fails the check and is named", async () => {
    const result = await check([base, "/healthz", "/broken", "/version"]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`smoke:  ${base}/broken failed (500)`);
    expect(result.stdout).toContain(`smoke:  ${base}/version 200`);
  });

  test("basic auth from the environment, the password on no command line or output", async () => {
    const result = await check([base, "/private/healthz", "/private/version"], { BASIC_AUTH_PASS: PASS });
    expect(result.status).toBe(0);
    expect(result.stdout + result.stderr).not.toContain("a\\ss");
    const denied = await check([base, "/private/healthz"], { HEALTH_RETRIES: "0" });
    expect(denied.status).toBe(1);
    expect(denied.stderr).toContain("did not answer 2xx");
  });

  test("maintenance on: the page (503, X-Deep-Calm-Maintenance: on) passes at once, said so; a plain 503 still fails", async () => {
    const result = await check([base, "/maintenance-healthz", "/version"], { HEALTH_RETRIES: "0" });
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(
      `health: ${base}/maintenance-healthz serves the maintenance page (maintenance is on); the release was checked through nginx on the host\n`,
    );
    const plain = await check([base, "/broken"], { HEALTH_RETRIES: "0" });
    expect(plain.status).toBe(1);
  });

  test("refuses a url that is not http(s)", async () => {
    const result = await check(["file:///etc/passwd", "/"]);
    expect(result.status).toBe(2);
  });
});

describe("commit-desired-tag.sh", () => {
  let dir: string;
  let origin: string;
  let clone: string;
  const git = (cwd: string, ...args: string[]) =>
    execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
  const env = {
    GITHUB_ACTIONS: "true",
    GIT_AUTHOR_NAME: "t",
    GIT_AUTHOR_EMAIL: "t@example.com",
    GIT_COMMITTER_NAME: "t",
    GIT_COMMITTER_EMAIL: "t@example.com",
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "desired-tag-"));
    origin = join(dir, "origin.git");
    clone = join(dir, "clone");
    git(dir, "init", "--quiet", "--bare", "--initial-branch=main", origin);
    git(dir, "clone", "--quiet", origin, clone);
    for (const path of [
      "scripts",
      "infra",
      "stacks",
      "Pulumi.yaml",
      "Pulumi.dev.yaml",
      "Pulumi.test.yaml",
      "package.json",
      "tsconfig.json",
    ]) {
      cpSync(join(ROOT, path), join(clone, path), { recursive: true });
    }
    symlinkSync(join(ROOT, "node_modules"), join(clone, "node_modules"));
    git(clone, "add", "--all", "--", ".", ":!node_modules");
    git(clone, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", "start");
    git(clone, "push", "--quiet", "origin", "HEAD:main");
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const commit = (...args: string[]) => run("bash", [join(clone, "scripts", "ci", "commit-desired-tag.sh"), ...args], { cwd: clone, env });

  test("commits the tag as the bot on top of a moved main, prints the commit, and is a no-op the second time", async () => {
    const other = join(dir, "other");
    git(dir, "clone", "--quiet", origin, other);
    git(other, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "--allow-empty", "-m", "someone else");
    git(other, "push", "--quiet", "origin", "HEAD:main");

    const first = await commit("dev", "sha-0123abc", `sha256:${"b".repeat(64)}`, "image from o/deep-calm\u0007@0123abc");
    expect(first.status).toBe(0);
    const head = git(origin, "rev-parse", "main");
    expect(first.stdout).toBe(`${head}\n`);
    expect(git(origin, "log", "-1", "--format=%an|%s|%b", "main")).toBe(
      "github-actions[bot]|deploy(dev): sha-0123abc|image from o/deep-calm@0123abc",
    );
    expect(git(origin, "log", "-2", "--format=%s", "main")).toBe("deploy(dev): sha-0123abc\nsomeone else");
    const file = git(origin, "show", "main:Pulumi.dev.yaml");
    expect(file).toContain("deep-calm-deploy:imageTag: sha-0123abc");
    expect(file).toContain(`deep-calm-deploy:imageDigest: sha256:${"b".repeat(64)}`);
    expect(file).toContain(readFileSync(join(ROOT, "Pulumi.dev.yaml"), "utf8").split("\n")[0]);

    const again = await commit("dev", "sha-0123abc", `sha256:${"b".repeat(64)}`);
    expect([again.status, again.stdout]).toEqual([0, `${head}\n`]);
  }, 60_000);

  test("a tag that moves is refused and nothing is pushed", async () => {
    const before = git(origin, "rev-parse", "main");
    const result = await commit("dev", "main");
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('tag: "main" is not allowed; a branch tag moves with every build');
    expect(git(origin, "rev-parse", "main")).toBe(before);
  }, 30_000);

  test("a push the remote refuses (protected branch) fails at once with exit 3, not as a race", async () => {
    const before = git(origin, "rev-parse", "main");
    const hook = join(origin, "hooks", "pre-receive");
    writeFileSync(hook, "#!/bin/sh\necho 'error: GH006: Protected branch update failed for refs/heads/main.' >&2\nexit 1\n", {
      mode: 0o755,
    });
    try {
      const started = Date.now();
      const result = await commit("dev", "sha-4567def");
      expect(result.status).toBe(3);
      expect(result.stderr).toContain("the push to main was refused (branch protection, a ruleset or the token's permissions), not a race");
      expect(result.stderr).not.toContain("trying again");
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(git(origin, "rev-parse", "main")).toBe(before);
    } finally {
      rmSync(hook);
    }
  }, 30_000);

  test("a race (main moved between fetch and push) is retried on top of the new main", async () => {
    const other = join(dir, "racer");
    git(dir, "clone", "--quiet", origin, other);
    // Another push lands while this one is on its way, once: the first push is then non-fast-forward.
    const hook = join(clone, ".git", "hooks", "pre-push");
    writeFileSync(
      hook,
      `#!/bin/sh\n[ -e "${dir}/raced" ] && exit 0\ntouch "${dir}/raced"\ncd "${other}" && git -c user.name=t -c user.email=t@example.com commit --quiet --allow-empty -m racer && git push --quiet origin HEAD:main\n`,
      { mode: 0o755 },
    );
    try {
      const result = await commit("dev", "sha-89abcde");
      expect(result.stderr).toContain("main moved during attempt 1 (a race); trying again on top of it");
      expect(result.status).toBe(0);
      expect(git(origin, "log", "-2", "--format=%s", "main")).toBe("deploy(dev): sha-89abcde\nracer");
    } finally {
      rmSync(hook);
    }
  }, 60_000);

  test("with EXPECTED_TAG, a newer desired tag that landed meanwhile is kept (exit 4), and the expected one is replaced", async () => {
    const current = git(origin, "show", "main:Pulumi.dev.yaml").match(/imageTag: (\S+)/)?.[1] ?? "";
    const before = git(origin, "rev-parse", "main");
    const stale = await run("bash", [join(clone, "scripts", "ci", "commit-desired-tag.sh"), "dev", "v0.1.0"], {
      cwd: clone,
      env: { ...env, EXPECTED_TAG: "v0.0.9" },
    });
    expect(stale.status).toBe(4);
    expect(stale.stderr).toContain(`Pulumi.dev.yaml on main now wants ${current} (not v0.0.9)`);
    expect(git(origin, "rev-parse", "main")).toBe(before);
    const fresh = await run("bash", [join(clone, "scripts", "ci", "commit-desired-tag.sh"), "dev", "v0.1.0"], {
      cwd: clone,
      env: { ...env, EXPECTED_TAG: current },
    });
    expect(fresh.status).toBe(0);
    expect(git(origin, "log", "-1", "--format=%s", "main")).toBe("deploy(dev): v0.1.0");
  }, 60_000);

  test("refuses to run outside GitHub Actions", async () => {
    const result = await run("bash", [join(clone, "scripts", "ci", "commit-desired-tag.sh"), "dev", "v1.0.0"], {
      cwd: clone,
      env: { GITHUB_ACTIONS: "" },
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("refusing to run outside GitHub Actions");
  });
});

describe("basic-auth-pass.ts", () => {
  const SIG = "4dabf18193072939515e22adb298388d";
  const exported = (result: unknown, name = "test-basic-auth-password") =>
    JSON.stringify({
      version: 3,
      deployment: {
        resources: [
          { urn: "urn:pulumi:test::deep-calm-deploy::pulumi:pulumi:Stack::deep-calm-deploy-test", type: "pulumi:pulumi:Stack" },
          {
            urn: `urn:pulumi:test::deep-calm-deploy::deepcalm:stack:Environment$random:index/randomPassword:RandomPassword::${name}`,
            type: "random:index/randomPassword:RandomPassword",
            outputs: { length: 32, result },
          },
        ],
      },
    });
  const pass = (input: string, env = "test") =>
    new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
      const child = spawn("npx", ["--no-install", "tsx", join(ROOT, "scripts", "ci", "basic-auth-pass.ts"), env], { cwd: ROOT });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.on("close", (status) => resolve({ status: status ?? -1, stdout, stderr }));
      child.stdin.end(input);
    });

  test("prints the password of a secret exported with --show-secrets, and no newline", async () => {
    const result = await pass(exported({ [SIG]: "1b47061264138c4ac30d75fd1eb44270", plaintext: '"s3cr3t-Pw"' }));
    expect([result.status, result.stdout]).toEqual([0, "s3cr3t-Pw"]);
  }, 30_000);

  test("a plain value is printed as it is; another env's password or none is refused with exit 2", async () => {
    expect((await pass(exported("plain-pw"))).stdout).toBe("plain-pw");
    const other = await pass(exported("plain-pw", "dev-basic-auth-password"));
    expect([other.status, other.stdout]).toEqual([2, ""]);
    expect(other.stderr).toContain("holds no test-basic-auth-password");
    // Still encrypted (export without --show-secrets): no ciphertext is ever printed.
    const encrypted = await pass(exported({ [SIG]: "1b47061264138c4ac30d75fd1eb44270", ciphertext: "AAAB" }));
    expect([encrypted.status, encrypted.stdout]).toEqual([2, ""]);
  }, 60_000);
});
