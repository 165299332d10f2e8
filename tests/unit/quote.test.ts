import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { shellJoin, shellQuote, withFileDigest } from "../../infra/quote";

/** Runs the quoted command through a real sh and returns the arguments it received. */
function roundTrip(tokens: string[]): string[] {
  const script = `${shellJoin(["printf", "%s\\0", ...tokens])}`;
  const out = execFileSync("sh", ["-c", script], { encoding: "utf8" });
  return out.split("\0").slice(0, -1);
}

const ADVERSARIAL = [
  "it's",
  `"double"`,
  "$(id)",
  "`id`",
  "${HOME}",
  "a b\tc",
  "line1\nline2",
  "; rm -rf /",
  "v1.2;rm -rf /",
  "&& reboot",
  "| cat /etc/shadow",
  "*",
  "~root",
  "-rf",
  "'",
  "''",
  "\\",
  "дeплой ✓ 🚀",
  "",
];

describe("shellQuote", () => {
  test("leaves safe tokens bare", () => {
    expect(shellQuote("docker")).toBe("docker");
    expect(shellQuote("/opt/deep-calm/dev/dc-release")).toBe("/opt/deep-calm/dev/dc-release");
    expect(shellQuote("127.0.0.1:5000/deep-calm:v1")).toBe("127.0.0.1:5000/deep-calm:v1");
    expect(shellQuote("--health-path=/healthz")).toBe("--health-path=/healthz");
  });

  test("single-quotes everything else, exactly", () => {
    expect(shellQuote("it's")).toBe(`'it'"'"'s'`);
    expect(shellQuote("$(id)")).toBe("'$(id)'");
    expect(shellQuote("`id`")).toBe("'`id`'");
    expect(shellQuote("a b")).toBe("'a b'");
    expect(shellQuote("")).toBe("''");
    expect(shellQuote("{{.Server.Version}}")).toBe("'{{.Server.Version}}'");
  });

  test("refuses NUL, which no shell argument can carry", () => {
    expect(() => shellQuote("a\0b")).toThrow(/NUL/);
  });

  test.each(ADVERSARIAL)("a real sh receives %j unchanged", (token) => {
    expect(roundTrip([token, "next"])).toEqual([token, "next"]);
  });

  test("all adversarial strings in one command survive together", () => {
    expect(roundTrip(ADVERSARIAL)).toEqual(ADVERSARIAL);
  });
});

test("shellJoin refuses an empty command", () => {
  expect(() => shellJoin([])).toThrow(/at least one token/);
});

describe("withFileDigest: runs a command only on the file the stack uploaded", () => {
  const dir = mkdtempSync(join(tmpdir(), "file-digest-"));
  const file = join(dir, "dc release");
  writeFileSync(file, "#!/bin/sh\necho uploaded\n");
  const digest = createHash("sha256").update("#!/bin/sh\necho uploaded\n").digest("hex");
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const run = (d: string, path = file) =>
    spawnSync("sh", ["-c", shellJoin(withFileDigest(path, d, ["sh", path, "it's"]))], { encoding: "utf8" });

  test("the matching file runs, with the command's own arguments", () => {
    const r = run(digest);
    expect([r.status, r.stdout, r.stderr]).toEqual([0, "uploaded\n", ""]);
  });

  test.each([
    ["another digest", "0".repeat(64), file],
    ["a missing file", digest, join(dir, "missing")],
  ])("%s: exit 2 with what to do, nothing runs", (_what, d, path) => {
    const r = run(d, path);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(`${path} is not the file this stack uploaded (sha256 ${d}): run pulumi up again\n`);
  });
});
