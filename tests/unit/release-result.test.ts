/** The format of dc-release's result lines (infra/release-result.ts), on real lines of every kind. */
import {
  ReleaseResultError,
  parseDeployLog,
  parseReleaseResult,
  parseResultLine,
  parseStatusReport,
  releaseResultFrom,
} from "../../infra/release-result";
import * as lines from "../fixtures/release-results";

/** Every real line of the fixtures that dc-release prints on stdout, by name. */
const STDOUT: [string, string][] = Object.entries(lines as Record<string, unknown>).filter(
  (e): e is [string, string] => typeof e[1] === "string" && e[0] !== "DEPLOY_LOG",
);

/** The one line of each deploy, rollback and remove the fixtures hold. */
const RELEASES = STDOUT.filter(([, line]) => ["deploy", "rollback", "remove"].includes(JSON.parse(line).action));

/** What parsing `text` threw; fails the test when nothing was thrown. */
function refusal(parse: () => unknown): ReleaseResultError {
  try {
    parse();
  } catch (err) {
    if (err instanceof ReleaseResultError) return err;
    throw err;
  }
  throw new Error("expected a ReleaseResultError, nothing was thrown");
}

describe("real lines of every kind", () => {
  test("the fixtures hold every action and every way a release ends", () => {
    const seen = STDOUT.map(([, line]) => JSON.parse(line) as { action: string; exitCode: number });
    expect(new Set(seen.map((l) => l.action))).toEqual(new Set(["deploy", "rollback", "remove", "status", "check", "explode", ""]));
    expect(new Set(seen.map((l) => l.exitCode))).toEqual(new Set([0, 1, 2, 3, 4]));
  });

  test.each(RELEASES)("%s is a release result, as it was printed", (_name, line) => {
    expect(parseReleaseResult(line)).toEqual(JSON.parse(line));
    expect(parseResultLine(line)).toEqual(JSON.parse(line));
  });

  test("status: a report, and a refusal", () => {
    expect(parseStatusReport(lines.STATUS)).toEqual(JSON.parse(lines.STATUS));
    expect(parseStatusReport(lines.STATUS_REMOVED)).toMatchObject({ current: null, previous: null, retained: [], healthy: false });
    expect(parseResultLine(lines.STATUS_REFUSED)).toEqual(JSON.parse(lines.STATUS_REFUSED));
    expect(refusal(() => parseStatusReport(lines.STATUS_REFUSED)).message).toBe(
      "dc-release status failed (exit 2): invalid --env 'BAD': expected a lowercase name matching ^[a-z][a-z0-9-]{0,30}$",
    );
  });

  test("check: passed, and refused", () => {
    expect(parseResultLine(lines.CHECK)).toEqual(JSON.parse(lines.CHECK));
    expect(parseResultLine(lines.CHECK_REFUSED)).toMatchObject({ ok: false, action: "check", exitCode: 2, env: "capres" });
  });

  test("an action it does not know, or none: refused, with the word it was given", () => {
    expect(parseResultLine(lines.UNKNOWN_ACTION)).toMatchObject({ ok: false, action: "explode", exitCode: 2 });
    expect(parseResultLine(lines.NO_ACTION)).toMatchObject({ ok: false, action: "", exitCode: 2 });
  });

  test("the interrupted attempts a release hands over: one whose caller was gone, one killed", () => {
    const { interrupted, unconfirmed } = parseReleaseResult(lines.DEPLOY_AFTER_INTERRUPTED);
    expect(interrupted.map((a) => [a.stoppedIn, a.finishedAt === null, "foundBy" in a])).toEqual([
      ["health", false, false],
      ["health", true, true],
    ]);
    expect(unconfirmed.length).toBe(5);
  });

  test("deploy.log: a result nobody got (delivered false), a killed attempt's line, a result", () => {
    const log = parseDeployLog(lines.DEPLOY_LOG);
    expect(log).toEqual(
      lines.DEPLOY_LOG.trim()
        .split("\n")
        .map((l) => JSON.parse(l)),
    );
    expect(log.map((l) => ("delivered" in l ? "undelivered" : "foundBy" in l ? "killed" : "result"))).toEqual([
      "undelivered",
      "killed",
      "result",
    ]);
  });

  test("the stack's release output, parsed already, is checked the same way", () => {
    expect(releaseResultFrom(JSON.parse(lines.DEPLOY_FIRST))).toEqual(JSON.parse(lines.DEPLOY_FIRST));
    expect(refusal(() => releaseResultFrom({ ...JSON.parse(lines.DEPLOY_FIRST), created: 1 })).field).toBe("created");
  });

  test("text outside ASCII, as the host escapes it, comes back exactly", () => {
    const reason = "migration failed (exit 3): sh -c '/bin/migrate' said: база недоступна — ошибка 🛑; nothing was switched";
    // Each UTF-16 unit as \uXXXX: the emoji is a surrogate pair, as JSON writes it.
    const escaped = JSON.stringify(reason).replace(/[^\x20-\x7e]/g, (u) => `\\u${u.charCodeAt(0).toString(16).padStart(4, "0")}`);
    const line = lines.DEPLOY_MIGRATION_FAILED.replace(/"reason":"[^"]*"/, `"reason":${escaped}`);
    expect(line).toMatch(/^[\x20-\x7e]+$/);
    expect(parseReleaseResult(line).reason).toBe(reason);
  });
});

