/**
 * Maintenance mode of an env: while it is on, nginx answers every request with 503, a
 * `Retry-After` header and a small HTML page carrying the stack's message. The releases keep
 * running (their health endpoint still answers on their own loopback port), and dc-release's own
 * checks through nginx (switch verification, smoke checks, the bake's probes) still reach the
 * release: nginx lets a request through when it comes from 127.0.0.1 with an `X-Deep-Calm-Probe`
 * header naming a token file of `<env>/nginx/probe/`, which only a running dc-release holds.
 *
 * Turning it on or off is a new site and a graceful nginx reload: requests in flight finish on the
 * old workers. A maintenance answer has no upstream, so the access log records it as
 * `<msec> 503 - <time>` and the bake's 5xx share (which counts the new release's upstream only)
 * never counts it.
 */
import { ConfigValueError, showValue } from "./errors";

/** The env's maintenance settings, as the stack config gives them. */
export interface Maintenance {
  /** Whether nginx answers 503 with the page. */
  on: boolean;
  /** One line shown on the page (plain text; escaped here). */
  message: string;
  /** Seconds in the `Retry-After` header. */
  retryAfterSeconds: number;
}

export const MAINTENANCE_MESSAGE_MAX = 280;
export const DEFAULT_MAINTENANCE_MESSAGE = "DeepCalm is down for maintenance and will be back shortly.";
/** The header dc-release sends from 127.0.0.1 with its run's token (host/dc-release, probe_token_make). */
export const PROBE_HEADER = "X-Deep-Calm-Probe";

/**
 * The page's message: one line of at most 280 characters, no control characters. Refused with a
 * ConfigValueError (the key, the value, what is allowed) rather than cut or joined.
 */
export function maintenanceMessage(key: string, value: unknown): string {
  const allowed = `use one line of at most ${MAINTENANCE_MESSAGE_MAX} characters without control characters (plain text; HTML is shown as text), or empty for the default`;
  if (typeof value !== "string") {
    throw new ConfigValueError(key, showValue(value, false), allowed);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u.test(value)) {
    throw new ConfigValueError(key, showValue(value, false), `${allowed}; the message holds a line break or another control character`);
  }
  if ([...value].length > MAINTENANCE_MESSAGE_MAX) {
    throw new ConfigValueError(key, showValue(value, false), `${allowed}; it has ${[...value].length}`);
  }
  return value.trim();
}

/**
 * Escapes text for the page and for nginx's double-quoted string at once: the HTML specials as
 * entities, and `$` (nginx would expand a variable), `\` (nginx's escape) and `{` `}` as numeric
 * entities, which a browser shows as the characters themselves.
 */
export function escapePageText(text: string): string {
  const entities: Record<string, string> = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
    "'": "&#39;",
    $: "&#36;",
    "\\": "&#92;",
    "{": "&#123;",
    "}": "&#125;",
  };
  return text.replace(/[&<>"'$\\{}]/g, (c) => entities[c] ?? c);
}

/**
 * The maintenance page: small, self-contained, one line of message. Attributes are single-quoted
 * and the text escaped, so the page sits in nginx's double-quoted string as it is.
 */
export function maintenancePage(env: string, message: string): string {
  const text = escapePageText(message === "" ? DEFAULT_MAINTENANCE_MESSAGE : message);
  return (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='robots' content='noindex'>" +
    "<title>Maintenance</title></head><body style='font-family:sans-serif;max-width:40em;margin:4em auto'>" +
    `<h1>Maintenance</h1><p>${text}</p><!-- deep-calm ${escapePageText(env)} --></body></html>`
  );
}

/**
 * The site's lines for maintenance, inside its `server` block after the port selection: nothing
 * while it is off (the site is then the same as without the feature). `nginxDir` is the env's
 * nginx directory, whose `probe/` holds dc-release's tokens.
 */
export function maintenanceSiteLines(env: string, nginxDir: string, m: Maintenance | undefined): { server: string[]; location: string[] } {
  if (m === undefined || !m.on) {
    return { server: [], location: [] };
  }
  const header = PROBE_HEADER.toLowerCase().replace(/-/g, "_");
  return {
    server: [
      "  # Maintenance (infra/maintenance.ts): 503 and the page, except dc-release's own probes from",
      "  # 127.0.0.1 with its run's token (a file of probe/, checked per request: no reload).",
      "  set $deep_calm_maintenance 1;",
      `  set $deep_calm_probe_file ${nginxDir}/probe/none;`,
      `  set $deep_calm_probe "$remote_addr $http_${header}";`,
      `  if ($deep_calm_probe ~ "^127\\.0\\.0\\.1 ([0-9a-f]{32})$") { set $deep_calm_probe_file ${nginxDir}/probe/$1; }`,
      "  if (-f $deep_calm_probe_file) { set $deep_calm_maintenance 0; }",
      "  location @deep_calm_maintenance {",
      "    default_type text/html;",
      "    charset utf-8;",
      `    add_header Retry-After ${m.retryAfterSeconds} always;`,
      '    add_header Cache-Control "no-store" always;',
      "    add_header X-Deep-Calm-Maintenance on always;",
      `    return 503 "${maintenancePage(env, m.message)}";`,
      "  }",
    ],
    location: [
      "    error_page 503 = @deep_calm_maintenance;",
      "    if ($deep_calm_maintenance) { return 503; }",
      `    proxy_set_header ${PROBE_HEADER} "";`,
    ],
  };
}
