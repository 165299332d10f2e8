/** What replaces a value that looks secret. */
export const REDACTED = "[redacted]";

// Each pattern keeps its first group (the label) and replaces the rest.
const LABELLED: RegExp[] = [
  // key=value / key: value for names that carry secrets
  /((?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|auth|authorization|credentials?)["']?\s*[:=]\s*["']?)(?:Bearer\s+|Basic\s+)?[^\s"'&,;]+/gi,
  // URL userinfo: scheme://user:password@host
  /([a-z][a-z0-9+.-]*:\/\/[^\s/:@]*:)[^\s/@]+(?=@)/gi,
  // Telegram bot path: /bot<id>:<secret>/
  /(\/bot)\d+:[A-Za-z0-9_-]+/g,
  // Authorization headers
  /(\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]{8,}/g,
];

// Whole-token shapes that are secret wherever they appear.
const BARE: RegExp[] = [
  /\b\d{6,12}:[A-Za-z0-9_-]{30,}\b/g, // Telegram bot token
  /\bgh[pousr]_[A-Za-z0-9]{20,}\b/g, // GitHub tokens
  /\bgithub_pat_[A-Za-z0-9_]{20,}\b/g,
  /\bAKIA[0-9A-Z]{16}\b/g, // AWS access key id
  /\bxox[abpr]-[A-Za-z0-9-]{10,}\b/g, // Slack
  /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b/g, // JWT
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g,
];

/**
 * Removes anything that looks like a credential: known token shapes, `password=…`-style pairs,
 * URL passwords, and every exact value in `known` (the secrets the caller holds).
 */
export function redact(text: string, known: readonly string[] = []): string {
  let out = text;
  for (const value of known) {
    if (value.length >= 4) {
      out = out.split(value).join(REDACTED);
    }
  }
  for (const re of BARE) {
    out = out.replace(re, REDACTED);
  }
  for (const re of LABELLED) {
    out = out.replace(re, (_m, label: string) => `${label}${REDACTED}`);
  }
  return out;
}

/** The last `maxLines` lines of `text`, at most `maxChars` characters, redacted. */
export function redactedTail(text: string, maxLines = 40, maxChars = 4000, known: readonly string[] = []): string {
  const lines = redact(text, known).split("\n");
  const tail = lines.slice(-maxLines).join("\n");
  return tail.length > maxChars ? tail.slice(tail.length - maxChars) : tail;
}
