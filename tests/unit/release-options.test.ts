/**
 * The release option table against the host: what `pulumi preview` accepts, host/dc-release
 * accepts, and what the host refuses, preview refused first, naming the key. The real script runs
 * here (`bash host/dc-release check`: it validates and touches nothing), no SSH.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { ConfigValueError } from "../../infra/errors";
import { envLayout } from "../../infra/layout";
import { deployArgv, ReleaseSettings } from "../../infra/release";
import { OptionSpec, RELEASE_OPTIONS, releaseOptions } from "../../infra/release-options";
import { parseResultLine } from "../../infra/release-result";
import { generated } from "../../scripts/dev/gen-host";
import type * as pulumi from "@pulumi/pulumi";
import { ConfigReader, loadStackConfig, pulumiReader } from "../../stacks/config";
import { loadConfigSchema } from "../../stacks/schema";
import { BASE_CONFIG, DIGEST_V1 } from "./harness";

const SCRIPT = join(__dirname, "..", "..", "host", "dc-release");
const TARGET = { image: "127.0.0.1:5000/deep-calm:v1", digest: DIGEST_V1 };

interface HostAnswer {
  code: number | null;
  json: { ok: boolean; action: string; reason: string | null };
}

/** Runs dc-release locally with `argv` (its action first); its one line is read by the program's parser. */
function host(argv: string[]): HostAnswer {
  const r = spawnSync("bash", [SCRIPT, ...argv], { encoding: "utf8" });
  const lines = r.stdout.trim().split("\n");
  if (lines.length !== 1) {
    throw new Error(`dc-release printed ${JSON.stringify(r.stdout)}; stderr: ${r.stderr}`);
  }
  return { code: r.status, json: parseResultLine(r.stdout) };
}

/** `dc-release check` with the argv the program would run for a deploy of `settings`. */
function checkArgv(env: string, settings: ReleaseSettings): string[] {
  const [, , action, ...rest] = deployArgv({ env, ...TARGET }, settings);
  expect(action).toBe("deploy");
  return ["check", ...rest];
}

const SCHEMA = loadConfigSchema();

/** harness's mapReader with Pulumi.yaml read once: this suite reads config hundreds of times. */
function reader(values: Record<string, unknown>): ConfigReader {
  const get = (key: string) => (key in values ? (typeof values[key] === "string" ? values[key] : JSON.stringify(values[key])) : undefined);
  return pulumiReader({ get } as unknown as pulumi.Config, SCHEMA);
}

/** The release settings a stack deploys with, as stacks/environment.ts completes them (the uploaded netrc). */
function deployed(stack: string, overrides: Record<string, unknown>): ReleaseSettings | ConfigValueError {
  try {
    const cfg = loadStackConfig(stack, reader({ ...BASE_CONFIG[stack], ...overrides }));
    const authFile = cfg.profile.basicAuth ? envLayout(cfg.release.root, cfg.profile.env).netrc : undefined;
    return { ...cfg.release, authFile };
  } catch (err) {
    if (err instanceof ConfigValueError) return err;
    throw err;
  }
}

describe("generated from the table", () => {
  test("dc-release's option sections, Pulumi.yaml's release keys and the README's config reference are fresh (npm run gen:host)", () => {
    for (const [file, text] of generated()) {
      expect([file, readFileSync(file, "utf8") === text]).toEqual([file, true]);
    }
  });

  test("sourced, dc-release only defines its functions (the option checks among them)", () => {
    const r = spawnSync("bash", ["-c", 'source "$1" && declare -F validate_options parse_args && echo "ROOT=$ROOT"', "src", SCRIPT], {
      encoding: "utf8",
    });
    expect(r.stdout).toBe(`validate_options\nparse_args\nROOT=${RELEASE_OPTIONS.root.default}\n`);
  });
});

