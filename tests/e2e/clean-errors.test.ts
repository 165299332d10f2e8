/**
 * What `pulumi preview` prints when it refuses a value, under the real engine (scripts/dev/install-engine.sh)
 * and the local target's registry: one error line with the key, the value ([secret] for a secret),
 * what is allowed and a hint that fits, and nothing else: no "error serializing property", no
 * stack frames, no TypeError or DOMException.
 * The program runs as a `local` stack of a project of its own in a temp dir (links to this
 * project's code, a copy of Pulumi.local.yaml, its own backend, PULUMI_HOME and passphrase), so
 * it never touches the `local` stack the demo and the other e2e files use. Nothing is deployed.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { PROJECT_DIR, projectPath } from "../../scripts/lib/pulumi";

jest.setTimeout(120_000);

const STACK = "local";
const RULES = "use sha-<7..40 hex>, vX.Y.Z, X.Y.Z, X.Y, pr-<n>, <branch>-<7 hex> or a branch name (a-z 0-9 . _ -), at most 128 characters";
const SECRET = "s3cr3t-clean-errors-not-a-key";
let dir: string;

interface Run {
  status: number | null;
  out: string;
}

function pulumi(args: string[], input?: string): Run {
  const run = spawnSync("pulumi", [...args, "-s", STACK], {
    cwd: join(dir, "project"),
    env: {
      ...process.env,
      PATH: projectPath(),
      PULUMI_HOME: join(dir, "home"),
      PULUMI_BACKEND_URL: `file://${join(dir, "state")}`,
      PULUMI_CONFIG_PASSPHRASE: "clean-errors-probe-only",
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    },
    encoding: "utf8",
    input,
    timeout: 100_000,
  });
  return { status: run.status, out: `${run.stdout}${run.stderr}` };
}

function set(key: string, value: string): void {
  const run = pulumi(["config", "set", key, value]);
  expect(run.status === 0 ? "" : run.out).toBe("");
}

const preview = (): Run => pulumi(["preview", "--color", "never"]);

/** The Diagnostics block of a preview: the resource it names and its lines. */
function diagnostics(out: string): string[] {
  const lines = out.split("\n");
  const start = lines.indexOf("Diagnostics:");
  const end = lines.findIndex((line, i) => i > start && line.trim() === "");
  return start < 0 ? [] : lines.slice(start + 1, end < 0 ? undefined : end);
}

/** A refused preview: exit 1, exactly one error, the message alone, on the stack. */
function expectRefusal(run: Run, message: string): void {
  expect(run.status).toBe(1);
  expect(diagnostics(run.out)).toEqual([`  pulumi:pulumi:Stack (deep-calm-deploy-${STACK}):`, `    error: ${message}`]);
  // The progress line repeats it; every line that says error says only this.
  for (const line of run.out.split("\n").filter((l) => l.includes("error:"))) {
    expect(line.endsWith(`error: ${message}`)).toBe(true);
  }
  expect(run.out).toContain("1 errored");
  for (const noise of ["error serializing property", "TypeError", "DOMException", "unhandled exception", "ResourceError", "RunError"]) {
    expect(run.out).not.toContain(noise);
  }
  expect(run.out).not.toMatch(/^\s+at /m);
  expect(run.out).not.toContain(SECRET);
}

