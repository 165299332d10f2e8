import * as pulumi from "@pulumi/pulumi";
import { hostKeyFromKnownHosts } from "../../infra/known-hosts";
import { frontUrl, loadPrivateKey, loadStackConfig, refusePlainSecrets } from "../../stacks/config";
import { BASE_CONFIG, HOST_KEY, lastRegistered, mapReader, runStack, SSH_KEY } from "./harness";

function configError(stack: string, overrides: Record<string, unknown>): string {
  try {
    loadStackConfig(stack, mapReader({ ...BASE_CONFIG[stack], ...overrides }));
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("config was accepted");
}

describe("loadStackConfig", () => {
  test("applies Pulumi.yaml defaults and the stack profile", () => {
    const cfg = loadStackConfig("dev", mapReader(BASE_CONFIG.dev ?? {}));
    expect(cfg.profile.env).toBe("dev");
    expect(cfg.image).toMatchObject({ registry: "ghcr.io", repository: "vasiliy-ivanov/deep-calm", digestSource: "docker" });
    expect(cfg.ssh).toMatchObject({ port: 22, user: "dc", dialTimeoutSeconds: 10, dialAttempts: 5 });
    expect(cfg.release).toMatchObject({
      ports: [8101, 8102],
      healthPath: "/healthz",
      healthIntervalSeconds: 0.5,
      migrateCommand: "alembic upgrade head",
      migrateTimeoutSeconds: 600,
      stopTimeoutSeconds: 10,
      healthSuccesses: 2,
      switchTimeoutSeconds: 10,
      frontUrl: "http://127.0.0.1:80",
    });
    // The netrc's path is ComposeProject's: it names the file only where it uploads one.
    expect(cfg.release.authFile).toBeUndefined();
    expect(loadStackConfig("test", mapReader(BASE_CONFIG.test ?? {})).release.authFile).toBeUndefined();
  });

  test("a pinned digest wins over resolving one", () => {
    expect(loadStackConfig("local", mapReader(BASE_CONFIG.local ?? {})).image.digestSource).toBe("config");
  });

  test("front URL follows nginx's listen value", () => {
    expect(frontUrl("80")).toBe("http://127.0.0.1:80");
    expect(frontUrl("127.0.0.1:8080")).toBe("http://127.0.0.1:8080");
    expect(frontUrl("443 ssl")).toBe("https://127.0.0.1:443");
  });

  test("an unknown stack names the stacks there are", () => {
    expect(() => loadStackConfig("staging", mapReader({}))).toThrow(
      'stack: "staging" is not allowed; use one of the stacks: dev, test, prod, local',
    );
  });

  test.each([
    ["imageTag", "v1.2;rm -rf /", 'imageTag: "v1.2;rm -rf /" is not allowed; use sha-'],
    ["imageTag", "$(id)", 'imageTag: "$(id)" is not allowed'],
    ["imageTag", "", 'imageTag: "" is not allowed'],
    ["imageTag", "v".repeat(200), "(200 chars) is not allowed"],
    ["host", "dev.example.com; reboot", 'host: "dev.example.com; reboot" is not allowed; use a DNS name or an IP address'],
    ["host", "-oProxyCommand=id", 'host: "-oProxyCommand=id" is not allowed'],
    ["sshPort", 70000, 'sshPort: "70000" is not allowed; use a TCP port, an integer from 1 to 65535'],
    ["sshPort", 0, 'sshPort: "0" is not allowed'],
    ["sshUser", "root;id", 'sshUser: "root;id" is not allowed; use a Unix user name'],
    ["sshHostKey", "", 'sshHostKey: "" is not allowed; use the server\'s public host key'],
    ["healthPath", "/healthz?x=$(id)", 'healthPath: "/healthz?x=$(id)" is not allowed'],
    ["healthInterval", "fast", 'healthInterval: "fast" is not allowed; use a number of seconds'],
    ["migrateTimeout", "0", 'migrateTimeout: "0" is not allowed; use a number of seconds from 1 to 86400'],
    ["stopTimeout", 1.5, 'stopTimeout: "1.5" is not allowed; use an integer from 0 to 600'],
    ["appPorts", [8101, 8101], 'appPorts: "[8101,8101]" is not allowed; use two different loopback ports'],
    ["migrateCommand", "alembic upgrade head\nrm -rf /", "migrateCommand:"],
    ["imageDigest", "sha256:abc", 'imageDigest: "sha256:abc" is not allowed; use a digest of the form sha256:<64 hex>'],
    ["publicUrl", "ftp://x", 'publicUrl: "ftp://x" is not allowed'],
    ["publicUrl", "https://user:pw@x.example.com", "publicUrl:"],
    ["nginxListen", "80; include /etc/passwd", 'nginxListen: "80; include /etc/passwd" is not allowed'],
    ["hostRoot", "/opt/../etc", 'hostRoot: "/opt/../etc" is not allowed'],
    ["digestSource", "magic", 'digestSource: "magic" is not allowed; use one of: docker, registry'],
    ["deploymentLogSchema", "public; drop table x", 'deploymentLogSchema: "public; drop table x" is not allowed'],
    ["telegramApiUrl", "file:///etc/passwd", 'telegramApiUrl: "file:///etc/passwd" is not allowed'],
    ["bakeSeconds", "-1", 'bakeSeconds: "-1" is not allowed; use a number of seconds from 0 to 3600'],
  ])("%s = %j is refused: %s", (key, value, message) => {
    expect(configError("dev", { [key]: value })).toContain(message);
  });

  test("the bake defaults to 10 s and never outlasts the warm period (the old release must still run)", () => {
    expect(loadStackConfig("dev", mapReader(BASE_CONFIG.dev ?? {})).release).toMatchObject({ bakeSeconds: 10, warmSeconds: 60 });
    expect(loadStackConfig("dev", mapReader({ ...BASE_CONFIG.dev, bakeSeconds: "0", warmSeconds: "0" })).release.bakeSeconds).toBe(0);
    expect(configError("dev", { bakeSeconds: "90", warmSeconds: "60" })).toBe(
      'bakeSeconds: "90" is not allowed; use at most warmSeconds (60): the old release must still run to go back to',
    );
    expect(configError("dev", { warmSeconds: "5" })).toContain('bakeSeconds: "10" is not allowed; use at most warmSeconds (5)');
  });

  test("healthSuccesses and switchTimeout are keys too: the program passes every option, the host's defaults decide nothing", () => {
    const release = loadStackConfig("dev", mapReader({ ...BASE_CONFIG.dev, healthSuccesses: 3, switchTimeout: "2.5" })).release;
    expect(release).toMatchObject({ healthSuccesses: 3, switchTimeoutSeconds: 2.5 });
    expect(configError("dev", { healthSuccesses: 11 })).toBe('healthSuccesses: "11" is not allowed; use an integer from 1 to 10');
    expect(configError("dev", { switchTimeout: "0.05" })).toBe(
      'switchTimeout: "0.05" is not allowed; use a number of seconds from 0.1 to 600 (at most 3 decimals)',
    );
  });

  test("a hostRoot that would put the test env's smoke netrc past the host's 200 characters is refused, naming hostRoot", () => {
    const root = `/${"r".repeat(185)}`;
    expect(loadStackConfig("dev", mapReader({ ...BASE_CONFIG.dev, hostRoot: root })).release.root).toBe(root);
    expect(configError("test", { hostRoot: root })).toMatch(
      /^hostRoot: "\/r+\.\.\." \(186 chars\) is not allowed; it gives --auth-file "\/r+\.\.\." \(203 chars\); use a normalized absolute path/,
    );
  });

  test("test and prod refuse to run without reviewers", () => {
    expect(configError("test", { githubReviewerIds: [] })).toBe(
      "githubReviewerIds: [] is not allowed; the test environment requires approval: list the GitHub user ids of its reviewers",
    );
  });

  test("prod is declared but refuses to deploy until configured", () => {
    expect(configError("prod", { host: "" })).toContain(
      "the prod stack is declared but not configured: set host, sshHostKey, sshPrivateKey and publicUrl",
    );
  });
});

describe("what the host refuses, preview refuses (each of these passed preview, was uploaded, then failed on the host with exit 2)", () => {
  test("appPorts [80, 8102]: the host takes ports from 1024", () => {
    expect(configError("dev", { appPorts: [80, 8102] })).toBe(
      'appPorts: "[80,8102]" is not allowed; use two different loopback ports from 1024 to 65535, e.g. [8101, 8102]',
    );
  });

  test("hostRoot /opt/./x: the host takes a normalized path only", () => {
    expect(configError("dev", { hostRoot: "/opt/./x" })).toBe(
      'hostRoot: "/opt/./x" is not allowed; use a normalized absolute path such as /opt/deep-calm ' +
        "(letters, digits and . _ - /; no //, . or .. parts), at most 200 characters",
    );
  });

  test("a tab in migrateCommand: the host refuses every control character", () => {
    expect(configError("dev", { migrateCommand: "alembic\tupgrade head" })).toBe(
      'migrateCommand: "alembic\\tupgrade head" is not allowed; use a one-line command of at most 2000 bytes without control ' +
        "characters (tabs included), e.g. 'alembic upgrade head', or empty for none",
    );
  });

  test("a migrateCommand of 2,001 characters: the host takes at most 2,000 bytes", () => {
    expect(configError("dev", { migrateCommand: "a".repeat(2001) })).toMatch(
      /^migrateCommand: "a+\.\.\." \(2001 chars\) is not allowed; use a one-line command of at most 2000 bytes/,
    );
    expect(loadStackConfig("dev", mapReader({ ...BASE_CONFIG.dev, migrateCommand: "a".repeat(2000) })).release.migrateCommand).toHaveLength(
      2000,
    );
    // The host counts bytes: 1,001 two-byte characters are too many.
    expect(configError("dev", { migrateCommand: "é".repeat(1001) })).toContain("(1001 chars) is not allowed");
  });
});

describe("bad input fails at preview with a ResourceError, before any resource", () => {
  test("a bad tag", async () => {
    await expect(runStack("dev", { config: { imageTag: "$(id)" } })).rejects.toThrow(pulumi.ResourceError);
    await expect(runStack("dev", { config: { imageTag: "$(id)" } })).rejects.toThrow('imageTag: "$(id)" is not allowed');
  });

  test("an unknown stack", async () => {
    await expect(runStack("qa")).rejects.toThrow('stack: "qa" is not allowed');
  });

  test("a missing secret is named, with the command that sets it", async () => {
    await expect(runStack("dev", { sshPrivateKey: undefined })).rejects.toThrow(
      "sshPrivateKey: (missing) is not allowed; use a PEM/OpenSSH private key: `pulumi config set --secret sshPrivateKey < ~/.ssh/deploy_key`, " +
        "or name its file in sshPrivateKeyPath; it is not set",
    );
  });

  test("a malformed secret is not echoed; the message says what is wrong with it", async () => {
    const bad = "not-a-key-but-secret-material";
    const error = await runStack("dev", { sshPrivateKey: bad }).catch((e: Error) => e);
    expect(String(error)).toContain("sshPrivateKey: [secret] is not allowed; use a PEM/OpenSSH private key");
    expect(String(error)).toContain("; it has no -----BEGIN ... PRIVATE KEY----- line");
    expect(String(error)).not.toContain(bad);
    const publicKey = await runStack("dev", { sshPrivateKey: "ssh-ed25519 AAAAC3Nzsecretish" }).catch((e: Error) => e);
    expect(String(publicKey)).toContain("; it holds a public key; the private key is the file without .pub");
    expect(String(publicKey)).not.toContain("AAAAC3Nzsecretish");
  });

  test("a secret key stored in plain text is refused, naming it", () => {
    expect(() => refusePlainSecrets(["telegramBotToken"])).toThrow(
      "telegramBotToken: [secret] is not allowed; it is stored in plain text: set it again with `pulumi config set --secret telegramBotToken`",
    );
    expect(() => refusePlainSecrets([])).not.toThrow();
  });

  test("nothing but the environment component is registered when config is bad", async () => {
    await expect(runStack("dev", { config: { sshPort: -1 }, sshPrivateKey: SSH_KEY })).rejects.toThrow("sshPort");
    expect(lastRegistered.map((r) => r.type)).toEqual(["deepcalm:stack:Environment"]);
  });
});

describe("SSH credentials from files", () => {
  const files: Record<string, string> = {
    "keys/known_hosts": `# pinned\n[127.0.0.1]:2222 ${HOST_KEY}\nother.example.com ssh-rsa AAAAB3\n`,
    "keys/id": SSH_KEY,
  };
  const readFile = (path: string) => {
    const content = files[path];
    if (content === undefined) {
      throw Object.assign(new Error("missing"), { code: "ENOENT" });
    }
    return content;
  };
  const local = (overrides: Record<string, unknown>) => mapReader({ ...BASE_CONFIG.local, sshHostKey: "", ...overrides });

  test("the host key is taken from known_hosts for [host]:port", () => {
    expect(hostKeyFromKnownHosts(files["keys/known_hosts"] ?? "", "127.0.0.1", 2222)).toBe(HOST_KEY);
    expect(hostKeyFromKnownHosts(files["keys/known_hosts"] ?? "", "other.example.com", 22)).toBe("ssh-rsa AAAAB3");
    expect(hostKeyFromKnownHosts(files["keys/known_hosts"] ?? "", "127.0.0.1", 22)).toBeUndefined();
    expect(loadStackConfig("local", local({ sshKnownHostsFile: "keys/known_hosts" }), readFile).ssh.hostKey).toBe(HOST_KEY);
  });

  test("known_hosts with several keys for the host: ed25519 is pinned, then ecdsa; an RSA-only host is refused at preview", () => {
    const ecdsa = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY=";
    const rsa = "ssh-rsa AAAAB3NzaC1yc2E=";
    const hosts = (...keys: string[]) => keys.map((k) => `[127.0.0.1]:2222 ${k}`).join("\n");
    expect(hostKeyFromKnownHosts(hosts(rsa, ecdsa, HOST_KEY), "127.0.0.1", 2222)).toBe(HOST_KEY);
    expect(hostKeyFromKnownHosts(hosts(rsa, ecdsa), "127.0.0.1", 2222)).toBe(ecdsa);
    expect(hostKeyFromKnownHosts(hosts(rsa), "127.0.0.1", 2222)).toBe(rsa);
    const pinned = (content: string) =>
      loadStackConfig("local", local({ sshKnownHostsFile: "kh" }), (path) => (path === "kh" ? content : "")).ssh.hostKey;
    expect(pinned(hosts(rsa, ecdsa))).toBe(ecdsa);
    expect(() => pinned(hosts(rsa))).toThrow(
      `sshHostKey: "${rsa}" is not allowed; pin the server's ed25519 or ecdsa key instead (ssh-keyscan -t ed25519,ecdsa HOST)`,
    );
    expect(() => loadStackConfig("local", local({ sshHostKey: rsa }))).toThrow(/SHA-1 'ssh-rsa' signatures, which OpenSSH 8.8/);
  });

  test("a known_hosts without the host is refused, naming the file and the host", () => {
    expect(() => loadStackConfig("local", local({ sshKnownHostsFile: "keys/known_hosts", sshPort: 2200 }), readFile)).toThrow(
      'sshKnownHostsFile: "keys/known_hosts" is not allowed; add the key of [127.0.0.1]:2200 to it',
    );
    expect(() => loadStackConfig("local", local({ sshKnownHostsFile: "nope" }), readFile)).toThrow(
      'sshKnownHostsFile: "nope" is not allowed; name a readable file (ENOENT)',
    );
  });

  test("the private key comes from the secret, or from sshPrivateKeyPath", () => {
    expect(loadPrivateKey(mapReader({}), SSH_KEY, true, readFile)).toBe(SSH_KEY);
    expect(loadPrivateKey(mapReader({ sshPrivateKeyPath: "keys/id" }), undefined, false, readFile)).toBe(SSH_KEY);
  });

  test("a private key stored in plain text is refused without showing it", () => {
    expect(() => loadPrivateKey(mapReader({}), SSH_KEY, false, readFile)).toThrow(
      "sshPrivateKey: [secret] is not allowed; it is stored in plain text: set it again with `pulumi config set --secret sshPrivateKey < key`",
    );
  });

  test("a key file that is not a key is refused without showing it", () => {
    files["keys/bad"] = "hunter2";
    const error = (() => {
      try {
        loadPrivateKey(mapReader({ sshPrivateKeyPath: "keys/bad" }), undefined, false, readFile);
      } catch (err) {
        return String(err);
      }
      return "";
    })();
    expect(error).toContain(
      'sshPrivateKeyPath: "keys/bad" is not allowed; name a file holding a PEM/OpenSSH private key; it has no -----BEGIN ... PRIVATE KEY----- line',
    );
    expect(error).not.toContain("hunter2");
  });
});
