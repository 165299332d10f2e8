/**
 * App secrets: the renderers (what docker reads, byte for byte), the checks and their messages
 * (never the value), and the stack under mocks (the values only ever inside secret inputs).
 */
import { parse } from "yaml";
import {
  needsFile,
  parseAppSecrets,
  plainAppSecretEntries,
  renderAppSecretsEnv,
  renderSecretFiles,
  writeSecretFilesArgv,
} from "../../infra/app-secrets";
import { isSecretValue, named, plainStrings, runStack, valueOf } from "./harness";

const asConfig = (secrets: Record<string, unknown>, storedAsSecret = true) => ({ raw: JSON.stringify(secrets), storedAsSecret });

/** Every character the issue lists, each on its own, then all together. */
const SPECIAL: [string, string][] = [
  ["dollar", "sk_live_$HOME${PATH}$(id)"],
  ["double quote", 'a"b"'],
  ["single quote", "it's"],
  ["backslash", "C:\\new\\table\\"],
  ["hash", "#not a comment # at all"],
  ["leading and trailing spaces", "  padded  "],
  ["unicode", "пароль ✓ 密码 🔑"],
  ["everything", ` $a "b" 'c' \\d #e ü `],
];

describe("app-secrets.env", () => {
  test.each(SPECIAL)("%s: one KEY=value line holding the value as it is", (_name, value) => {
    expect(needsFile(value)).toBe(false);
    expect(renderAppSecretsEnv({ STRIPE_KEY: value })).toBe(`STRIPE_KEY=${value}\n`);
  });

  test("sorted, one line per key; what docker reads back (up to the first =) is each value exactly", () => {
    const secrets = Object.fromEntries(SPECIAL.map(([, value], i) => [`S${i}`, value]));
    const text = renderAppSecretsEnv(secrets);
    const lines = text.split("\n").slice(0, -1);
    expect(lines.map((l) => l.slice(0, l.indexOf("=")))).toEqual(Object.keys(secrets).sort());
    expect(Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]))).toEqual(secrets);
  });

  test.each([
    ["a newline", "-----BEGIN KEY-----\nAAA\n-----END KEY-----\n"],
    ["a carriage return at the end", "value\r"],
    ["a NUL", "a\0b"],
    ["over 32 KiB", "x".repeat(32 * 1024 + 1)],
  ])("a value with %s becomes the file /run/secrets/KEY, named by KEY_FILE", (_name, value) => {
    expect(needsFile(value)).toBe(true);
    const secrets = { TLS_KEY: value, API: "plain" };
    expect(renderAppSecretsEnv(secrets)).toBe("API=plain\nTLS_KEY_FILE=/run/secrets/TLS_KEY\n");
    const bundle = renderSecretFiles(secrets);
    expect(bundle).toMatch(/^TLS_KEY [A-Za-z0-9+/=]+\n$/);
    expect(Buffer.from(bundle.split(" ")[1] as string, "base64").toString("utf8")).toBe(value);
  });

  test("32 KiB exactly still fits docker's env file", () => {
    expect(needsFile("x".repeat(32 * 1024))).toBe(false);
  });

  test("the files are written from stdin: the command line names only the directory", () => {
    const argv = writeSecretFilesArgv("/opt/deep-calm/dev/secrets");
    expect(argv.slice(-2)).toEqual(["write-secret-files", "/opt/deep-calm/dev/secrets"]);
    expect(argv[2]).toContain("chmod 0400");
  });
});