/** A port on 127.0.0.1 where nothing listens. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "clean-errors-"));
  const project = join(dir, "project");
  mkdirSync(project);
  for (const name of ["Pulumi.yaml", "package.json", "tsconfig.json", "stacks", "infra", "host", "node_modules"]) {
    symlinkSync(join(PROJECT_DIR, name), join(project, name));
  }
  // The local stack's settings, under a passphrase of this file's own.
  const settings = readFileSync(join(PROJECT_DIR, "Pulumi.local.yaml"), "utf8").replace(/^encryptionsalt:.*$/m, "");
  writeFileSync(join(project, `Pulumi.${STACK}.yaml`), settings);
  // The command plugin install-engine.sh put in the usual cache; this home holds nothing else.
  mkdirSync(join(dir, "home"));
  symlinkSync(join(process.env.PULUMI_HOME ?? join(homedir(), ".pulumi"), "plugins"), join(dir, "home", "plugins"));
  mkdirSync(join(dir, "state"));
  const init = pulumi(["stack", "init"]);
  expect(init.status === 0 ? "" : init.out).toBe("");
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("pulumi preview refuses a value with one clean error", () => {
  test("a tag the registry has previews (the setup itself is sound)", () => {
    set("imageTag", "v1");
    const run = preview();
    expect(run.status === 0 ? "" : run.out).toBe("");
    expect(run.out).toMatch(/\+ \d+ to create/);
    expect(run.out).not.toContain("error");
  });

  test("a tag that breaks the tag rules: the rules and the characters a tag cannot hold", () => {
    set("imageTag", "$(id)");
    expectRefusal(preview(), `imageTag: "$(id)" is not allowed; ${RULES}; a tag cannot contain "$", "(" or ")"`);
  });

  test("'latest': only here is the hint that it is not a release", () => {
    set("imageTag", "latest");
    expectRefusal(
      preview(),
      `imageTag: "latest" is not allowed; ${RULES}; 'latest' is not a release, it moves with every build: name the release, e.g. sha-<commit> or vX.Y.Z`,
    );
  });

  test("no tag at all: how to set one", () => {
    expect(pulumi(["config", "rm", "imageTag"]).status).toBe(0);
    expectRefusal(preview(), `imageTag: "" is not allowed; ${RULES}; set the release to deploy: pulumi config set imageTag v1.2.3`);
  });

  test("a tag the local registry lacks", () => {
    set("imageTag", "sha-deadbee");
    expectRefusal(
      preview(),
      'imageTag: "sha-deadbee" is not allowed; use a tag that 127.0.0.1:5000/deep-calm has: the registry has no ' +
        "127.0.0.1:5000/deep-calm:sha-deadbee (404); push the image first, or check imageRepository",
    );
  });

  test("a registry that cannot be reached", async () => {
    const registry = `127.0.0.1:${await closedPort()}`;
    set("imageTag", "v1");
    set("imageRegistry", registry);
    try {
      expectRefusal(
        preview(),
        `imageRegistry: "${registry}" could not be reached (ECONNREFUSED) when asked for ${registry}/deep-calm:v1; ` +
          `check that the registry is up and that this machine reaches http://${registry}, or pin the digest with imageDigest`,
      );
    } finally {
      set("imageRegistry", "127.0.0.1:5000");
    }
  });

  test("a bad secret: named, shown as [secret], with what is wrong with it", () => {
    set("imageTag", "v1");
    const stored = pulumi(["config", "set", "--secret", "sshPrivateKey"], SECRET);
    expect(stored.status === 0 ? "" : stored.out).toBe("");
    try {
      expectRefusal(
        preview(),
        "sshPrivateKey: [secret] is not allowed; use a PEM/OpenSSH private key: `pulumi config set --secret sshPrivateKey " +
          "< ~/.ssh/deploy_key`, or name its file in sshPrivateKeyPath; it has no -----BEGIN ... PRIVATE KEY----- line",
      );
    } finally {
      pulumi(["config", "rm", "sshPrivateKey"]);
    }
  });
});

describe("bootstrap: true (README: Preparing a new server)", () => {
  const rootKey = join(PROJECT_DIR, ".local-target/ssh/root_ed25519");
  const keyPath = ".local-target/ssh/id_ed25519";

  afterAll(() => {
    for (const key of ["bootstrap", "adminSshPrivateKey"]) pulumi(["config", "rm", key]);
    set("sshPrivateKeyPath", keyPath);
  });

  test("without adminSshPrivateKey: how to set it", () => {
    set("imageTag", "v1");
    set("bootstrap", "true");
    expectRefusal(
      preview(),
      'adminSshPrivateKey: "" is not allowed; bootstrap: true connects as the admin (adminSshUser: root, or a user with ' +
        "passwordless sudo): `pulumi config set --secret adminSshPrivateKey < ~/.ssh/admin_key`",
    );
  });

  test("adminSshPrivateKey in plain text: refused, never shown", () => {
    expect(pulumi(["config", "set", "adminSshPrivateKey"], SECRET).status).toBe(0);
    expectRefusal(
      preview(),
      "adminSshPrivateKey: [secret] is not allowed; it is stored in plain text: set it again with " +
        "`pulumi config set --secret adminSshPrivateKey < key`",
    );
  });

  test("a deploy key configured as well: the program generates it", () => {
    expect(pulumi(["config", "set", "--secret", "adminSshPrivateKey"], readFileSync(rootKey, "utf8")).status).toBe(0);
    expectRefusal(
      preview(),
      `sshPrivateKeyPath: "${keyPath}" is not allowed; with bootstrap: true the program generates the deploy key: ` +
        "`pulumi config rm sshPrivateKeyPath`",
    );
  });

  test("then the preview plans the bootstrap before the host", () => {
    expect(pulumi(["config", "rm", "sshPrivateKeyPath"]).status).toBe(0);
    const run = preview();
    expect(run.status === 0 ? "" : run.out).toBe("");
    for (const name of ["local-bootstrap-deploy-key", "local-bootstrap-prepare", "local-bootstrap-authorize-key", "local-host-ready"]) {
      expect(run.out).toContain(name);
    }
    expect(run.out).not.toContain("b3BlbnNzaC1rZXktdjE");
  });
});
