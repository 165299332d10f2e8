/**
 * Host bootstrap without a host: the generated key (read back by ssh-keygen), the admin key's
 * checks at preview, the bootstrap's command lines, dc-bootstrap's refusals of bad arguments, and
 * the stack under Pulumi mocks (every host command waits for the bootstrap and connects with the
 * generated key; neither private key in a plain input).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  asRootArgv,
  authorizeKeyArgv,
  bootstrapArgv,
  bootstrapPaths,
  BOOTSTRAP_SCRIPT,
  generateDeployKey,
  revokeKeyArgv,
} from "../../infra/bootstrap";
import { publicKeyWithoutComment } from "../../infra/deploy-key";
import { loadAdminKey, loadStackConfig } from "../../stacks/config";
import { BASE_CONFIG, isSecretValue, mapReader, named, plainStrings, runStack, SSH_KEY, waitsFor } from "./harness";

describe("the generated deploy key", () => {
  test("is an ed25519 OpenSSH key that ssh-keygen reads, its public half the one it derives", () => {
    const dir = mkdtempSync(join(tmpdir(), "deploy-key-"));
    try {
      for (let i = 0; i < 5; i++) {
        const key = generateDeployKey({ comment: "deep-calm-deploy/test", rotation: "" });
        expect(key.privateKey).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+\n-----END OPENSSH PRIVATE KEY-----\n$/);
        expect(key.publicKey).toMatch(/^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]+=* deep-calm-deploy\/test$/);
        writeFileSync(join(dir, "key"), key.privateKey, { mode: 0o600 });
        const derived = execFileSync("ssh-keygen", ["-y", "-f", join(dir, "key")], { encoding: "utf8" }).trim();
        expect(derived).toBe(key.publicKey);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("each one is new", () => {
    const a = generateDeployKey({ comment: "c", rotation: "" });
    const b = generateDeployKey({ comment: "c", rotation: "" });
    expect(a.publicKey).not.toBe(b.publicKey);
  });
});

describe("adminSshPrivateKey at preview", () => {
  const read = (config: Record<string, unknown>) => mapReader({ ...BASE_CONFIG.dev, ...config });
  const refusal = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error("accepted");
  };

  test("bootstrap without it is refused, saying how to set it", () => {
    expect(refusal(() => loadAdminKey(read({ bootstrap: true }), undefined, false))).toBe(
      'adminSshPrivateKey: "" is not allowed; bootstrap: true connects as the admin (adminSshUser: root, or a user with passwordless sudo): ' +
        "`pulumi config set --secret adminSshPrivateKey < ~/.ssh/admin_key`",
    );
  });

  test("stored in plain text it is refused, bootstrap or not, and never shown", () => {
    for (const bootstrap of [true, false]) {
      const message = refusal(() => loadAdminKey(read({ bootstrap }), SSH_KEY, false));
      expect(message).toBe(
        "adminSshPrivateKey: [secret] is not allowed; it is stored in plain text: set it again with `pulumi config set --secret adminSshPrivateKey < key`",
      );
    }
  });

  test("with bootstrap the deploy key is generated: sshPrivateKey or sshPrivateKeyPath set is refused", () => {
    expect(refusal(() => loadAdminKey(read({ bootstrap: true, sshPrivateKey: SSH_KEY }), SSH_KEY, true))).toBe(
      "sshPrivateKey: [secret] is not allowed; with bootstrap: true the program generates the deploy key: `pulumi config rm sshPrivateKey`",
    );
    expect(refusal(() => loadAdminKey(read({ bootstrap: true, sshPrivateKeyPath: "k" }), SSH_KEY, true))).toContain(
      'sshPrivateKeyPath: "k" is not allowed; with bootstrap: true',
    );
  });

  test("a value that is no private key is refused as [secret]", () => {
    expect(refusal(() => loadAdminKey(read({ bootstrap: true }), "ssh-ed25519 AAAA", true))).toMatch(
      /^adminSshPrivateKey: \[secret\] is not allowed; .*it holds a public key/,
    );
  });

  test("accepted: the key with bootstrap, nothing without", () => {
    expect(loadAdminKey(read({ bootstrap: true }), SSH_KEY, true)).toBe(SSH_KEY);
    expect(loadAdminKey(read({}), SSH_KEY, true)).toBeUndefined();
  });

  test("the config: adminSshUser root by default, checked as a user name; deployKeyRotation", () => {
    expect(loadStackConfig("dev", read({ bootstrap: true })).bootstrap).toEqual({ adminUser: "root", keyRotation: "" });
    expect(loadStackConfig("dev", read({})).bootstrap).toBeUndefined();
    expect(loadStackConfig("dev", read({ bootstrap: true, adminSshUser: "ops", deployKeyRotation: "2026-12" })).bootstrap).toEqual({
      adminUser: "ops",
      keyRotation: "2026-12",
    });
    expect(() => loadStackConfig("dev", read({ bootstrap: true, adminSshUser: "root; id" }))).toThrow(
      'adminSshUser: "root; id" is not allowed',
    );
  });
});

describe("the bootstrap's commands", () => {
  test("run as root: directly for root, else through sudo -n", () => {
    const argv = bootstrapArgv("echo hi", "dc", "/opt/deep-calm");
    expect(argv.slice(0, 4)).toEqual(["sh", "-c", 'if [ "$(id -u)" -eq 0 ]; then exec "$@"; fi; exec sudo -n "$@"', "as-root"]);
    expect(argv.slice(4)).toEqual([
      "bash",
      "-c",
      "echo hi",
      "dc-bootstrap",
      "--user",
      "dc",
      "--root",
      "/opt/deep-calm",
      "--sudoers",
      "/etc/sudoers.d/deep-calm-dc",
      "--nginx-include",
      "/etc/nginx/conf.d/deep-calm-root-opt-deep-calm.conf",
    ]);
    expect(bootstrapPaths("dcboot", "/opt/deep-calm-boot")).toEqual({
      sudoers: "/etc/sudoers.d/deep-calm-dcboot",
      nginxInclude: "/etc/nginx/conf.d/deep-calm-root-opt-deep-calm-boot.conf",
    });
  });

  test("authorize and revoke carry the key as an argument; revoke matches it without its comment", () => {
    const key = "ssh-ed25519 AAAAC3Nza deep-calm-deploy/test";
    expect(authorizeKeyArgv("dc", key).slice(-2)).toEqual(["dc", key]);
    expect(revokeKeyArgv("dc", key).slice(-2)).toEqual(["dc", "ssh-ed25519 AAAAC3Nza"]);
    expect(publicKeyWithoutComment(` ${key}\n`)).toBe("ssh-ed25519 AAAAC3Nza");
  });

  test("an admin that is not root runs the command through sudo -n; root runs it as it is", () => {
    const dir = mkdtempSync(join(tmpdir(), "as-root-"));
    try {
      mkdirSync(join(dir, "bin"));
      writeFileSync(join(dir, "bin", "sudo"), '#!/bin/sh\necho "sudo $*"\n', { mode: 0o755 });
      for (const [uid, expected] of [
        ["1000", "sudo -n echo bootstrap as root\n"],
        ["0", "bootstrap as root\n"],
      ] as const) {
        writeFileSync(join(dir, "bin", "id"), `#!/bin/sh\necho ${uid}\n`, { mode: 0o755 });
        const argv = asRootArgv(["echo", "bootstrap", "as", "root"]);
        const run = spawnSync(argv[0] ?? "", argv.slice(1), {
          encoding: "utf8",
          env: { ...process.env, PATH: `${dir}/bin:${process.env.PATH ?? ""}` },
        });
        expect(run.stdout).toBe(expected);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("authorize adds the key once; revoke removes only that key, whatever its comment", () => {
    const dir = mkdtempSync(join(tmpdir(), "authorized-"));
    try {
      // A stand-in getent gives the user's home; the commands run without their as-root prefix.
      mkdirSync(join(dir, "bin"));
      mkdirSync(join(dir, "home", ".ssh"), { recursive: true });
      writeFileSync(join(dir, "bin", "getent"), `#!/bin/sh\necho "dc:x:1000:1000::${dir}/home:/bin/bash"\n`, { mode: 0o755 });
      const file = join(dir, "home", ".ssh", "authorized_keys");
      writeFileSync(file, "ssh-ed25519 AAAAother someone\n", { mode: 0o600 });
      const run = (argv: string[]) => {
        const [cmd, ...rest] = argv.slice(4);
        const done = spawnSync(cmd ?? "", rest, {
          encoding: "utf8",
          env: { ...process.env, PATH: `${dir}/bin:${process.env.PATH ?? ""}` },
        });
        expect(done.status === 0 ? "" : done.stderr).toBe("");
      };
      run(authorizeKeyArgv("dc", "ssh-ed25519 AAAAnew deep-calm-deploy/test"));
      run(authorizeKeyArgv("dc", "ssh-ed25519 AAAAnew deep-calm-deploy/test"));
      expect(readFileSync(file, "utf8")).toBe("ssh-ed25519 AAAAother someone\nssh-ed25519 AAAAnew deep-calm-deploy/test\n");
      run(revokeKeyArgv("dc", "ssh-ed25519 AAAAnew another-comment"));
      expect(readFileSync(file, "utf8")).toBe("ssh-ed25519 AAAAother someone\n");
      expect((statSync(file).mode & 0o777).toString(8)).toBe("600");
      rmSync(file);
      run(revokeKeyArgv("dc", "ssh-ed25519 AAAAnew x")); // nothing to revoke: still exit 0
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test.each([
    [["--user", "Bad User", "--root", "/opt/x", "--sudoers", "/etc/sudoers.d/x", "--nginx-include", "/etc/nginx/conf.d/x.conf"], "--user"],
    [["--user", "dc", "--root", "opt/x", "--sudoers", "/etc/sudoers.d/x", "--nginx-include", "/etc/nginx/conf.d/x.conf"], "--root"],
    [["--user", "dc", "--root", "/opt/x", "--sudoers", "/tmp/x", "--nginx-include", "/etc/nginx/conf.d/x.conf"], "--sudoers"],
    [["--user", "dc", "--root", "/opt/x", "--sudoers", "/etc/sudoers.d/x", "--nginx-include", "/tmp/x.conf"], "--nginx-include"],
    [["--what", "x"], "unknown argument --what"],
  ])("dc-bootstrap refuses bad arguments before it changes anything (%#)", (args, message) => {
    const run = spawnSync("bash", [BOOTSTRAP_SCRIPT, ...args], { encoding: "utf8" });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(message);
  });

  test("dc-bootstrap is the file the program runs", () => {
    expect(readFileSync(BOOTSTRAP_SCRIPT, "utf8")).toMatch(/^#!\/usr\/bin\/env bash\n/);
  });
});

describe("a stack with bootstrap: true, under mocks", () => {
  const options = { config: { bootstrap: true }, sshPrivateKey: undefined, adminSshPrivateKey: SSH_KEY };

  test("declares the key and both commands; the admin connects as root with its key", async () => {
    const run = await runStack("dev", options);
    expect(named(run, "dev-bootstrap-deploy-key").type).toBe("pulumi-nodejs:dynamic/deepcalm:DeployKey");
    const prepare = named(run, "dev-bootstrap-prepare");
    const admin = prepare.inputs.connection;
    expect(isSecretValue(admin)).toBe(true);
    expect((admin as { value: Record<string, unknown> }).value).toMatchObject({ user: "root", privateKey: SSH_KEY, port: 22 });
    expect(String(prepare.inputs.create)).toContain("dc-bootstrap --user dc --root /opt/deep-calm");
    expect(prepare.inputs.delete).toBeUndefined();
    const authorize = named(run, "dev-bootstrap-authorize-key");
    expect(authorize.options.replaceOnChanges).toContain("delete");
    expect(run.registrations.get("dev-bootstrap-deploy-key")?.additionalSecretOutputs).toEqual(["privateKey"]);
  });

  test("every host command waits for the bootstrap and connects with the generated key", async () => {
    const run = await runStack("dev", options);
    const hostCommands = run.resources.filter((r) => r.type.startsWith("command:remote:") && !r.name.startsWith("dev-bootstrap-"));
    expect(hostCommands.length).toBeGreaterThan(5);
    for (const r of hostCommands) {
      expect([r.name, waitsFor(run, r.name)]).toEqual([
        r.name,
        expect.arrayContaining(["dev-bootstrap-prepare", "dev-bootstrap-authorize-key"]),
      ]);
      // A preview: the generated key is not known yet, so the whole connection is unknown; never the admin's key.
      const connection = r.inputs.connection as { value: Record<string, unknown> };
      expect(isSecretValue(connection)).toBe(true);
      expect(JSON.stringify(connection.value)).not.toContain("topsecretkeymaterial");
      expect(connection.value).toEqual(expect.objectContaining({ __pulumiUnknown: true }));
    }
    expect(waitsFor(run, "dev-observed")).toEqual(expect.arrayContaining(["dev-bootstrap-authorize-key"]));
  });

  test("neither private key is in a plain input; the GitHub environment gets the generated key", async () => {
    const run = await runStack("dev", options);
    for (const r of run.resources) {
      const plain = plainStrings(r.inputs).join("\n");
      expect(plain).not.toContain("topsecretkeymaterial");
      expect(plain).not.toContain("generatedkeymaterial");
    }
    const secret = run.resources.find((r) => r.name.includes("dev_ssh_key"));
    // The generated key, unknown in a preview, and a secret.
    expect(isSecretValue(secret?.inputs.plaintextValue)).toBe(true);
    expect(JSON.stringify(secret?.inputs.plaintextValue)).not.toContain("topsecretkeymaterial");
  });

  test("a new deployKeyRotation is a new key resource input (the provider replaces it)", async () => {
    const run = await runStack("dev", { ...options, config: { bootstrap: true, deployKeyRotation: "2" } });
    expect(named(run, "dev-bootstrap-deploy-key").inputs).toMatchObject({ rotation: "2", comment: "deep-calm-deploy/dev" });
  });
});
