/**
 * Validators for every value that reaches a host. Each returns the value when it is allowed and
 * throws a ConfigValueError naming the key, the value (redacted when secret) and what is allowed.
 */
import { ConfigValueError, showValue } from "./errors";

function reject(key: string, value: unknown, allowed: string, secret = false): never {
  throw new ConfigValueError(key, showValue(value, secret), allowed);
}

const HOSTNAME = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV4 = /^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const IPV6 = /^[0-9A-Fa-f:]{2,39}$/;
const UNIX_USER = /^[a-z_][a-z0-9_-]{0,31}$/;
const HOST_KEY = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,2}$/;
/** Host key types a pin can use, most preferred first (ssh-keyscan -t takes the same names). */
export const PINNABLE_HOST_KEYS = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"];

export function hostName(key: string, value: unknown): string {
  if (typeof value !== "string" || !(HOSTNAME.test(value) || IPV4.test(value) || (value.includes(":") && IPV6.test(value)))) {
    reject(key, value, "use a DNS name or an IP address, e.g. dc.example.com or 203.0.113.7");
  }
  return value;
}

export function port(key: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 65535) {
    reject(key, value, "use a TCP port, an integer from 1 to 65535");
  }
  return value;
}

export function unixUser(key: string, value: unknown): string {
  if (typeof value !== "string" || !UNIX_USER.test(value)) {
    reject(key, value, "use a Unix user name: lowercase letters, digits, '_' or '-', at most 32");
  }
  return value;
}

export function httpUrl(key: string, value: unknown): string {
  const allowed = "use an http:// or https:// URL without credentials, e.g. https://dev.dc.example.com";
  if (typeof value !== "string" || value.length > 300) {
    reject(key, value, allowed);
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return reject(key, value, allowed);
  }
  if (!["http:", "https:"].includes(url.protocol) || url.username !== "" || url.password !== "" || /\s/.test(value)) {
    reject(key, value, allowed);
  }
  return value.replace(/\/+$/, "");
}

export function integerIn(key: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    reject(key, value, `use an integer from ${min} to ${max}`);
  }
  return value;
}

export function githubRepositoryName(key: string, value: unknown): string {
  if (typeof value !== "string" || !/^[A-Za-z0-9_.-]{1,100}$/.test(value)) {
    reject(key, value, "use a repository name (without the owner; the owner is github:owner)");
  }
  return value;
}

export function hostKey(key: string, value: unknown): string {
  if (typeof value !== "string" || !HOST_KEY.test(value.trim())) {
    reject(key, value, "use the server's public host key as 'ssh-ed25519 AAAA...' (see ssh-keyscan); it pins the host");
  }
  if (value.trim().startsWith("ssh-rsa ")) {
    // The command provider offers only the pinned key's own algorithm, and for RSA that is SHA-1.
    reject(
      key,
      value,
      "pin the server's ed25519 or ecdsa key instead (ssh-keyscan -t ed25519,ecdsa HOST): with an ssh-rsa pin the command " +
        "provider accepts only SHA-1 'ssh-rsa' signatures, which OpenSSH 8.8 and later refuse to make",
    );
  }
  return value.trim();
}

/** What is wrong with a would-be private key, said without showing any of it. */
function privateKeyFault(value: unknown): string {
  if (value === undefined || value === null) {
    return "it is not set";
  }
  if (typeof value !== "string" || value.trim() === "") {
    return "it is empty";
  }
  if (/^(ssh-|ecdsa-)/.test(value.trim())) {
    return "it holds a public key; the private key is the file without .pub";
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(value)) {
    return "it has no -----BEGIN ... PRIVATE KEY----- line";
  }
  return "it is cut off: the key between its -----BEGIN and -----END ... PRIVATE KEY----- lines is missing";
}

/**
 * The deploy key, from the secret `key`, or from the file `path` (then the path is shown, never
 * the content). Either way the message says what is wrong with it without showing any of it.
 */
export function privateKey(key: string, value: unknown, path?: string): string {
  if (
    typeof value !== "string" ||
    !/^-----BEGIN [A-Z ]*PRIVATE KEY-----\r?\n[\s\S]+-----END [A-Z ]*PRIVATE KEY-----\s*$/.test(value.trim() + "\n")
  ) {
    if (path !== undefined) {
      reject(key, path, `name a file holding a PEM/OpenSSH private key; ${privateKeyFault(value)}`);
    }
    reject(
      key,
      value,
      `use a PEM/OpenSSH private key: \`pulumi config set --secret ${key} < ~/.ssh/deploy_key\`, or name its file in sshPrivateKeyPath; ${privateKeyFault(value)}`,
      true,
    );
  }
  return value;
}

export function oneOf<T extends string>(key: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    reject(key, value, `use one of: ${allowed.join(", ")}`);
  }
  return value as T;
}
