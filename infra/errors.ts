/** A config value that was rejected: the key, the value as it may be shown, and what is allowed. */
export class ConfigValueError extends Error {
  constructor(
    public readonly key: string,
    public readonly shownValue: string,
    public readonly allowed: string,
  ) {
    super(`${key}: ${shownValue} is not allowed; ${allowed}`);
    this.name = "ConfigValueError";
  }
}

/**
 * Shows a value in an error message: secrets are never shown (a missing one says so, which
 * reveals nothing), long values are cut.
 */
export function showValue(value: unknown, secret: boolean): string {
  if (value === undefined || value === null) {
    return "(missing)";
  }
  if (secret) {
    return "[secret]";
  }
  const text = typeof value === "string" ? value : JSON.stringify(value);
  const printable = JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text);
  return `${printable}${text.length > 80 ? ` (${text.length} chars)` : ""}`;
}
