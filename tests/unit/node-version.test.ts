/**
 * Node 24 everywhere: .nvmrc (which CI's setup-node reads), engines, @types/node, the lockfile and
 * the Node that scripts/dev/install-node.sh pins agree on one major.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(__dirname, "..", "..");
const SCRIPT = readFileSync(join(ROOT, "scripts", "dev", "install-node.sh"), "utf8");
const pinned = (name: string): string => new RegExp(`^readonly ${name}="?([^"\\s]+)"?$`, "m").exec(SCRIPT)?.[1] ?? "";
const NVMRC = readFileSync(join(ROOT, ".nvmrc"), "utf8").trim();

test(".nvmrc, engines, @types/node, the lockfile and install-node.sh's pin agree on one major", () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8"));
  expect(NVMRC).toBe("24");
  expect(pkg.engines.node).toBe(`>=${NVMRC}`);
  expect(lock.packages[""].engines.node).toBe(pkg.engines.node);
  expect(pkg.devDependencies["@types/node"].split(".")[0]).toBe(NVMRC);
  expect(lock.packages["node_modules/@types/node"].version).toBe(pkg.devDependencies["@types/node"]);
  expect(pinned("NODE_VERSION").split(".")[0]).toBe(NVMRC);
  expect(pinned("MIN_MAJOR")).toBe(NVMRC);
  expect(pinned("NODE_SHA512")).toMatch(/^[0-9a-f]{128}$/);
  expect(pinned("NPM_SHA512")).toMatch(/^[0-9a-f]{128}$/);
});