describe("checks", () => {
  const VALUE = "sk_live_must-never-show";
  const refused = (config: Parameters<typeof parseAppSecrets>[0], taken: string[] = []): string => {
    try {
      parseAppSecrets(config, taken);
    } catch (err) {
      const message = (err as Error).message;
      expect(message).not.toContain(VALUE);
      return message;
    }
    throw new Error("not refused");
  };

  test("unset or empty is no secrets, stored in plain text or not (the default is {})", () => {
    expect(parseAppSecrets(undefined, [])).toEqual({});
    expect(parseAppSecrets({ raw: "{}", storedAsSecret: false }, [])).toEqual({});
  });

  test("values come back as they were set", () => {
    const secrets = Object.fromEntries(SPECIAL.map(([, value], i) => [`S${i}`, value]));
    expect(parseAppSecrets(asConfig(secrets), [])).toEqual(secrets);
  });

  test("a map not stored as a secret is refused, with the command that fixes it", () => {
    expect(refused(asConfig({ STRIPE_KEY: VALUE }, false))).toBe(
      "appSecrets.STRIPE_KEY: [secret] is not allowed; it is stored in plain text: " +
        "set it again with `pulumi config set --secret --path 'appSecrets.STRIPE_KEY'`",
    );
  });

  test("one entry in plain text in the stack file is refused", () => {
    const config = { ...asConfig({ A: "x", STRIPE_KEY: VALUE }), plainEntries: ["STRIPE_KEY"] };
    expect(refused(config)).toMatch(/^appSecrets.STRIPE_KEY: \[secret\] is not allowed; it is stored in plain text/);
  });

  test.each([
    ["a bad name", { "stripe-key": VALUE }, [], /^appSecrets: "stripe-key" is not allowed; use variable names of A-Z, 0-9 and _/],
    ["a non-string", { PIN: { nested: VALUE } }, [], /^appSecrets.PIN: \[secret\] is not allowed; use a string/],
    ["a lone surrogate", { K: `${VALUE}\ud800` }, [], /^appSecrets.K: \[secret\] is not allowed; use valid Unicode text/],
    [
      "a name the program sets",
      { DATABASE_URL: VALUE },
      ["DATABASE_URL"],
      /^appSecrets.DATABASE_URL: \[secret\] .*already in the app's environment/,
    ],
    ["a name appEnvironment sets", { FEATURE: VALUE }, ["FEATURE"], /^appSecrets.FEATURE: \[secret\] .*use another name$/],
    [
      "a file whose KEY_FILE is taken",
      { CERT: `${VALUE}\n`, CERT_FILE: "x" },
      [],
      /^appSecrets.CERT: \[secret\] .*CERT_FILE is set already/,
    ],
  ])("%s is refused without showing the value", (_name, secrets, taken, message) => {
    expect(refused(asConfig(secrets), taken)).toMatch(message);
  });

  test("a map that is not one is refused", () => {
    expect(refused({ raw: JSON.stringify([VALUE]), storedAsSecret: true })).toMatch(/^appSecrets: \[secret\] is not allowed; use a map/);
    expect(refused({ raw: `{${VALUE}`, storedAsSecret: true })).toMatch(/^appSecrets: \[secret\] is not allowed; use a map/);
  });

  test("plain entries are found in a stack file; --secret ones are not", () => {
    const stackFile = parse(
      [
        "config:",
        "  deep-calm-deploy:appSecrets:",
        "    STRIPE_KEY:",
        "      secure: v1:abc",
        "    SENTRY_DSN: https://plain@example",
        "  deep-calm-deploy:imageTag: v1",
      ].join("\n"),
    );
    expect(plainAppSecretEntries(stackFile, "deep-calm-deploy")).toEqual(["SENTRY_DSN"]);
    expect(plainAppSecretEntries(parse("config: {}"), "deep-calm-deploy")).toEqual([]);
  });
});

describe("the stack under mocks", () => {
  const SECRETS = { STRIPE_KEY: ` sk_"live"_$X\\#'ü `, TLS_KEY: "-----BEGIN-----\nc2VjcmV0\n-----END-----" };

  test("uploads app-secrets.env (0600) and the secret files over stdin, as secrets", async () => {
    const run = await runStack("local", { appSecrets: asConfig(SECRETS) });
    const envFile = named(run, "local-project-app-secrets");
    const files = named(run, "local-project-secret-files");
    expect(envFile.inputs.create).toBe(
      'sh -c \'umask 077 && cat > "$1.tmp" && chmod "$2" "$1.tmp" && mv -f "$1.tmp" "$1"\' write-file /opt/deep-calm/local/app-secrets.env 0600',
    );
    expect(files.inputs.create).toMatch(/ write-secret-files \/opt\/deep-calm\/local\/secrets$/);
    expect(files.inputs.delete).toBe("rm -rf -- /opt/deep-calm/local/secrets");
    for (const r of [envFile, files]) {
      expect([r.name, isSecretValue(r.inputs.stdin), r.inputs.logging]).toEqual([r.name, true, "none"]);
    }
    expect((envFile.inputs.stdin as { value: string }).value).toBe(renderAppSecretsEnv(SECRETS));
    expect((files.inputs.stdin as { value: string }).value).toBe(renderSecretFiles(SECRETS));
  });

  test("no value in any plain input (command lines, files, triggers) nor in the stack's outputs", async () => {
    const run = await runStack("local", { appSecrets: asConfig(SECRETS) });
    const plain = run.resources.flatMap((r) => plainStrings(r.inputs));
    const pieces = [SECRETS.STRIPE_KEY.trim(), "c2VjcmV0", Buffer.from(SECRETS.TLS_KEY).toString("base64")];
    for (const piece of pieces) {
      expect(plain.filter((s) => s.includes(piece))).toEqual([]);
    }
    // The release output is the host's result, which mocks only make up: tests/e2e/app-secrets.test.ts reads the real one.
    const outputs = JSON.stringify([run.environment.url, await valueOf(run.environment.imageRef), await valueOf(run.environment.digest)]);
    for (const piece of pieces) {
      expect(outputs).not.toContain(piece);
    }
  });

  test("a stack without app secrets declares neither upload", async () => {
    const names = (await runStack("local")).resources.map((r) => r.name);
    expect(names).toContain("local-project-env-file");
    expect(names.filter((n) => /app-secrets|secret-files/.test(n))).toEqual([]);
  });

  test("a bad secret stops the stack before any host command, with the key and not the value", async () => {
    const attempt = runStack("local", {
      config: { appEnvironment: ["STRIPE_KEY=public"] },
      appSecrets: asConfig({ STRIPE_KEY: "sk_live_hidden" }),
    });
    await expect(attempt).rejects.toThrow(
      /appSecrets.STRIPE_KEY: \[secret\] is not allowed; STRIPE_KEY is already in the app's environment/,
    );
    await expect(attempt).rejects.not.toThrow(/sk_live_hidden/);
  });
});
