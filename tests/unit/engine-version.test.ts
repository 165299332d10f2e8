import { readFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(__dirname, "..", "..");

function semver(text: string): number[] {
  const match = /^v?(\d+)\.(\d+)\.(\d+)/.exec(text);
  if (match === null) throw new Error(`not a version: ${text}`);
  return match.slice(1, 4).map(Number);
}

function atLeast(a: number[], b: number[]): boolean {
  for (let i = 0; i < 3; i++) {
    if ((a[i] as number) !== (b[i] as number)) return (a[i] as number) > (b[i] as number);
  }
  return true;
}

describe("the engine built from tools/pulumi", () => {
  const goMod = readFileSync(join(ROOT, "tools", "pulumi", "go.mod"), "utf8");
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string> };
  const cli = /^\s*github\.com\/pulumi\/pulumi\/pkg\/v3 (v\S+)$/m.exec(goMod)?.[1] ?? "";
  const sdk = pkg.dependencies["@pulumi/pulumi"] ?? "";

  // An older CLI than the npm SDK may lack engine calls the SDK makes.
  test("the CLI version pinned in go.mod is at or above package.json's @pulumi/pulumi", () => {
    expect(atLeast(semver(cli), semver(sdk))).toBe(true);
  });

  test("the Go SDK is pinned at the CLI's version, and the language host reports it", () => {
    expect(/^\s*github\.com\/pulumi\/pulumi\/sdk\/v3 (v\S+)$/m.exec(goMod)?.[1]).toBe(cli);
    const host = readFileSync(join(ROOT, "tools", "pulumi", "cmd", "pulumi-language-nodejs", "main.go"), "utf8");
    expect(/^var version = "(.+)"$/m.exec(host)?.[1]).toBe(cli.replace(/^v/, ""));
  });
});
