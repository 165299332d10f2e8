import { createHash } from "node:crypto";
import { parse } from "yaml";
import { composeArgv, makeDirsArgv, reloadNginxArgv, writeFileArgv } from "../../infra/compose";
import { renderCodeowners, renderDependabot } from "../../infra/github";
import { envLayout } from "../../infra/layout";
import { renderComposeFile, renderEnvFile, renderHtpasswd, renderNetrc, renderNginxSite } from "../../infra/render";
import { shellJoin } from "../../infra/quote";

describe("compose file", () => {
  test("declares Postgres 16 and Redis 7 on loopback, password from .env", () => {
    const doc = parse(
      renderComposeFile("dev", { postgres: { port: 5433, database: "deepcalm", user: "deepcalm" }, redis: { port: 6380 } }),
    );
    // No top-level name: Debian's docker-compose (v1) refuses the file with it.
    expect(doc.name).toBeUndefined();
    expect(Object.keys(doc.services)).toEqual(["postgres", "redis"]);
    expect(doc.services.postgres.image).toBe("postgres:16");
    expect(doc.services.postgres.ports).toEqual(["127.0.0.1:5433:5432"]);
    expect(doc.services.postgres.environment.POSTGRES_PASSWORD).toBe("${POSTGRES_PASSWORD:?set in .env}");
    expect(doc.services.redis.image).toBe("redis:7");
    expect(doc.services.redis.ports).toEqual(["127.0.0.1:6380:6379"]);
    expect(Object.keys(doc.volumes)).toEqual(["postgres-data", "redis-data"]);
  });

  test("never declares the app: releases are not compose's job", () => {
    const text = renderComposeFile("dev", { redis: { port: 6379 } });
    expect(parse(text).services).not.toHaveProperty("dc-api");
    expect(parse(renderComposeFile("x", {})).services).toEqual({});
  });

  test("is deterministic", () => {
    const a = renderComposeFile("test", { redis: { port: 1 } });
    expect(renderComposeFile("test", { redis: { port: 1 } })).toBe(a);
  });
});

describe(".env", () => {
  test("sorted KEY=value lines", () => {
    expect(renderEnvFile({ REDIS_URL: "redis://127.0.0.1:6379/0", DEPLOY_ENV: "dev" })).toBe(
      "DEPLOY_ENV=dev\nREDIS_URL=redis://127.0.0.1:6379/0\n",
    );
  });

  test.each([["a\nB=1"], ['"quoted"'], ["$(id)"], [" padded"], ["x#y"]])("refuses value %j without showing it", (value) => {
    expect(() => renderEnvFile({ SECRET: value })).toThrow(/appEnvironment.SECRET: \[redacted\] is not allowed/);
  });

  test("refuses bad names", () => {
    expect(() => renderEnvFile({ "bad-name": "x" })).toThrow(/appEnvironment: "bad-name"/);
  });
});

describe("nginx site", () => {
  const base = {
    env: "dev",
    root: "/opt/deep-calm",
    listen: "127.0.0.1:8080",
    serverName: "_",
    basicAuth: false,
    ports: [8101, 8102] as const,
  };

  test("routes each request to the port that live leads to, and reports which one answered", () => {
    const site = renderNginxSite(base);
    expect(site).toContain("  listen 127.0.0.1:8080;");
    expect(site).toContain("  if (-f /opt/deep-calm/dev/nginx/live/8101) { set $deep_calm_port 8101; }");
    expect(site).toContain("  if (-f /opt/deep-calm/dev/nginx/live/8102) { set $deep_calm_port 8102; }");
    expect(site).toContain('  if ($deep_calm_port = "") { return 503; }');
    expect(site).toContain("    proxy_pass http://127.0.0.1:$deep_calm_port;");
    expect(site).toContain("    add_header X-Deep-Calm-Upstream $upstream_addr always;");
    expect(site).not.toContain("auth_basic");
  });

  test("never caches the live check (a cached stat would delay the switch)", () => {
    expect(renderNginxSite(base)).toContain("  open_file_cache off;");
  });

  test("test has basic auth", () => {
    const site = renderNginxSite({ ...base, env: "test", basicAuth: true });
    expect(site).toContain('    auth_basic "deep-calm test";\n    auth_basic_user_file /opt/deep-calm/test/nginx/htpasswd;');
  });

  test("the env's own ports and directory", () => {
    const site = renderNginxSite({ ...base, env: "pr-7", ports: [9001, 9002] });
    expect(site).toContain("  if (-f /opt/deep-calm/pr-7/nginx/live/9002) { set $deep_calm_port 9002; }");
    expect(site).not.toContain("8101");
  });
});

