/** Reading a host's pinned key out of a known_hosts file (no Pulumi imports: the operator commands load it). */
import { knownHostsName } from "./ssh";
import { PINNABLE_HOST_KEYS } from "./validate";

/**
 * The pinned key of `host:port` in a known_hosts file (`[host]:port` unless the port is 22), as
 * `type base64`: ed25519 first, then ecdsa, then any other (which the pin's check refuses, saying
 * why). Hashed entries cannot be matched and are skipped.
 */
export function hostKeyFromKnownHosts(knownHosts: string, host: string, port: number): string | undefined {
  const name = knownHostsName(host, port);
  const keys: string[] = [];
  for (const line of knownHosts.split("\n")) {
    const [hosts, type, key] = line.trim().split(/\s+/);
    if (hosts !== undefined && !hosts.startsWith("#") && type && key && hosts.split(",").includes(name)) {
      keys.push(`${type} ${key}`);
    }
  }
  const rank = (k: string) => {
    const i = PINNABLE_HOST_KEYS.indexOf(k.split(" ")[0] ?? "");
    return i < 0 ? PINNABLE_HOST_KEYS.length : i;
  };
  return keys.sort((a, b) => rank(a) - rank(b))[0];
}
