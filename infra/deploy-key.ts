/**
 * The deploy key the program generates when a stack bootstraps its host (infra/bootstrap.ts): an
 * ed25519 pair written the way ssh-keygen writes it, the private part in OpenSSH's own format
 * (`-----BEGIN OPENSSH PRIVATE KEY-----`, unencrypted), which OpenSSH and the command provider
 * (golang.org/x/crypto/ssh) both read.
 *
 * This module imports nothing: the DeployKey dynamic provider calls it, and Pulumi serializes the
 * code that provider reaches to run it in the provider host.
 */

export interface DeployKeyPair {
  /** `ssh-ed25519 AAAA… comment`, one line, no newline. */
  publicKey: string;
  /** The OpenSSH private key file, ending with a newline. */
  privateKey: string;
}

/** An SSH wire-format string: uint32 length, then the bytes. */
function sshString(data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  return Buffer.concat([length, data]);
}

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/**
 * The key files of an ed25519 key: `seed` is its 32-byte private seed, `publicKey` its 32-byte
 * public point, `checkInt` any 32-bit number (OpenSSH writes a random one twice, to tell a wrong
 * passphrase; unencrypted, it is only a format field). Follows PROTOCOL.key of OpenSSH.
 */
export function ed25519KeyFiles(seed: Buffer, publicKey: Buffer, comment: string, checkInt: number): DeployKeyPair {
  if (seed.length !== 32 || publicKey.length !== 32) {
    throw new Error("an ed25519 key has a 32-byte seed and a 32-byte public key");
  }
  if (!/^[\x21-\x7e]*$/.test(comment)) {
    throw new Error("a key comment is printable ASCII without spaces");
  }
  const type = Buffer.from("ssh-ed25519");
  const publicBlob = Buffer.concat([sshString(type), sshString(publicKey)]);
  const secret = Buffer.concat([
    uint32(checkInt),
    uint32(checkInt),
    sshString(type),
    sshString(publicKey),
    sshString(Buffer.concat([seed, publicKey])),
    sshString(Buffer.from(comment)),
  ]);
  // Padding 1, 2, 3, … up to the cipher's block size, 8 for "none".
  const padding = Buffer.from(Array.from({ length: (8 - (secret.length % 8)) % 8 }, (_, i) => i + 1));
  const body = Buffer.concat([
    Buffer.from("openssh-key-v1\0"),
    sshString(Buffer.from("none")),
    sshString(Buffer.from("none")),
    sshString(Buffer.alloc(0)),
    uint32(1),
    sshString(publicBlob),
    sshString(Buffer.concat([secret, padding])),
  ]);
  const lines = body.toString("base64").match(/.{1,70}/g) ?? [];
  return {
    publicKey: `ssh-ed25519 ${publicBlob.toString("base64")}${comment === "" ? "" : ` ${comment}`}`,
    privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join("\n")}\n-----END OPENSSH PRIVATE KEY-----\n`,
  };
}

/** `ssh-ed25519 AAAA…` without the comment: what identifies the key in authorized_keys. */
export function publicKeyWithoutComment(line: string): string {
  return line.trim().split(/\s+/).slice(0, 2).join(" ");
}
