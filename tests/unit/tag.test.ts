import { ConfigValueError, showValue } from "../../infra/errors";
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

  test.each([
    ["$(id)", 'a tag cannot contain "$", "(" or ")"'],
    ["v1.2;rm -rf /", 'a tag cannot contain ";", a space or "/"'],
    ["v1\nv2", "a tag cannot contain a newline"],
    ["", "set the release to deploy: pulumi config set imageTag v1.2.3"],
    ["latest", "'latest' is not a release, it moves with every build: name the release, e.g. sha-<commit> or vX.Y.Z"],
    ["x".repeat(200), "this one has 200 characters"],
    ["-rf", "a tag starts with a letter or a digit"],
    ["Main", "the app repository's tags are lowercase"],
    ["_x", "it has none of these forms"],
  ])("%j is refused with the rules and the hint that fits it", (bad, hint) => {
    expect(() => parseImageTag("imageTag", bad)).toThrow(
      `imageTag: ${showValue(bad, false)} is not allowed; use sha-<7..40 hex>, vX.Y.Z, X.Y.Z, X.Y, pr-<n>, <branch>-<7 hex> ` +
        `or a branch name (a-z 0-9 . _ -), at most 128 characters; ${hint}`,
    );
  });

  test("only 'latest' is told that 'latest' is not a release", () => {
    for (const bad of ["$(id)", "", "Main", "-rf", "x".repeat(200)]) {
      expect(() => parseImageTag("imageTag", bad)).not.toThrow("latest");
    }
  });

  test("rejects a non-string", () => {
    expect(() => parseImageTag("imageTag", 1.2)).toThrow('imageTag: "1.2" is not allowed');
  });
});
