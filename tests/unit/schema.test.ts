import { readFileSync } from "node:fs";
import { join } from "node:path";
import { README, withReference } from "../../scripts/dev/config-reference";
import { releaseOptions } from "../../infra/release-options";
import { loadStackConfig } from "../../stacks/config";
import { loadKubeconfig, loadKubeStackConfig } from "../../stacks/kube-config";
import { loadConfigSchema, renderConfigReference } from "../../stacks/schema";
import { BASE_CONFIG } from "./harness";

const schema = loadConfigSchema();
const KUBECONFIG = JSON.stringify({
  kind: "Config",
  "current-context": "c",
  contexts: [{ name: "c", context: { cluster: "c", user: "u" } }],
  clusters: [{ name: "c", cluster: { server: "https://10.213.0.1:6443" } }],
  users: [{ name: "u", user: { token: "t" } }],
});

test("every declared key has a type and a description, and a default unless it is secret", () => {
  for (const [key, d] of Object.entries(schema)) {
    expect([key, ["string", "integer", "boolean", "array", "object"].includes(d.type)]).toEqual([key, true]);
    expect([key, d.description.length > 10]).toEqual([key, true]);
    expect([key, d.secret === true || d.default !== undefined]).toEqual([key, true]);
  }
});

test("the program reads exactly the declared keys", () => {
  const read = new Set<string>();
  for (const stack of ["dev", "test", "local", "review-42"]) {
    loadStackConfig(
      stack,
      (key) => {
        read.add(key);
        // A review stack refuses bootstrap (stacks/review.ts): it runs on dev's prepared host.
        const on = key === "pushToDeploy" || (key === "bootstrap" && !stack.startsWith("review-"));
        return on ? true : (BASE_CONFIG[stack]?.[key] ?? schema[key]?.default);
      },
      () => "",
    );
  }
  // A kubernetes stack's keys, read by its own loader (stacks/kube-config.ts) with the shared ones.
  const kube = { runtime: "kubernetes", kubeconfigPath: "k", publicUrl: "http://10.213.0.11:30080" };
  loadKubeStackConfig("local-k8s", (key) => {
    read.add(key);
    return kube[key as keyof typeof kube] ?? BASE_CONFIG.local?.[key] ?? schema[key]?.default;
  });
  loadKubeconfig(
    (key) => (read.add(key), kube[key as keyof typeof kube]),
    undefined,
    false,
    () => KUBECONFIG,
  );
  read.add("runtime"); // read by stacks/index.ts to pick the loader
  read.add("kubeconfig"); // read by stacks/index.ts as it arrives, then checked by loadKubeconfig
  read.add("sshPrivateKey");
  read.add("sshPrivateKeyPath");
  read.add("adminSshPrivateKey"); // read by stacks/index.ts as it arrives, then checked by loadAdminKey
  read.add("deploymentLogDatabaseUrl");
  read.add("telegramBotToken");
  read.add("appSecrets");
  read.add("reviewTtlDays"); // read by review.yml's scheduled job (scripts/ops/review-env.ts)
  expect([...read].sort()).toEqual(Object.keys(schema).sort());
});

test("every release option's key is declared as the option table says, with the table's default", () => {
  const keys = releaseOptions().flatMap(([, spec]) => (spec.key === null ? [] : [spec.key]));
  expect(keys.length).toBeGreaterThan(0);
  for (const [, spec] of releaseOptions()) {
    if (spec.key === null) {
      // Derived: the key it comes from is declared; the option itself is not config.
      expect([spec.flag, spec.from !== undefined && spec.from in schema]).toEqual([spec.flag, true]);
      continue;
    }
    const d = schema[spec.key];
    const type = { integer: "integer", portPair: "array", urlPaths: "array" }[spec.kind as string] ?? "string";
    const asConfig = spec.kind === "seconds" ? String(spec.default) : spec.default;
    expect([spec.key, d?.type, d?.default]).toEqual([spec.key, type, asConfig]);
    expect(d?.description).toContain(spec.description);
  }
  expect(schema.bakeSeconds?.description).toContain("At most warmSeconds");
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
