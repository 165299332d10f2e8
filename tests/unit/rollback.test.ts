import { HistoryEntry, createdFromRelease, parseArgs, previousGoodFromLog, previousGoodTag } from "../../scripts/ops/rollback";
import { DEPLOY_FIRST, resultWith } from "../fixtures/release-results";

const update = (tag: string, result = "succeeded"): HistoryEntry => ({
  kind: "update",
  result,
  config: { "deep-calm-deploy:imageTag": { value: tag, secret: false } },
});

describe("previousGoodTag", () => {
  test("skips the current tag and failed updates, newest first", () => {
    const history = [update("v3", "failed"), update("v2"), update("v2"), update("v1", "failed"), update("v0")];
    expect(previousGoodTag(history, "v2")).toBe("v0");
    expect(previousGoodTag(history, "v3")).toBe("v2");
  });

  test("ignores refreshes and destroys", () => {
    expect(
      previousGoodTag([{ kind: "refresh", result: "succeeded", config: { "deep-calm-deploy:imageTag": "v1" } }, update("v2")], "v3"),
    ).toBe("v2");
  });

  test("nothing earlier gives undefined", () => {
    expect(previousGoodTag([update("v1")], "v1")).toBeUndefined();
    expect(previousGoodTag([], "v1")).toBeUndefined();
  });
});

describe("parseArgs", () => {
  test("stack and optional --to", () => {
    expect(parseArgs(["dev"])).toEqual({ stack: "dev" });
    expect(parseArgs(["test", "--to", "v0.2.0"])).toEqual({ stack: "test", to: "v0.2.0" });
  });

  test("bad input is refused before pulumi runs", () => {
    expect(() => parseArgs([])).toThrow("usage: npm run rollback -- <stack> [--to <tag>]");
    expect(() => parseArgs(["staging"])).toThrow('stack: "staging" is not allowed');
    expect(() => parseArgs(["dev", "--to", "$(id)"])).toThrow('--to: "$(id)" is not allowed');
    expect(() => parseArgs(["dev", "--force"])).toThrow("unexpected arguments: --force");
  });
});

describe("previousGoodFromLog", () => {
  test("the newest success or rolled_back row of another tag", () => {
    const rows = [
      { tag: "v4", status: "failed" as const },
      { tag: "v3", status: "success" as const },
      { tag: "v2", status: "rolled_back" as const },
      { tag: "v1", status: "success" as const },
    ];
    expect(previousGoodFromLog(rows, "v3")).toBe("v2");
    expect(previousGoodFromLog(rows, "v4")).toBe("v3");
    expect(previousGoodFromLog(rows.slice(0, 2), "v3")).toBeUndefined();
  });
});

describe("the env's lifetime", () => {
  const at = (entry: HistoryEntry, endTime: string): HistoryEntry => ({ ...entry, endTime });

  test("nothing from before the last destroy is a release to go back to", () => {
    const history = [update("v1"), { kind: "destroy", result: "succeeded" }, update("v3"), update("v2")];
    expect(previousGoodTag(history, "v1")).toBeUndefined();
    expect(previousGoodTag(history.slice(2), "v1")).toBe("v3");
  });

  test("nothing that ended before the env was created, taken to the second the history keeps", () => {
    const history = [
      at(update("v2"), "2026-12-02T03:47:10.000Z"),
      at(update("v1"), "2026-12-02T03:47:06.000Z"),
      at(update("v3"), "2026-12-02T03:40:00.000Z"),
    ];
    expect(previousGoodTag(history, "v2", "2026-12-02T03:47:06.731Z")).toBe("v1");
    expect(previousGoodTag(history.slice(1), "v1", "2026-12-02T03:47:06.731Z")).toBeUndefined();
    expect(previousGoodTag(history.slice(1), "v1")).toBe("v3");
  });

  test("created comes from the stack's release output; one that does not fit says why", () => {
    // As `pulumi stack output release --json` prints it.
    const output = (line: string) => JSON.stringify(JSON.parse(line), null, 2);
    expect(createdFromRelease(output(DEPLOY_FIRST))).toEqual({ created: JSON.parse(DEPLOY_FIRST).created });
    expect(createdFromRelease(output(resultWith(DEPLOY_FIRST, { created: null })))).toEqual({});
    expect(createdFromRelease('{"ok":true,"created":"2026-12-02T03:47:06.731Z"}')).toEqual({
      problem: `dc-release's result line does not fit its format (infra/release-result.ts): action: expected "deploy" or "rollback" or "remove", got nothing (the field is missing)`,
    });
    expect(createdFromRelease("not json").problem).toMatch(/^Unexpected token/);
  });
});
