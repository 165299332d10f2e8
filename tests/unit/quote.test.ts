import { execFileSync } from "node:child_process";
import { combine, pipe, shellJoin, shellQuote } from "../../infra/quote";

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

describe("combinators", () => {
  test("shellJoin refuses an empty command", () => {
    expect(() => shellJoin([])).toThrow(/at least one token/);
  });

  test("combine joins with && and pipe with |", () => {
    expect(combine(["mkdir", "-p", "/a b"], ["touch", "/a b/c"])).toBe("mkdir -p '/a b' && touch '/a b/c'");
    expect(pipe(["cat", "f"], ["grep", "x y"])).toBe("cat f | grep 'x y'");
  });
});