describe("credentials files", () => {
  test("htpasswd is nginx's {SSHA}: sha1(password + salt) + salt", () => {
    const line = renderHtpasswd("ops", "s3cret");
    const [user, hash] = line.trim().split(":");
    expect(user).toBe("ops");
    const raw = Buffer.from((hash as string).replace("{SSHA}", ""), "base64");
    const salt = raw.subarray(20);
    expect(salt.length).toBe(8);
    expect(raw.subarray(0, 20)).toEqual(createHash("sha1").update("s3cret").update(salt).digest());
    expect(line).not.toContain("s3cret");
  });

  test("htpasswd changes only with the password", () => {
    expect(renderHtpasswd("ops", "a")).toBe(renderHtpasswd("ops", "a"));
    expect(renderHtpasswd("ops", "a")).not.toBe(renderHtpasswd("ops", "b"));
  });

  test("netrc for curl", () => {
    expect(renderNetrc("127.0.0.1", "ops", "pw")).toBe("machine 127.0.0.1 login ops password pw\n");
    expect(() => renderNetrc("127.0.0.1", "ops", "p w")).toThrow("basicAuthPassword: [secret]");
  });
});

describe("host file commands", () => {
  test("writes stdin to a file atomically with a mode, the content never in argv", () => {
    expect(shellJoin(writeFileArgv("/opt/deep-calm/dev/.env", "0600"))).toBe(
      `sh -c 'umask 077 && cat > "$1.tmp" && chmod "$2" "$1.tmp" && mv -f "$1.tmp" "$1"' write-file /opt/deep-calm/dev/.env 0600`,
    );
  });

  test("makes the env's directories", () => {
    expect(shellJoin(makeDirsArgv(envLayout("/opt/deep-calm", "dev")))).toBe(
      "mkdir -p -- /opt/deep-calm/dev /opt/deep-calm/dev/nginx /opt/deep-calm/dev/logs /opt/deep-calm/dev/state",
    );
  });

  test("compose picks v2 or v1 on the host, for the env's project", () => {
    expect(shellJoin(composeArgv(envLayout("/opt/deep-calm", "dev"), "up", "-d"))).toBe(
      `sh -c 'if docker compose version >/dev/null 2>&1; then exec docker compose "$@"; else exec docker-compose "$@"; fi' compose --project-name deep-calm-dev --project-directory /opt/deep-calm/dev -f /opt/deep-calm/dev/docker-compose.yml up -d`,
    );
  });

  test("nginx is reloaded only once the site is enabled", () => {
    expect(shellJoin(reloadNginxArgv("/opt/deep-calm/dev/nginx/enabled.conf"))).toBe(
      `sh -c '[ ! -e "$1" ] || { sudo -n /usr/sbin/nginx -t && sudo -n /usr/sbin/nginx -s reload; }' reload-nginx /opt/deep-calm/dev/nginx/enabled.conf`,
    );
  });
});

describe("app repo files", () => {
  test("dependabot as the seed lists it", () => {
    const doc = parse(renderDependabot());
    expect(doc.version).toBe(2);
    expect(doc.updates.map((u: { "package-ecosystem": string; directory: string }) => [u["package-ecosystem"], u.directory])).toEqual([
      ["pip", "/"],
      ["npm", "/app/ui"],
      ["docker", "/"],
      ["github-actions", "/"],
    ]);
    expect(doc.updates.map((u: { labels: string[] }) => u.labels)).toEqual([
      ["dependencies", "python"],
      ["dependencies", "ui"],
      ["dependencies", "docker"],
      ["dependencies", "ci"],
    ]);
    expect(doc.updates.every((u: { schedule: { interval: string } }) => u.schedule.interval === "weekly")).toBe(true);
    expect(doc.updates[0]["open-pull-requests-limit"]).toBe(5);
  });

  test("CODEOWNERS owns everything", () => {
    expect(renderCodeowners(["@vasiliy-ivanov"])).toContain("\n* @vasiliy-ivanov\n");
  });
});
