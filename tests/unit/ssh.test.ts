import { dialSeconds, knownHostsLine, knownHostsName, sshArgv, SshTarget } from "../../infra/ssh";

const TARGET: SshTarget = {
  host: "dev.dc.example.com",
  port: 2222,
  user: "dc",
  dialTimeoutSeconds: 7,
  dialAttempts: 3,
  identityFile: "/tmp/k/key",
  knownHostsFile: "/tmp/k/known_hosts",
};

test("the stack's dial settings become ConnectTimeout and ConnectionAttempts; the host key stays pinned", () => {
  expect(sshArgv(TARGET, "bash /opt/deep-calm/dev/dc-release status --env dev")).toEqual([
    "-i",
    "/tmp/k/key",
    "-o",
    "UserKnownHostsFile=/tmp/k/known_hosts",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "BatchMode=yes",
    "-o",
    "ConnectTimeout=7",
    "-o",
    "ConnectionAttempts=3",
    "-p",
    "2222",
    "dc@dev.dc.example.com",
    "bash /opt/deep-calm/dev/dc-release status --env dev",
  ]);
});

test("a caller's options go before the destination, and without a command the destination ends it", () => {
  const argv = sshArgv({ ...TARGET, dialTimeoutSeconds: 1, dialAttempts: 1 }, undefined, ["-O", "exit"]);
  expect(argv.slice(-3)).toEqual(["-O", "exit", "dc@dev.dc.example.com"]);
  expect(argv).toContain("ConnectTimeout=1");
  expect(argv).toContain("ConnectionAttempts=1");
  expect(argv).not.toContain("StrictHostKeyChecking=no");
});

test("known_hosts names host:port as OpenSSH does", () => {
  expect(knownHostsName("dc.example.com", 22)).toBe("dc.example.com");
  expect(knownHostsName("127.0.0.1", 2222)).toBe("[127.0.0.1]:2222");
  expect(knownHostsLine("127.0.0.1", 2222, "ssh-ed25519 AAAA")).toBe("[127.0.0.1]:2222 ssh-ed25519 AAAA\n");
});

test("the dials' bound: every attempt's timeout and ssh's second between attempts", () => {
  expect(dialSeconds({ dialTimeoutSeconds: 10, dialAttempts: 1 })).toBe(10);
  expect(dialSeconds({ dialTimeoutSeconds: 7, dialAttempts: 3 })).toBe(23);
});
