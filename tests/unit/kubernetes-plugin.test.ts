import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(__dirname, "..", "..");
const SCRIPT = join("scripts", "dev", "install-engine.sh");

type Manifest = { version: string; pulumi?: { name?: string; version?: string } };
const readJson = <T>(...path: string[]): T => JSON.parse(readFileSync(join(ROOT, ...path), "utf8")) as T;

/** `install-engine.sh --plugin-version kubernetes` of the script in the tree at root. */
function pluginVersion(root: string) {
  const run = spawnSync("bash", [join(root, SCRIPT), "--plugin-version", "kubernetes"], { encoding: "utf8" });
  return { status: run.status, stdout: run.stdout.trim(), stderr: run.stderr };
}

describe("the kubernetes plugin that install-engine.sh installs", () => {
  const pinned = readJson<{ dependencies: Record<string, string> }>("package.json").dependencies["@pulumi/kubernetes"];
  const lock = readJson<{ packages: Record<string, { version?: string }> }>("package-lock.json");

  test("package.json pins @pulumi/kubernetes to one exact version, the one in the lock file", () => {
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    expect(lock.packages["node_modules/@pulumi/kubernetes"]?.version).toBe(pinned);
  });

  // The SDK registers its resources with the plugin version in its package.json's `pulumi`
  // block; with automatic acquisition off, the engine finds no other.
  test("is installed as the version the installed @pulumi/kubernetes asks for", () => {
    const sdk = readJson<Manifest>("node_modules", "@pulumi", "kubernetes", "package.json");
    expect(sdk.version).toBe(pinned);
    expect(sdk.pulumi?.name).toBe("kubernetes");
    const run = pluginVersion(ROOT);
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(run.stdout).toBe(sdk.pulumi?.version ?? sdk.version);
  });

  test("comes from package.json and node_modules, not from a version written in the script", () => {
    const tree = mkdtempSync(join(tmpdir(), "k8s-plugin-version-"));
    try {
      mkdirSync(join(tree, "scripts", "dev"), { recursive: true });
      copyFileSync(join(ROOT, SCRIPT), join(tree, SCRIPT));
      const deps = { "@pulumi/command": "1.2.1", "@pulumi/kubernetes": "9.8.7", "@pulumi/pulumi": "3.276.0" };
      writeFileSync(join(tree, "package.json"), JSON.stringify({ name: "x", dependencies: deps }, null, 2));
      // Before npm ci: the pin.
      expect(pluginVersion(tree)).toMatchObject({ status: 0, stdout: "9.8.7" });

      const sdkDir = join(tree, "node_modules", "@pulumi", "kubernetes");
      mkdirSync(sdkDir, { recursive: true });
      const manifest = (version: string, plugin: string) =>
        writeFileSync(
          join(sdkDir, "package.json"),
          JSON.stringify({ name: "@pulumi/kubernetes", version, pulumi: { resource: true, name: "kubernetes", version: plugin } }),
        );
      manifest("9.8.7", "9.8.7");
      expect(pluginVersion(tree)).toMatchObject({ status: 0, stdout: "9.8.7" });

      // node_modules from another pin: building a plugin it does not ask for would not help.
      manifest("9.8.6", "9.8.6");
      const stale = pluginVersion(tree);
      expect(stale.status).not.toBe(0);
      expect(stale.stderr).toContain("asking for plugin 9.8.6, package.json pins 9.8.7: run npm ci");

      // A range cannot say which plugin to build.
      writeFileSync(join(tree, "package.json"), JSON.stringify({ dependencies: { ...deps, "@pulumi/kubernetes": "^9.8.7" } }));
      expect(pluginVersion(tree).stderr).toContain("must pin @pulumi/kubernetes to an exact version");
    } finally {
      rmSync(tree, { recursive: true, force: true });
    }
  });

  test("tools/pulumi-kubernetes/go.mod names the npm release its provider is, and pins that provider", () => {
    const goMod = readFileSync(join(ROOT, "tools", "pulumi-kubernetes", "go.mod"), "utf8");
    expect(/^\/\/ The Kubernetes provider of the npm @pulumi\/kubernetes (\S+) pinned/m.exec(goMod)?.[1]).toBe(pinned);
    expect(goMod).toMatch(/^require github\.com\/pulumi\/pulumi-kubernetes\/provider\/v4 v\S+$/m);
  });
});
