import { ConfigValueError } from "../../infra/errors";
import { parseImageTag } from "../../infra/tag";

describe("parseImageTag", () => {
  test.each([
    ["sha-0123abc", "sha", true],
    [`sha-${"a".repeat(40)}`, "sha", true],
    ["v1.2.3", "version", true],
    ["1.2.3", "version", true],
    ["v2.0.0-rc.1", "version", true],
    ["1.2", "minor", false],
    ["main-0123abc", "branch-sha", true],
    ["pr-42", "pr", false],
    ["main", "branch", false],
    ["feature-login", "branch", false],
    ["v1", "branch", false],
  ])("%s is a %s tag (immutable: %s)", (tag, kind, immutable) => {
    const parsed = parseImageTag("imageTag", tag);
    expect(parsed).toMatchObject({ tag, kind, immutable });
  });

  test("keeps the commit and the version", () => {
    expect(parseImageTag("imageTag", "sha-0123abc").commit).toBe("0123abc");
    expect(parseImageTag("imageTag", "main-89abcde").commit).toBe("89abcde");
    expect(parseImageTag("imageTag", "v1.2.3").version).toBe("1.2.3");
  });

  test.each([
    ["v1.2;rm -rf /"],
    ["$(id)"],
    ["`id`"],
    [""],
    ["x".repeat(200)],
    ["latest"],
    ["Main"],
    ["-rf"],
    ["a b"],
    ["v1\nv2"],
    ["sha-XYZ"],
  ])("rejects %j naming the key, the value and what is allowed", (bad) => {
    let error: unknown;
    try {
      parseImageTag("imageTag", bad);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigValueError);
    const message = (error as Error).message;
    expect(message).toMatch(/^imageTag: /);
    expect(message).toContain("use sha-<7..40 hex>, vX.Y.Z");
    expect(message).toContain(JSON.stringify(bad.length > 80 ? `${bad.slice(0, 77)}...` : bad));
  });

  test("rejects a non-string", () => {
    expect(() => parseImageTag("imageTag", 1.2)).toThrow('imageTag: "1.2" is not allowed');
  });
});