describe("finding the line", () => {
  const line = lines.DEPLOY_HEALTH_FAILED;

  test("after progress, inside the engine's error text, with spaces around", () => {
    const progress =
      "[dc-release +3ms] deploy capres: 127.0.0.1:5000/deep-calm:bad-unhealthy\n[dc-release +870ms] failed: health check failed\n";
    expect(parseReleaseResult(`${progress}${line}\n`)).toEqual(JSON.parse(line));
    const errorText = `Process exited with status 1: running "bash /opt/deep-calm/capres/dc-release deploy":\n${progress}  ${line}\n[dc-release +871ms] done\n`;
    expect(parseReleaseResult(errorText)).toEqual(JSON.parse(line));
  });

  test("no result line: `missing`, with the end of the output", () => {
    const none = refusal(() => parseResultLine("ssh: connect to host 127.0.0.1 port 2222: Connection refused\n"));
    expect(none).toMatchObject({ missing: true, field: undefined });
    expect(none.message).toBe(
      "dc-release printed no result line; its output ended with: ssh: connect to host 127.0.0.1 port 2222: Connection refused",
    );
    expect(refusal(() => parseResultLine("")).message).toBe("dc-release printed no result line; its output was empty");
  });

  test("a line cut short is not JSON", () => {
    const cut = refusal(() => parseResultLine(line.slice(0, 200)));
    expect(cut.missing).toBe(false);
    expect(cut.message).toMatch(/^dc-release's result line does not fit its format \(infra\/release-result\.ts\): the line is not JSON \(/);
  });

  test("a line of another action than expected", () => {
    expect(refusal(() => parseReleaseResult(lines.STATUS)).message).toBe(
      `dc-release's result line does not fit its format (infra/release-result.ts): action: expected the result of "deploy", "rollback" or "remove", got "status"`,
    );
    expect(refusal(() => parseStatusReport(lines.REMOVE)).field).toBe("action");
  });
});

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Step = string | number;

/** The path of a value as a refusal names it: phases.lockMs, interrupted[0].serving.port. */
const named = (path: Step[]): string => path.map((s, i) => (typeof s === "number" ? `[${s}]` : i === 0 ? s : `.${s}`)).join("");

/** Every value of a JSON document, with its path (the document itself aside). */
function* values(v: Json, path: Step[] = []): Generator<[Step[], Json]> {
  if (path.length > 0) yield [path, v];
  if (Array.isArray(v)) for (const [i, x] of v.entries()) yield* values(x, [...path, i]);
  else if (v !== null && typeof v === "object") for (const [k, x] of Object.entries(v)) yield* values(x, [...path, k]);
}

/** A copy of `doc` with the value at `path` changed by `change` (which returns undefined to delete it). */
function changed(doc: Json, path: Step[], change: (old: Json) => Json | undefined): string {
  const copy = structuredClone(doc);
  let parent = copy as Record<Step, Json>;
  for (const step of path.slice(0, -1)) parent = parent[step] as Record<Step, Json>;
  const last = path[path.length - 1] as Step;
  const value = change(parent[last] as Json);
  if (value === undefined) delete parent[last];
  else parent[last] = value;
  return JSON.stringify(copy);
}

/** A value of another JSON type: what no field may hold instead. */
function otherType(v: Json): Json {
  if (v === null) return [];
  if (typeof v === "string") return 42;
  if (typeof v === "number") return "42";
  if (typeof v === "boolean") return String(v);
  return "x";
}

describe("every field is checked: each change of one field is refused, naming that field", () => {
  const docs: [string, string, (text: string) => unknown][] = [
    ...STDOUT.map(([name, line]): [string, string, (text: string) => unknown] => [name, line, parseResultLine]),
    ...lines.DEPLOY_LOG.trim()
      .split("\n")
      .map((line, i): [string, string, (text: string) => unknown] => [`DEPLOY_LOG line ${i + 1}`, line, parseDeployLog]),
  ];

  /** The fields named by the refusals that did not name the changed one ("" when none was refused). */
  function misses(make: (doc: Json, path: Step[], value: Json) => [string, string] | undefined): string[] {
    const out: string[] = [];
    for (const [name, line, parse] of docs) {
      const doc = JSON.parse(line) as Json;
      for (const [path, value] of values(doc)) {
        const made = make(doc, path, value);
        if (made === undefined) continue;
        const [text, field] = made;
        let got = "";
        try {
          parse(text);
        } catch (err) {
          got = err instanceof ReleaseResultError ? String(err.field) : String(err);
        }
        if (got !== field) out.push(`${name} ${field}: ${got === "" ? "taken" : `refused at ${got}`}`);
      }
    }
    return out;
  }

  test("a value of another type", () => {
    expect(misses((doc, path) => [changed(doc, path, otherType), named(path)])).toEqual([]);
  });

  test("a field left out (delivered aside: deploy.log writes it only when false)", () => {
    const leaveOut = (doc: Json, path: Step[]): [string, string] | undefined =>
      typeof path[path.length - 1] === "string" && named(path) !== "delivered"
        ? [changed(doc, path, () => undefined), named(path)]
        : undefined;
    expect(misses(leaveOut)).toEqual([]);
  });

  test("a field the format does not name", () => {
    const addTo = (doc: Json, path: Step[], value: Json): [string, string] | undefined =>
      value !== null && typeof value === "object" && !Array.isArray(value)
        ? [changed(doc, path, () => ({ ...value, surplus: 1 })), `${named(path)}.surplus`]
        : undefined;
    expect(misses(addTo)).toEqual([]);
    expect(refusal(() => parseResultLine(changed(JSON.parse(lines.DEPLOY_FIRST), ["surplus"], () => true))).message).toBe(
      "dc-release's result line does not fit its format (infra/release-result.ts): surplus: expected no such field in a release result, got true",
    );
  });

  test("times are UTC with milliseconds, as dc-release writes them", () => {
    const line = changed(JSON.parse(lines.DEPLOY_FIRST), ["startedAt"], () => "2026-12-02 06:49:23");
    expect(refusal(() => parseResultLine(line)).message).toBe(
      `dc-release's result line does not fit its format (infra/release-result.ts): startedAt: expected a UTC time like 2026-12-02T06:49:23.014Z, got "2026-12-02 06:49:23"`,
    );
  });

  test("a refused line of deploy.log says which", () => {
    const log = `${lines.DEPLOY_LOG}${changed(JSON.parse(lines.DEPLOY_FIRST), ["exitCode"], () => 9)}\n`;
    const err = refusal(() => parseDeployLog(log));
    expect(err.field).toBe("exitCode");
    expect(err.message).toMatch(
      /^deploy\.log line 4: dc-release's result line does not fit its format .*: exitCode: expected 0 or 1 or 2 or 3 or 4, got 9$/,
    );
  });
});
