/**
 * Writes the README's config reference from Pulumi.yaml (`npm run docs:config`), or with --check
 * fails when the README is out of date.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfigSchema, renderConfigReference } from "../../stacks/schema";

export const README = join(__dirname, "..", "..", "README.md");
const BEGIN = "<!-- config-reference:begin (npm run docs:config) -->";
const END = "<!-- config-reference:end -->";

export function withReference(readme: string, table: string): string {
  const start = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) {
    throw new Error(`README.md lacks the ${BEGIN} ... ${END} markers`);
  }
  return `${readme.slice(0, start + BEGIN.length)}\n${table}\n${readme.slice(end)}`;
}

if (require.main === module) {
  const readme = readFileSync(README, "utf8");
  const updated = withReference(readme, renderConfigReference(loadConfigSchema()));
  if (process.argv.includes("--check")) {
    if (updated !== readme) {
      console.error("README.md's config reference is out of date: npm run docs:config");
      process.exit(1);
    }
  } else {
    writeFileSync(README, updated);
  }
}
