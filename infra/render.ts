/**
 * Pure renderers for the files a stack puts on its host: compose file (accessories), `.env`,
 * nginx site, htpasswd and the smoke-check netrc. Output is deterministic (sorted keys, fixed
 * order), so a file changes exactly when its content should.
 */
import { createHash } from "node:crypto";
import { ConfigValueError } from "./errors";
import { envLayout } from "./layout";
import { Maintenance, maintenanceSiteLines } from "./maintenance";

export interface Accessories {
  /** Postgres 16 on 127.0.0.1:<port>, or undefined for none. */
  postgres?: { port: number; database: string; user: string };
  /** Redis 7 on 127.0.0.1:<port>, or undefined for none. */
  redis?: { port: number };
}

export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** The compose project of accessories: services the app uses but app releases never touch. */
export function renderComposeFile(env: string, accessories: Accessories): string {
  const lines = [
    "# Rendered by deep-calm-deploy; edits are overwritten on the next `pulumi up`.",
    "# Accessories only: the app (dc-api) is released blue/green by dc-release, not by compose.",
    `# Compose project deep-calm-${env}, named on the command line (compose v1 refuses a name: key).`,
    "services:",
  ];
  const { postgres, redis } = accessories;
  if (postgres) {
    lines.push(
      "  postgres:",
      "    image: postgres:16",
      "    restart: unless-stopped",
      "    environment:",
      `      POSTGRES_DB: ${postgres.database}`,
      `      POSTGRES_USER: ${postgres.user}`,
      "      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?set in .env}",
      "    ports:",
      `      - "127.0.0.1:${postgres.port}:5432"`,
      "    volumes:",
      "      - postgres-data:/var/lib/postgresql/data",
      "    healthcheck:",
      `      test: ["CMD", "pg_isready", "-U", "${postgres.user}"]`,
      "      interval: 10s",
      "      timeout: 5s",
      "      retries: 5",
    );
  }
  if (redis) {
    lines.push(
      "  redis:",
      "    image: redis:7",
      "    restart: unless-stopped",
      "    ports:",
      `      - "127.0.0.1:${redis.port}:6379"`,
      "    volumes:",
      "      - redis-data:/data",
      "    healthcheck:",
      '      test: ["CMD", "redis-cli", "ping"]',
      "      interval: 10s",
      "      timeout: 5s",
      "      retries: 5",
    );
  }
  if (!postgres && !redis) {
    lines.push("  {}");
    return lines.join("\n").replace("services:\n  {}", "services: {}") + "\n";
  }
  lines.push("volumes:");
  if (postgres) lines.push("  postgres-data: {}");
  if (redis) lines.push("  redis-data: {}");
  return lines.join("\n") + "\n";
}

const ENV_KEY = /^[A-Z_][A-Z0-9_]*$/;

/**
 * `.env` for the app container (`docker run --env-file`) and compose interpolation. Both read
 * values literally only when they carry no quotes, `$`, `#` or whitespace edges, so such values
 * are refused rather than mangled.
 */
export function renderEnvFile(entries: Record<string, string>): string {
  return Object.keys(entries)
    .sort()
    .map((key) => {
      const value = entries[key] ?? "";
      if (!ENV_KEY.test(key)) {
        throw new ConfigValueError("appEnvironment", JSON.stringify(key), "use variable names of A-Z, 0-9 and _");
      }
      if (/[\0\r\n"'`$#\\]/.test(value) || value.trim() !== value) {
        throw new ConfigValueError(
          `appEnvironment.${key}`,
          "[redacted]",
          "values cannot contain newlines, quotes, $, #, \\ or leading/trailing spaces (compose reads .env too); put secrets and such values in appSecrets",
        );
      }
      return `${key}=${value}\n`;
    })
    .join("");
}

export interface NginxSite {
  env: string;
  /** The host's release root, e.g. /opt/deep-calm. */
  root: string;
  /** `listen` argument, e.g. `80` or `127.0.0.1:8080`. */
  listen: string;
  /** `server_name`, e.g. dev.dc.example.com, or `_`. */
  serverName: string;
  /** Basic auth in front of everything (test). */
  basicAuth: boolean;
  /** The blue/green loopback ports the releases take turns on. */
  ports: readonly [number, number];
  /** Maintenance mode (infra/maintenance.ts); off or absent renders the site without it. */
  maintenance?: Maintenance;
}

/**
 * The env's nginx site. dc-release enables it with the first release; after that a switch is the
 * `live` symlink alone: each request reads which port's marker `live` leads to (one stat, never
 * cached), so a switch takes effect at the next request with no reload. A reload would leave the
 * old workers accepting for another 100 ms (nginx's own pause before it retires them).
 */
export function renderNginxSite(site: NginxSite): string {
  const layout = envLayout(site.root, site.env);
  const auth = site.basicAuth ? [`    auth_basic "deep-calm ${site.env}";`, `    auth_basic_user_file ${layout.htpasswd};`] : [];
  const logFormat = accessLogFormatName(layout.nginxDir);
  const maintenance = maintenanceSiteLines(site.env, layout.nginxDir, site.maintenance);
  return [
    "# Rendered by deep-calm-deploy; edits are overwritten on the next `pulumi up`.",
    "# What dc-release's bake reads after a switch: when, status, which release answered, how long.",
    `log_format ${logFormat} '$msec $status $upstream_addr $request_time';`,
    "server {",
    `  listen ${site.listen};`,
    `  server_name ${site.serverName};`,
    `  access_log ${layout.accessLog} ${logFormat};`,
    "  open_file_cache off;",
    '  set $deep_calm_port "";',
    ...site.ports.map((port) => `  if (-f ${layout.live}/${port}) { set $deep_calm_port ${port}; }`),
    '  if ($deep_calm_port = "") { return 503; }',
    ...maintenance.server,
    "  location / {",
    ...maintenance.location,
    ...auth,
    "    proxy_pass http://127.0.0.1:$deep_calm_port;",
    "    proxy_set_header Host $host;",
    "    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
    "    proxy_set_header X-Forwarded-Proto $scheme;",
    "    add_header X-Deep-Calm-Upstream $upstream_addr always;",
    "  }",
    "}",
    "",
  ].join("\n");
}

/**
 * log_format names are global to nginx's http block, and every env's site is included there: the
 * name carries the env and a hash of its directory, so two roots holding the same env name never
 * clash.
 */
export function accessLogFormatName(siteDir: string): string {
  return `deep_calm_${sha256(siteDir).slice(0, 12)}`;
}

/**
 * One htpasswd line in nginx's `{SSHA}` scheme. The salt is derived from the credentials, so the
 * file only changes when the password does (a random salt would redeploy on every run).
 */
export function renderHtpasswd(user: string, password: string): string {
  const salt = createHash("sha256").update(`deep-calm htpasswd salt\0${user}\0${password}`).digest().subarray(0, 8);
  const digest = createHash("sha1").update(password).update(salt).digest();
  return `${user}:{SSHA}${Buffer.concat([digest, salt]).toString("base64")}\n`;
}

/** A netrc for curl's `--netrc-file`, so smoke checks never put the password on a command line. */
export function renderNetrc(machine: string, user: string, password: string): string {
  if (/\s/.test(user) || /\s/.test(password) || password === "") {
    throw new ConfigValueError("basicAuthPassword", "[secret]", "use a password without whitespace");
  }
  return `machine ${machine} login ${user} password ${password}\n`;
}
