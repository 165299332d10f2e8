/**
 * The one ssh command line the TS code runs (the refresh's status check, the benches, the tests):
 * the host key pinned in a known_hosts file with StrictHostKeyChecking=yes (never a prompt, never
 * trust on first use), BatchMode (never a password prompt), and the stack's dial bounds, so it
 * gives up on an unreachable host when `pulumi up` would: sshDialTimeout and sshDialAttempts are
 * also the command provider's perDialTimeout and dialErrorLimit (infra/host.ts).
 *
 * This module imports nothing: ObservedRelease's dynamic provider calls it, and Pulumi serializes
 * the code that provider reaches to run it in the provider host.
 */

/** A host as ssh reaches it. */
export interface SshTarget {
  host: string;
  port: number;
  user: string;
  /** Seconds one dial may take (sshDialTimeout): ssh's ConnectTimeout. */
  dialTimeoutSeconds: number;
  /** Dials before giving up (sshDialAttempts): ssh's ConnectionAttempts. */
  dialAttempts: number;
  /** The deploy user's private key. */
  identityFile: string;
  /** A known_hosts file holding the host's pinned key. */
  knownHostsFile: string;
}

/** How known_hosts names host:port (OpenSSH writes `[host]:port` unless the port is 22). */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** A known_hosts line that pins `hostKey` (`type base64`) for host:port. */
export function knownHostsLine(host: string, port: number, hostKey: string): string {
  return `${knownHostsName(host, port)} ${hostKey}\n`;
}

/** The options, without the destination: a caller's own options may follow them. */
export function sshOptions(t: SshTarget): string[] {
  return [
    "-i",
    t.identityFile,
    "-o",
    `UserKnownHostsFile=${t.knownHostsFile}`,
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "BatchMode=yes",
    "-o",
    `ConnectTimeout=${t.dialTimeoutSeconds}`,
    "-o",
    `ConnectionAttempts=${t.dialAttempts}`,
    "-p",
    String(t.port),
  ];
}

export function sshDestination(t: SshTarget): string {
  return `${t.user}@${t.host}`;
}

/**
 * `ssh` arguments that run `command` (one shell command line, e.g. from shellJoin) on the host;
 * `options` go before the destination (after it ssh would take them as the command).
 */
export function sshArgv(t: SshTarget, command?: string, options: readonly string[] = []): string[] {
  return [...sshOptions(t), ...options, sshDestination(t), ...(command === undefined ? [] : [command])];
}

/** The longest the dials can take before ssh gives up: each attempt's timeout, a second between attempts. */
export function dialSeconds(t: Pick<SshTarget, "dialTimeoutSeconds" | "dialAttempts">): number {
  return t.dialAttempts * t.dialTimeoutSeconds + (t.dialAttempts - 1);
}