describe("dc-release check", () => {
  const root = mkdtempSync(join(tmpdir(), "dc-check-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const settings = deployed("test", { hostRoot: root }) as ReleaseSettings;

  test("accepts the program's deploy argv, prints one JSON line and touches nothing (no env dir, lock or deploy.log)", () => {
    // The netrc is not there: its existence and mode are host state, which check does not look at.
    const r = host(checkArgv("test", settings));
    expect(r).toMatchObject({ code: 0, json: { ok: true, action: "check", reason: null } });
    expect(readdirSync(root)).toEqual([]);
  });

  test("refuses a bad value with exit 2 and the reason, and still touches nothing", () => {
    const r = host(checkArgv("test", { ...settings, bakeSeconds: 90, warmSeconds: 60 }));
    expect(r.code).toBe(2);
    expect(r.json).toMatchObject({ ok: false, action: "check" });
    expect(r.json.reason).toBe("invalid --bake '90': expected at most --warm (60 s): the old release must still run to go back to");
    expect(readdirSync(root)).toEqual([]);
  });

  test("takes what deploy takes, and nothing a rollback alone takes", () => {
    const r = host([...checkArgv("test", settings), "--to", "v1"]);
    expect(r.json.reason).toBe("invalid option '--to': not an option of dc-release check");
  });
});

// ---- values around and outside every option's bounds ------------------------------------------

const near = (at: number, by: number) => fc.integer({ min: at - by, max: at + by });

/** Integers as config gives them, around both bounds and far outside, and a few non-integers. */
function integers(spec: { min: number; max: number }): fc.Arbitrary<unknown> {
  return fc.oneof(
    near(spec.min, 3),
    near(spec.max, 3),
    fc.integer({ min: -10, max: 2_000_000 }),
    fc.constantFrom(spec.min + 0.5, "7", "", "fast"),
  );
}

/** Milliseconds as decimal seconds with 0 to 4 decimals (the host takes 3), maybe negative. */
function secondsText(ms: number, decimals: number): string {
  const sign = ms < 0 ? "-" : "";
  const abs = Math.abs(ms);
  const whole = Math.floor(abs / 1000);
  const frac = String(abs % 1000).padStart(3, "0");
  if (decimals === 0) return `${sign}${whole}`;
  return `${sign}${whole}.${(frac + "0").slice(0, decimals)}`;
}

function seconds(spec: { min: number; max: number }): fc.Arbitrary<unknown> {
  const ms = fc.oneof(
    near(Math.round(spec.min * 1000), 3),
    near(Math.round(spec.max * 1000), 3),
    fc.integer({ min: -2000, max: 200_000_000 }),
  );
  return fc.oneof(
    fc.tuple(ms, fc.integer({ min: 0, max: 4 })).map(([m, d]) => secondsText(m, d)),
    fc.constantFrom("1e3", ".5", "5.", " 1", "", "0x10", "fast"),
  );
}

const PATH_CHARS = ["a", "z", "0", "9", ".", "_", "-", "/", "/", "/", "/.", "/..", "A", " ", "$", "\t", "é", "~", "%"];

/** Absolute-ish paths: normal ones, with . and .. parts or //, stray characters, near 200 characters. */
function paths(maxLength: number): fc.Arbitrary<unknown> {
  const segment = fc.stringMatching(/^[a-z0-9._-]{1,12}$/);
  return fc.oneof(
    fc.array(segment, { minLength: 1, maxLength: 5 }).map((s) => `/${s.join("/")}`),
    fc.array(fc.constantFrom(...PATH_CHARS), { maxLength: 20 }).map((c) => c.join("")),
    fc.integer({ min: maxLength - 3, max: maxLength + 3 }).map((n) => `/${"d".repeat(n - 1)}`),
    fc.integer({ min: maxLength - 30, max: maxLength }).map((n) => `/${"d".repeat(n - 1)}/`),
    fc.constantFrom("/", "/opt/./x", "/opt/../etc", "/opt//x", "opt/x", "", "/opt/x/.", "/opt/a..b"),
  );
}

const URL_CHARS = ["a", "/", "/", ".", "_", "~", "%", "?", "=", "&", "+", "-", "Z", "9", " ", "$", "(", "#", "\n", "é", "'"];

function urlPaths(maxLength: number): fc.Arbitrary<string> {
  return fc.oneof(
    fc.array(fc.constantFrom(...URL_CHARS), { maxLength: 16 }).map((c) => c.join("")),
    fc.array(fc.constantFrom(...URL_CHARS), { maxLength: 16 }).map((c) => `/${c.join("")}`),
    fc.integer({ min: maxLength - 3, max: maxLength + 3 }).map((n) => `/${"p".repeat(n - 1)}`),
    fc.constantFrom("/healthz", "/version?x=1&y=%20", "/", ""),
  );
}

function portPairs(spec: { min: number; max: number }): fc.Arbitrary<unknown> {
  const port = fc.oneof(near(spec.min, 2), near(spec.max, 2), fc.integer({ min: 0, max: 70000 }), fc.constant(80));
  return fc.oneof(
    fc.tuple(port, port),
    port.map((p) => [p, p]),
    fc.array(port, { minLength: 0, maxLength: 3 }),
    fc.constant([8101.5, 8102]),
  );
}

/** One-line commands and not: control characters (no NUL: argv cannot carry it), multibyte text, around the byte limit. */
function commands(maxBytes: number): fc.Arbitrary<unknown> {
  const unit = fc.constantFrom("a", " ", "'", "é", "中", "\t", "\x7f", "\x1b", "\r", "\n", "$(id)");
  return fc.oneof(
    fc.array(unit, { maxLength: 12 }).map((u) => u.join("")),
    fc
      .tuple(fc.constantFrom("a", "é", "中"), near(maxBytes, 3))
      .map(([c, bytes]) => c.repeat(Math.max(0, Math.floor(bytes / Buffer.byteLength(c))))),
    fc.tuple(near(maxBytes, 2), fc.constantFrom("\t", "é", "a")).map(([n, c]) => "a".repeat(n - 1) + c),
    fc.string({ unit: "binary", maxLength: 20 }).map((s) => s.replace(/\0/g, "")),
  );
}

/** Config values of the option: inside, on and outside its bounds, and of the wrong shape. */
function values(spec: OptionSpec): fc.Arbitrary<unknown> {
  switch (spec.kind) {
    case "integer":
      return integers(spec);
    case "seconds":
      return seconds(spec);
    case "absolutePath":
    case "netrcPath":
      return paths(spec.maxLength);
    case "urlPath":
      return urlPaths(spec.maxLength);
    case "urlPaths":
      // No empty entry: on the host --smoke '' is "no smoke paths" by design, while config refuses
      // "" as a path; that one difference is preview being stricter, never the host.
      return fc.array(
        urlPaths(spec.maxLength).filter((p) => p !== ""),
        { maxLength: 3 },
      );
    case "portPair":
      return portPairs(spec);
    case "command":
      return commands(spec.maxBytes);
    case "frontUrl":
      throw new Error("the front is derived from nginxListen");
  }
}

/** The option's tokens as the host would get a raw config value typed on its command line. */
function rawTokens(spec: OptionSpec, value: unknown): string[] {
  if (spec.kind === "urlPaths") {
    const paths = value as string[];
    return paths.length === 0 ? [spec.flag, ""] : paths.flatMap((p) => [spec.flag, p]);
  }
  return [spec.flag, Array.isArray(value) ? value.join(",") : String(value)];
}

/** argv (an action, then option pairs) with the pairs of `flag` replaced by `tokens`, where the first was. */
function replaced(argv: string[], flag: string, tokens: string[]): string[] {
  const [action = "", ...pairs] = argv;
  const out: string[] = [];
  let done = false;
  for (let i = 0; i < pairs.length; i += 2) {
    if (pairs[i] !== flag) {
      out.push(pairs[i] as string, pairs[i + 1] as string);
    } else if (!done) {
      out.push(...tokens);
      done = true;
    }
  }
  return [action, ...out];
}

/** Values within the option's bounds, on them included: what most configs set. */
function inside(spec: OptionSpec): fc.Arbitrary<unknown> {
  switch (spec.kind) {
    case "integer":
      return fc.oneof(fc.integer({ min: spec.min, max: spec.max }), fc.constantFrom(spec.min, spec.max));
    case "seconds": {
      const [min, max] = [Math.round(spec.min * 1000), Math.round(spec.max * 1000)];
      const ms = fc.oneof(fc.integer({ min, max }), fc.constantFrom(min, max), fc.integer({ min, max: Math.min(max, min + 5000) }));
      return fc.oneof(
        ms.map((m) => secondsText(m, 3)),
        ms.map((m) => String(m / 1000)),
      );
    }
    case "absolutePath":
    case "netrcPath":
      return fc
        .array(fc.stringMatching(/^[a-z0-9_-][a-z0-9._-]{0,40}$/), { minLength: 1, maxLength: 4 })
        .map((s) => `/${s.join("/")}`.slice(0, spec.maxLength));
    case "urlPath":
      return fc.stringMatching(/^\/[A-Za-z0-9._~/%?=&+-]{0,40}$/);
    case "urlPaths":
      return fc.array(fc.stringMatching(/^\/[A-Za-z0-9._~/%?=&+-]{0,40}$/), { maxLength: 3 });
    case "portPair":
      return fc
        .tuple(fc.integer({ min: spec.min, max: spec.max }), fc.integer({ min: spec.min, max: spec.max }))
        .filter(([a, b]) => a !== b);
    case "command": {
      const unit = fc.constantFrom("a", " ", "'", "é", "中", "$(id)", "\\", '"', ";");
      return fc.oneof(
        fc.array(unit, { maxLength: 30 }).map((u) => u.join("")),
        fc.constantFrom("é", "中", "a").map((c) => c.repeat(Math.floor(spec.maxBytes / Buffer.byteLength(c)))),
      );
    }
    case "frontUrl":
      throw new Error("the front is derived from nginxListen");
  }
}

describe("what preview accepts, the host accepts; what the host refuses, preview refused, naming the key", () => {
  const base = deployed("dev", {}) as ReleaseSettings;
  const baseArgv = checkArgv("dev", base);

  test("the program's defaults pass the host's check", () => {
    expect(host(baseArgv).code).toBe(0);
  });

  const configured = releaseOptions().filter(
    (entry): entry is [keyof ReleaseSettings, OptionSpec & { key: string }] => entry[1].key !== null,
  );

  test.each(configured.map(([field, spec]) => [spec.key, field, spec] as const))(
    "%s: around and outside its bounds, preview and the host agree",
    (key, _field, spec) => {
      fc.assert(
        fc.property(values(spec), (value) => {
          const ts = deployed("dev", { [key]: value });
          const answer = host(replaced(baseArgv, spec.flag, rawTokens(spec, value)));
          expect([0, 2]).toContain(answer.code);
          const seen = {
            value,
            preview: ts instanceof ConfigValueError ? ts.message : "accepted",
            host: answer.code === 0 ? "accepted" : answer.json.reason,
          };
          expect({ ...seen, refusedByBoth: ts instanceof ConfigValueError }).toEqual({ ...seen, refusedByBoth: answer.code === 2 });
          if (ts instanceof ConfigValueError) {
            expect(ts.message).toContain(key);
            expect(answer.json.reason).toContain(spec.flag);
          }
        }),
        { numRuns: 10 },
      );
    },
  );

  test("every config preview accepts gives a deploy argv the host's check accepts", () => {
    const overrides = fc.record(
      {
        ...Object.fromEntries(configured.map(([, spec]) => [spec.key, fc.oneof({ arbitrary: inside(spec), weight: 49 }, values(spec))])),
        nginxListen: fc.constantFrom("80", "127.0.0.1:8080", "443 ssl", "10.0.0.1:99999", "0.0.0.0:8081 ssl"),
        // Mostly within warmSeconds' smaller values too (bake at most warm), else most configs fail on that rule.
        bakeSeconds: fc.oneof(
          { arbitrary: inside({ ...RELEASE_OPTIONS.bakeSeconds, max: 5 }), weight: 3 },
          inside(RELEASE_OPTIONS.bakeSeconds),
        ),
        // Long roots: the test stack's smoke netrc under them may pass the host's 200 characters.
        hostRoot: fc.oneof(
          { arbitrary: inside(RELEASE_OPTIONS.root), weight: 4 },
          fc.integer({ min: 170, max: 200 }).map((n) => `/${"r".repeat(n - 1)}`),
        ),
      },
      { requiredKeys: [] },
    );
    const RUNS = 100;
    let accepted = 0;
    fc.assert(
      fc.property(fc.constantFrom("dev", "test"), overrides, (stack, values) => {
        const settings = deployed(stack, values);
        if (settings instanceof ConfigValueError) return;
        accepted++;
        const answer = host(checkArgv(stack, settings));
        expect({ values, reason: answer.json.reason, code: answer.code }).toEqual({ values, reason: null, code: 0 });
      }),
      { numRuns: RUNS },
    );
    // Each key is off its bounds now and then, which refuses the whole config: most must still pass.
    expect(accepted).toBeGreaterThan(RUNS / 3);
  });
});
