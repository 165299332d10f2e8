import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { desiredTag, imageTagOf, withImageTag, withoutDigest } from "../../scripts/ci/image-tag";

const DIGEST = `sha256:${"a".repeat(64)}`;
const STACK_FILE = [
  "# dev: every push to main deploys here.",
  "config:",
  "  deep-calm-deploy:imageTag: sha-0000000",
  "  deep-calm-deploy:host: dev.example.com # the server",
  "",
].join("\n");

describe("withImageTag", () => {
  test("changes only the tag line, keeping comments and order", () => {
    expect(withImageTag(STACK_FILE, "deep-calm-deploy", "sha-0123abc")).toBe(STACK_FILE.replace("sha-0000000", "sha-0123abc"));
  });

  test("pins the digest when given and drops a stale one when not", () => {
    const pinned = withImageTag(STACK_FILE, "deep-calm-deploy", "v1.2.3", DIGEST);
    expect(pinned).toContain(`  deep-calm-deploy:imageDigest: ${DIGEST}\n`);
    expect(withImageTag(pinned, "deep-calm-deploy", "v1.2.4")).toBe(STACK_FILE.replace("sha-0000000", "v1.2.4"));
  });

  test("is a no-op when the tag is already wanted", () => {
    expect(withImageTag(STACK_FILE, "deep-calm-deploy", "sha-0000000")).toBe(STACK_FILE);
  });

  test("adds a config section to an empty file", () => {
    expect(withImageTag("", "p", "v1.0.0")).toBe("config:\n  p:imageTag: v1.0.0\n");
  });

  test("withoutDigest unpins, keeping everything else, and leaves an unpinned file as it is", () => {
    const pinned = withImageTag(STACK_FILE, "deep-calm-deploy", "sha-0000000", DIGEST);
    expect(withoutDigest(pinned, "deep-calm-deploy")).toBe(STACK_FILE);
    expect(withoutDigest(STACK_FILE, "deep-calm-deploy")).toBe(STACK_FILE);
  });

  test("reads the tag back", () => {
    expect(imageTagOf(STACK_FILE, "deep-calm-deploy")).toBe("sha-0000000");
    expect(imageTagOf("config: {}\n", "deep-calm-deploy")).toBeUndefined();
  });
});

describe("desiredTag", () => {
  test.each(["sha-0123abc", "v1.2.3", "1.2.3", "main-0123abc"])("accepts %s, which names one image", (tag) => {
    expect(desiredTag("tag", tag).tag).toBe(tag);
  });

  test.each([
    ["main", "branch"],
    ["1.2", "minor"],
    ["pr-12", "pr"],
  ])("refuses %s, a %s tag that moves", (tag, kind) => {
    expect(() => desiredTag("tag", tag)).toThrow(`tag: "${tag}" is not allowed; a ${kind} tag moves with every build`);
  });

  test("refuses what infra/tag.ts refuses, quoting it", () => {
    expect(() => desiredTag("tag", "v1;rm -rf /")).toThrow('tag: "v1;rm -rf /" is not allowed; use sha-<7..40 hex>');
  });
});

describe("the command line", () => {
  const tsx = join(__dirname, "..", "..", "node_modules", ".bin", "tsx");
  const script = join(__dirname, "..", "..", "scripts", "ci", "image-tag.ts");
  const run = (...args: string[]) => spawnSync(tsx, [script, ...args], { encoding: "utf8" });

  test("check prints a valid tag and exits 0", () => {
    const result = run("check", "v1.2.3");
    expect([result.status, result.stdout]).toEqual([0, "v1.2.3\n"]);
  }, 20_000);

  test("bad input exits 2 with the reason on stderr and nothing on stdout", () => {
    const bad = run("check", "$(id)");
    expect([bad.status, bad.stdout]).toEqual([2, ""]);
    expect(bad.stderr).toContain('tag: "$(id)" is not allowed');
    const stack = run("set", "staging", "v1.2.3");
    expect(stack.status).toBe(2);
    expect(stack.stderr).toContain('stack: "staging" is not allowed');
    expect(run("frobnicate").stderr).toContain("usage: image-tag.ts");
  }, 30_000);

  test("get reads a committed stack file", () => {
    const result = run("get", "test");
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^\S+\n$/);
  }, 20_000);
});
