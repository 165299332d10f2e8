/**
 * Host commands are data: every command is built as an array of tokens and turned into
 * shell text by one quoting function, so no config value is ever templated into a shell string.
 */

/** A command as tokens, before quoting. */
export type Argv = readonly string[];

const SAFE_TOKEN = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * Quotes one token for a POSIX shell. Safe tokens pass through; everything else is wrapped in
 * single quotes, with embedded single quotes written as '"'"'. NUL cannot be passed through a
 * shell at all, so it is refused rather than silently truncated.
 */
export function shellQuote(token: string): string {
  if (token.includes("\0")) {
    throw new Error("a shell argument cannot contain a NUL byte");
  }
  if (token === "") {
    return "''";
  }
  if (SAFE_TOKEN.test(token)) {
    return token;
  }
  return `'${token.replace(/'/g, `'"'"'`)}'`;
}

/** Joins tokens into one shell command line, quoting each. */
export function shellJoin(argv: Argv): string {
  if (argv.length === 0) {
    throw new Error("a command needs at least one token");
  }
  return argv.map(shellQuote).join(" ");
}

/**
 * Runs `argv` only when `path` on the host has the sha256 `digest`. The digest in the command line
 * is what makes an upload's change an in-place update of the command that uses it (a change of
 * `triggers` would be a replace), and the check refuses a file another checkout changed since.
 */
export function withFileDigest(path: string, digest: string, argv: Argv): string[] {
  return [
    "sh",
    "-c",
    'printf "%s  %s\\n" "$1" "$2" | sha256sum -c --status 2>/dev/null || ' +
      '{ echo "$2 is not the file this stack uploaded (sha256 $1): run pulumi up again" >&2; exit 2; }; shift 2; exec "$@"',
    "with-file-digest",
    digest,
    path,
    ...argv,
  ];
}
