/** Maintenance mode: the message's checks, the page, the site's lines, the host state command, the toggle's record and message, the operator command. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatMaintenanceMessage, parseToggle, recordToggle, MaintenanceEvent } from "../../infra/deployment-log/maintenance";
import { DeploymentLog } from "../../infra/deployment-log/log";
import { TelegramNotifier } from "../../infra/deployment-log/telegram";
import { envLayout } from "../../infra/layout";
import { escapePageText, maintenanceMessage, maintenancePage, MAINTENANCE_MESSAGE_MAX } from "../../infra/maintenance";
import { maintenanceStateArgv } from "../../infra/maintenance-state";
import { renderNginxSite } from "../../infra/render";
import { loadStackConfig } from "../../stacks/config";
import { maintenancePlan, parseMaintenanceArgs } from "../../scripts/ops/maintenance";
import { BASE_CONFIG, mapReader, runStack } from "./harness";

// Two mocked stacks in one test, on a machine that may be busy.
jest.setTimeout(30_000);

const SITE = {
  env: "dev",
  root: "/opt/deep-calm",
  listen: "127.0.0.1:8001",
  serverName: "_",
  basicAuth: false,
  ports: [8101, 8102] as const,
};

function configError(overrides: Record<string, unknown>): string {
  try {
    loadStackConfig("dev", mapReader({ ...BASE_CONFIG.dev, ...overrides }));
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("config was accepted");
}

describe("the message", () => {
  test("one line of at most 280 characters, trimmed; anything else is refused at preview with the key", () => {
    expect(maintenanceMessage("maintenanceMessage", "  Back at 10:00 UTC  ")).toBe("Back at 10:00 UTC");
    expect(maintenanceMessage("maintenanceMessage", "ü".repeat(MAINTENANCE_MESSAGE_MAX))).toHaveLength(MAINTENANCE_MESSAGE_MAX);
    expect(configError({ maintenanceMessage: "two\nlines" })).toMatch(
      /^maintenanceMessage: "two\\nlines" is not allowed; use one line of at most 280 characters .*line break/,
    );
    expect(configError({ maintenanceMessage: "x".repeat(281) })).toMatch(/^maintenanceMessage: .* is not allowed; .*it has 281$/);
    expect(configError({ maintenanceMessage: "tab\there" })).toMatch(/control character/);
    expect(configError({ maintenanceMessage: "cr\rhere" })).toMatch(/control character/);
    expect(configError({ maintenance: "yes" })).toBe('maintenance: "yes" is not allowed; use true or false');
    expect(configError({ maintenanceRetryAfter: 0 })).toMatch(/^maintenanceRetryAfter: "0" is not allowed; use an integer from 1 to 86400/);
  });

  test("the config gives the mode, the message and Retry-After; off by default", () => {
    expect(loadStackConfig("dev", mapReader(BASE_CONFIG.dev ?? {})).maintenance).toEqual({
      on: false,
      message: "",
      retryAfterSeconds: 300,
    });
    const cfg = loadStackConfig(
      "dev",
      mapReader({ ...BASE_CONFIG.dev, maintenance: true, maintenanceMessage: "Upgrading <db>", maintenanceRetryAfter: 60 }),
    );
    expect(cfg.maintenance).toEqual({ on: true, message: "Upgrading <db>", retryAfterSeconds: 60 });
  });

  test("escaped for HTML and for nginx's quoted string at once", () => {
    const raw = `<script>alert("x")</script> & 'q' $host \\ {a}`;
    const escaped = escapePageText(raw);
    expect(escaped).toBe("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39; &#36;host &#92; &#123;a&#125;");
    const page = maintenancePage("dev", raw);
    expect(page).not.toMatch(/[$"\\{}\n]/);
    expect(page).toContain(`<p>${escaped}</p>`);
    expect(maintenancePage("dev", "")).toContain("DeepCalm is down for maintenance");
  });
});

describe("the nginx site", () => {
  test("off renders exactly the site without the feature (no reload on upgrade)", () => {
    const without = renderNginxSite(SITE);
    expect(renderNginxSite({ ...SITE, maintenance: { on: false, message: "x", retryAfterSeconds: 5 } })).toBe(without);
    expect(without).not.toContain("maintenance");
  });

  test("on: 503 with Retry-After and the page, except dc-release's probes from 127.0.0.1 with a token file", () => {
    const site = renderNginxSite({ ...SITE, basicAuth: true, maintenance: { on: true, message: "Back <soon>", retryAfterSeconds: 120 } });
    const nginx = envLayout("/opt/deep-calm", "dev").nginxDir;
    expect(site).toContain("  set $deep_calm_maintenance 1;");
    expect(site).toContain(`  if ($deep_calm_probe ~ "^127\\.0\\.0\\.1 ([0-9a-f]{32})$") { set $deep_calm_probe_file ${nginx}/probe/$1; }`);
    expect(site).toContain("  if (-f $deep_calm_probe_file) { set $deep_calm_maintenance 0; }");
    expect(site).toContain("    add_header Retry-After 120 always;");
    expect(site).toContain("<p>Back &lt;soon&gt;</p>");
    // The check comes before basic auth (the page needs no password) and the token never reaches the app.
    const location = site.slice(site.indexOf("  location / {"));
    expect(location.indexOf("if ($deep_calm_maintenance) { return 503; }")).toBeLessThan(location.indexOf("auth_basic"));
    expect(location).toContain('    proxy_set_header X-Deep-Calm-Probe "";');
    expect(location).toContain("    error_page 503 = @deep_calm_maintenance;");
  });

  test("the stack's site follows the config: a toggle is a new site (so a reload) and an update of the state command", async () => {
    const reload = (run: Awaited<ReturnType<typeof runStack>>) =>
      JSON.stringify(run.resources.find((r) => r.name === "dev-project-nginx-reload")?.inputs.triggers);
    const state = (run: Awaited<ReturnType<typeof runStack>>) =>
      String(run.resources.find((r) => r.name === "dev-maintenance")?.inputs.create);
    const off = await runStack("dev");
    const on = await runStack("dev", { config: { maintenance: "true", maintenanceMessage: "Upgrading" } });
    expect(reload(on)).not.toEqual(reload(off));
    expect(state(off)).toMatch(/\/opt\/deep-calm\/dev\/state\/maintenance off$/);
    expect(state(on)).toMatch(/\/opt\/deep-calm\/dev\/state\/maintenance on$/);
  });
});

describe("the host's state command", () => {
  const dir = mkdtempSync(join(tmpdir(), "maintenance-state-"));
  const layout = { ...envLayout("/opt/deep-calm", "dev"), stateDir: join(dir, "state") };
  mkdirSync(layout.stateDir);
  const runState = (on: boolean) => {
    const [cmd, ...args] = maintenanceStateArgv(layout, on);
    const r = spawnSync(cmd as string, args, { encoding: "utf8" });
    expect(r.status).toBe(0);
    return r.stdout.trim();
  };

  test("prints the mode before and after; a first run starts from off", () => {
    expect(runState(false)).toBe("maintenance off -> off");
    expect(runState(true)).toBe("maintenance off -> on");
    expect(runState(true)).toBe("maintenance on -> on");
    expect(readFileSync(join(layout.stateDir, "maintenance"), "utf8")).toBe("on\n");
    expect(runState(false)).toBe("maintenance on -> off");
    expect(parseToggle("x\nmaintenance on -> off\n")).toEqual({ before: "on", after: "off" });
    expect(parseToggle("nothing")).toBeUndefined();
  });
});

describe("the toggle in the log and on Telegram", () => {
  const fakeLog = () => {
    const events: MaintenanceEvent[] = [];
    const log = {
      writeMaintenance: async (e: MaintenanceEvent) => {
        events.push(e);
        return { stored: true, inserted: true };
      },
    } as unknown as DeploymentLog;
    return { log, events };
  };
  const fakeNotifier = () => {
    const sent: string[] = [];
    const notifier = {
      send: async (text: string) => {
        sent.push(text);
        return { sent: true, attempts: 1 };
      },
    } as unknown as TelegramNotifier;
    return { notifier, sent };
  };
  const at = () => new Date("2026-12-02T08:30:00.000Z");

  test("on and off: one event each, one message each, with the message while on", async () => {
    const { log, events } = fakeLog();
    const { notifier, sent } = fakeNotifier();
    const ctx = { env: "dev", runId: "run-1", who: "vasiliy", url: "https://dev.example.com", log, notifier, report: () => undefined };
    const on = await recordToggle(ctx, "maintenance off -> on\n", "Back <at> 10:00", at);
    const off = await recordToggle(ctx, "maintenance on -> off\n", "Back <at> 10:00", at);
    expect(events).toEqual([
      {
        eventId: "run-1:dev:maintenance-on",
        env: "dev",
        state: "on",
        message: "Back <at> 10:00",
        toggledBy: "vasiliy",
        toggledAt: "2026-12-02T08:30:00.000Z",
      },
      {
        eventId: "run-1:dev:maintenance-off",
        env: "dev",
        state: "off",
        message: null,
        toggledBy: "vasiliy",
        toggledAt: "2026-12-02T08:30:00.000Z",
      },
    ]);
    expect(sent).toEqual([
      "🚧 Dev: maintenance on\nMessage: Back &lt;at&gt; 10:00\nBy: vasiliy\nURL: https://dev.example.com",
      "✅ Dev: maintenance off\nBy: vasiliy\nURL: https://dev.example.com",
    ]);
    expect(on.notify?.sent).toBe(true);
    expect(off.write?.inserted).toBe(true);
  });

  test("no change, no record: a deploy while on, or a connection change", async () => {
    const { log, events } = fakeLog();
    const { notifier, sent } = fakeNotifier();
    const outcome = await recordToggle({ env: "dev", runId: "r", log, notifier }, "maintenance on -> on\n", "m", at);
    expect(outcome.skipped).toBe("maintenance stays on");
    expect(events).toEqual([]);
    expect(sent).toEqual([]);
  });

  test("secrets never reach the message; trouble is reported, never thrown", async () => {
    const text = formatMaintenanceMessage(
      { eventId: "e", env: "dev", state: "on", message: "token s3cr3t-value here", toggledBy: null, toggledAt: "" },
      { secrets: ["s3cr3t-value"] },
    );
    expect(text).not.toContain("s3cr3t-value");
    const reports: string[] = [];
    const broken = {
      writeMaintenance: async () => ({ stored: false, problem: "maintenance toggle not recorded: ECONNREFUSED" }),
    } as unknown as DeploymentLog;
    const outcome = await recordToggle(
      { env: "dev", runId: "r", log: broken, report: (m) => reports.push(m) },
      "maintenance off -> on",
      "",
      at,
    );
    expect(outcome.write?.stored).toBe(false);
    expect(reports).toEqual(["deployment log: maintenance toggle not recorded: ECONNREFUSED"]);
    expect(formatMaintenanceMessage({ eventId: "e", env: "dev", state: "on", message: "", toggledBy: null, toggledAt: "" })).toBe(
      "🚧 Dev: maintenance on\nMessage: (the default page)",
    );
  });
});

describe("npm run maintenance", () => {
  test("on with a message: the keys with the real CLI (the message on stdin), then the commit of the stack file", () => {
    const req = parseMaintenanceArgs(["dev", "on", "--message", "-Back at 10:00", "--retry-after", "600", "--commit"]);
    expect(maintenancePlan(req)).toEqual([
      { tool: "pulumi", args: ["config", "set", "maintenance", "true"] },
      { tool: "pulumi", args: ["config", "set", "maintenanceMessage"], stdin: "-Back at 10:00" },
      { tool: "pulumi", args: ["config", "set", "maintenanceRetryAfter", "600"] },
      { tool: "git", args: ["commit", "-m", "maintenance(dev): on", "--", "Pulumi.dev.yaml"] },
    ]);
  });

  test("off removes the message; --up applies it now", () => {
    expect(maintenancePlan(parseMaintenanceArgs(["local", "off", "--up"]))).toEqual([
      { tool: "pulumi", args: ["config", "set", "maintenance", "false"] },
      { tool: "pulumi", args: ["config", "rm", "maintenanceMessage"] },
      { tool: "pulumi", args: ["up", "--yes", "--skip-preview"] },
    ]);
  });

  test("bad input is refused before anything changes", () => {
    expect(() => parseMaintenanceArgs(["dev", "maybe"])).toThrow(/usage: npm run maintenance/);
    expect(() => parseMaintenanceArgs(["nope", "on"])).toThrow(/stack: "nope" is not allowed/);
    expect(() => parseMaintenanceArgs(["dev", "on", "--message", "a\nb"])).toThrow(/maintenanceMessage: .*line break/);
    expect(() => parseMaintenanceArgs(["dev", "on", "--retry-after", "0"])).toThrow(/maintenanceRetryAfter: "0" is not allowed/);
    expect(() => parseMaintenanceArgs(["dev", "off", "--message", "x"])).toThrow(/--message: not an option here/);
    expect(() => parseMaintenanceArgs(["local", "on", "--commit"])).toThrow(/working copy outside git/);
    expect(() => parseMaintenanceArgs(["dev", "on", "--commit", "--up"])).toThrow(/--up: not an option here/);
  });
});
