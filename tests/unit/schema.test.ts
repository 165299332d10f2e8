import { readFileSync } from "node:fs";
import { join } from "node:path";
import { README, withReference } from "../../scripts/config-reference";
import { loadStackConfig } from "../../stacks/config";
import { loadConfigSchema, renderConfigReference } from "../../stacks/schema";
import { BASE_CONFIG } from "./harness";

const schema = loadConfigSchema();

test("every declared key has a type and a description, and a default unless it is secret", () => {
  for (const [key, d] of Object.entries(schema)) {
    expect([key, ["string", "integer", "boolean", "array", "object"].includes(d.type)]).toEqual([key, true]);
    expect([key, d.description.length > 10]).toEqual([key, true]);
    expect([key, d.secret === true || d.default !== undefined]).toEqual([key, true]);
  }
});

test("the program reads exactly the declared keys", () => {
  const read = new Set<string>();
  for (const stack of ["dev", "test", "local"]) {
    loadStackConfig(
      stack,
      (key) => {
        read.add(key);
        return key === "pushToDeploy" ? true : (BASE_CONFIG[stack]?.[key] ?? schema[key]?.default);
      },
      () => "",
    );
  }
  read.add("sshPrivateKey");
  read.add("sshPrivateKeyPath");
  read.add("deploymentLogDatabaseUrl");
  read.add("telegramBotToken");
  read.add("appSecrets");
  expect([...read].sort()).toEqual(Object.keys(schema).sort());
});

test("the stack files only set declared keys", () => {
  for (const stack of ["dev", "test", "local"]) {
    const text = readFileSync(join(__dirname, "..", "..", `Pulumi.${stack}.yaml`), "utf8");
    for (const [, key] of text.matchAll(/^ {2}deep-calm-deploy:(\w+):/gm)) {
      expect([stack, key, key !== undefined && key in schema]).toEqual([stack, key, true]);
    }
  }
});

test("README's config reference is Pulumi.yaml's", () => {
  const readme = readFileSync(README, "utf8");
  expect(withReference(readme, renderConfigReference(schema))).toBe(readme);
});
