/**
 * Host key pins against the local target's real sshd (OpenSSH, with rsa, ecdsa and ed25519 host
 * keys). The command provider offers only the pinned key's own algorithm; these runs show what
 * each pin gets from a current OpenSSH server, which is why the program pins ed25519 or ecdsa and
 * refuses an ssh-rsa pin at preview.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hostKeyFromKnownHosts } from "../../infra/known-hosts";
import { knownHostsLine, sshArgv } from "../../infra/ssh";
import { LOCAL_SSH_DIR, localTarget } from "../../scripts/lib/local-target";

const dir = mkdtempSync(join(tmpdir(), "host-keys-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One ssh login that offers only `algorithm` for the host key, pinned to `key`. */
function loginWith(algorithm: string, key: string): { status: number | null; stderr: string } {
  const knownHosts = join(dir, `known_hosts-${algorithm}`);
  const target = { ...localTarget().ssh, knownHostsFile: knownHosts };
  writeFileSync(knownHosts, knownHostsLine(target.host, target.port, key));
  const run = spawnSync("ssh", sshArgv(target, "echo pinned", ["-o", `HostKeyAlgorithms=${algorithm}`]), {
    encoding: "utf8",
    timeout: 20_000,
  });
  return { status: run.status, stderr: run.stderr };
}

const pub = (type: string) =>
  readFileSync(join(LOCAL_SSH_DIR, `ssh_host_${type}_key.pub`), "utf8")
    .split(" ")
    .slice(0, 2)
    .join(" ");

test("the local target's known_hosts has all three keys; the program pins its ed25519 key", () => {
  const knownHosts = readFileSync(localTarget().ssh.knownHostsFile, "utf8");
  for (const type of ["rsa", "ecdsa", "ed25519"]) {
    expect(knownHosts).toContain(pub(type));
  }
  expect(hostKeyFromKnownHosts(knownHosts, "127.0.0.1", 2222)).toBe(pub("ed25519"));
});

test.each([
  ["ssh-ed25519", "ed25519"],
  ["ecdsa-sha2-nistp256", "ecdsa"],
])("a %s pin: the handshake with only that algorithm succeeds", (algorithm, type) => {
  const run = loginWith(algorithm, pub(type));
  expect(run.stderr).toBe("");
  expect(run.status).toBe(0);
});

test("an ssh-rsa pin offers only SHA-1 'ssh-rsa', which the server refuses: no login", () => {
  const run = loginWith("ssh-rsa", pub("rsa"));
  expect(run.status).toBe(255);
  expect(run.stderr).toMatch(/no matching host key type found/);
});

test("the same RSA key verified with SHA-2 signatures logs in: the refusal is the algorithm, not the key", () => {
  const run = loginWith("rsa-sha2-512", pub("rsa"));
  expect(run.status).toBe(0);
});
