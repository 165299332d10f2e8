import { parseArgs, formatHistory, formatMetrics } from "../../infra/deployment-log/commands";
import { DeploymentRecorder, classifyRelease, failureReason, readReleaseResult } from "../../infra/deployment-log/hooks";
import { DeploymentLog } from "../../infra/deployment-log/log";
import { loadMigrations } from "../../infra/deployment-log/migrate";
import { computeMetrics, dailyCounts, metricsByEnv, percentile, recoveryTimes } from "../../infra/deployment-log/metrics";
import { deploymentRegistry } from "../../infra/deployment-log/prometheus";
import { DeploymentRecord, commitFromTag, currentRunId, isDeploymentRecord } from "../../infra/deployment-log/record";
import { ciDetails } from "../../infra/deployment-log/recording";
import { REDACTED, redact, redactedTail } from "../../infra/deployment-log/redact";
import { renderReport } from "../../infra/deployment-log/report";
import { escapeHtml, formatDuration, formatTelegramMessage } from "../../infra/deployment-log/telegram";
import { type ReleaseResult } from "../../infra/release-result";
import { EXPECTED_7_DAYS, EXPECTED_DAILY, HISTORY, NOW } from "../fixtures/deployment-history";
import { DEPLOY_BAKED, resultWith } from "../fixtures/release-results";

const BOT_TOKEN = "123456789:AAHk2Vx9fQ_secret-token-abcdefghijklmnop";

function success(extra: Partial<DeploymentRecord> = {}): DeploymentRecord {
  return {
    deployId: "run-1:dev:dev-release-deploy",
    env: "dev",
    tag: "sha-abc1234",
    commit: "abc1234def5678abc1234def5678abc1234def56",
    status: "success",
    deployedBy: "claude-code-bot",
    deployedAt: "2026-01-10T12:00:00.000Z",
    durationMs: 154_000,
    ...extra,
  };
}

/** A real deploy's line (v1 -> v2 on the local target) as sha-abc1234 -> sha-def5678 on dev; the host gave no wentBack. */
function releaseLine(extra: Partial<ReleaseResult> = {}): string {
  return resultWith(DEPLOY_BAKED, {
    env: "dev",
    tag: "sha-def5678",
    digest: `sha256:${"d".repeat(64)}`,
    releaseId: "20260110T115800Z-sha-def5678-4242",
    previous: { tag: "sha-abc1234", digest: `sha256:${"a".repeat(64)}` },
    serving: { tag: "sha-def5678", digest: `sha256:${"d".repeat(64)}`, port: 8402 },
    startedAt: "2026-01-10T11:58:00.000Z",
    finishedAt: "2026-01-10T12:00:34.000Z",
    durationMs: 154_000,
    wentBack: null,
    unconfirmed: [],
    ...extra,
  });
}

describe("Telegram message", () => {
  test("success in the seed's format", () => {
    expect(formatTelegramMessage(success(), { url: "https://dev.dc.vasiliy-ivanov.ru", commitSubject: "feat: add CAC sparkline" })).toBe(
      [
        "🚀 Deploy to Dev: success",
        "Commit: abc1234 (feat: add CAC sparkline)",
        "Author: claude-code-bot",
        "Duration: 2m 34s",
        "URL: https://dev.dc.vasiliy-ivanov.ru",
        "",
        "✅ Health check passed",
      ].join("\n"),
    );
  });

  test("failure in the seed's format", () => {
    const record = success({ status: "failed", commit: "def5678aaaa", tag: "sha-def5678" });
    expect(
      formatTelegramMessage(record, {
        url: "https://dev.dc.vasiliy-ivanov.ru",
        commitSubject: "fix: update metrics",
        reason: "Health check failed (500 Internal Server Error)",
        revertedTo: "abc1234",
        logsUrl: "https://github.com/o/r/actions/runs/123456",
      }),
    ).toBe(
      [
        "❌ Deploy to Dev: failed",
        "Commit: def5678 (fix: update metrics)",
        "Error: Health check failed (500 Internal Server Error)",
        "",
        "🔄 Auto-rollback: reverted to abc1234",
        "URL: https://dev.dc.vasiliy-ivanov.ru",
        "",
        "Logs: https://github.com/o/r/actions/runs/123456",
      ].join("\n"),
    );
  });

  test("rolled back names both releases", () => {
    const text = formatTelegramMessage(success({ status: "rolled_back", tag: "sha-abc1234", rollbackFrom: "sha-def5678", commit: null }));
    expect(text.split("\n").slice(0, 3)).toEqual([
      "⏪ Rollback of Dev: rolled_back to sha-abc1234",
      "From: sha-def5678",
      "Release: sha-abc1234",
    ]);
  });

  test("hostile input is escaped for HTML parse mode and flattened to one line", () => {
    const text = formatTelegramMessage(success({ deployedBy: "<b>evil</b> & co" }), {
      commitSubject: 'feat: <script>alert("x")</script>\n🚀 Deploy to Prod: success',
    });
    expect(text).toContain("Commit: abc1234 (feat: &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; 🚀 Deploy to Prod: success)");
    expect(text).toContain("Author: &lt;b&gt;evil&lt;/b&gt; &amp; co");
    expect(text).not.toMatch(/<(?!\/?(b|i|a|code|pre)\b)/);
    expect(text.split("\n")[0]).toBe("🚀 Deploy to Dev: success");
  });

  test("no secret reaches the text", () => {
    const text = formatTelegramMessage(success({ status: "failed" }), {
      reason: `curl https://api.telegram.org/bot${BOT_TOKEN}/sendMessage failed; password=hunter2hunter; token: ghp_${"x".repeat(36)}; db postgres://dc:s3cr3tpw@db/dc; kept ${"topsecretvalue"}`,
      url: "https://admin:basicpass@dev.example",
      secrets: ["topsecretvalue"],
    });
    for (const secret of [BOT_TOKEN, "AAHk2Vx9fQ", "hunter2hunter", "ghp_", "s3cr3tpw", "topsecretvalue", "basicpass"]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain(REDACTED);
  });

  test("escapeHtml and durations", () => {
    expect(escapeHtml(`<a href="x">&</a>`)).toBe("&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;");
    expect([0, 45_000, 154_000, 3_723_000, null].map(formatDuration)).toEqual(["0s", "45s", "2m 34s", "1h 2m 3s", "unknown"]);
  });
});

describe("redaction", () => {
  test.each([
    [`token=${BOT_TOKEN}`, `token=${REDACTED}`],
    ["PASSWORD: 'abc def'", `PASSWORD: '${REDACTED} def'`],
    ["Authorization: Bearer abcdefghijklmnop", `Authorization: ${REDACTED}`],
    ["postgres://deepcalm:pw123456@127.0.0.1:5432/deepcalm", `postgres://deepcalm:${REDACTED}@127.0.0.1:5432/deepcalm`],
    ["GET /bot42:abcDEF_123-xyz/sendMessage", `GET /bot${REDACTED}/sendMessage`],
    ["-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----", REDACTED],
    ["digest sha256:abc and tag v1.2.3 stay", "digest sha256:abc and tag v1.2.3 stay"],
  ])("%s", (input, expected) => {
    expect(redact(input)).toBe(expected);
  });

  test("known values and tails", () => {
    expect(redact("the key is s3cr3t-value!", ["s3cr3t-value"])).toBe(`the key is ${REDACTED}!`);
    expect(redactedTail("a\nb\nc\npassword=x1", 2)).toBe(`c\npassword=${REDACTED}`);
  });
});

describe("metrics on a fixed history", () => {
  const w = { now: NOW, days: 7 };
  test.each(["dev", "test"] as const)("%s", (env) => {
    expect(computeMetrics(HISTORY, w, env)).toMatchObject(EXPECTED_7_DAYS[env]);
  });
  test("all envs together, rows sorted by env then all", () => {
    const rows = metricsByEnv(HISTORY, w);
    expect(rows.map((r) => r.env)).toEqual(["dev", "test", "all"]);
    expect(rows[2]).toMatchObject(EXPECTED_7_DAYS.all);
    expect(rows[2]?.from).toBe("2026-01-03T12:00:00.000Z");
  });
  test("deploys per day", () => {
    expect(dailyCounts(HISTORY, w)).toEqual(EXPECTED_DAILY);
  });
  test("edge cases", () => {
    expect(percentile([], 50)).toBeNull();
    expect(percentile([5], 95)).toBe(5);
    expect(computeMetrics([], w)).toMatchObject({ deploys: 0, changeFailureRate: null, mttrMs: null, p50DurationMs: null });
    // An incident still open at the end of the window is not a recovery.
    expect(recoveryTimes(HISTORY.filter((r) => r.deployId === "fixture-2"))).toEqual([]);
  });
});

describe("release results", () => {
  test("the JSON line is found inside the engine's error text", () => {
    const err = `Process exited with status 1: running "bash /opt/deep-calm/dev/dc-release deploy" on 127.0.0.1:\nStdout:\n[dc-release] failed: health\n${releaseLine({ ok: false, exitCode: 1, reason: "health check failed: /healthz answered 500", rolledBack: true })}\nStderr:\n`;
    const read = readReleaseResult(err);
    const result = "result" in read ? read.result : undefined;
    expect(result?.reason).toBe("health check failed: /healthz answered 500");
    expect(failureReason(result, err)).toBe("health check failed: /healthz answered 500");
    expect(failureReason(undefined, "\n  ssh: connect refused\nmore")).toBe("ssh: connect refused");
    expect(readReleaseResult("no json {here")).toMatchObject({ missing: true });
    expect(readReleaseResult(releaseLine({ rolledBack: "yes" as never }))).toEqual({
      problem: 'dc-release\'s result line does not fit its format (infra/release-result.ts): rolledBack: expected true or false, got "yes"',
      missing: false,
    });
  });

  test("rollback: dc-release's action, or a digest that first served before the one it replaces", () => {
    const base = JSON.parse(releaseLine());
    const d = base.digest as string;
    const p = base.previous.digest as string;
    const older = new Map([
      [d, 1],
      [p, 2],
    ]);
    const newer = new Map([
      [d, 3],
      [p, 2],
    ]);
    expect(classifyRelease(base, new Map())).toBe("success");
    expect(classifyRelease(base, older)).toBe("rolled_back");
    // Served before, but after the replaced one first did: going forward again, e.g. v2 after a fresh v1.
    expect(classifyRelease(base, newer)).toBe("success");
    expect(classifyRelease(base, new Map([[d, 1]]))).toBe("success");
    expect(classifyRelease({ ...base, changed: false }, older)).toBe("success");
    expect(classifyRelease({ ...base, previous: null }, older)).toBe("success");
    expect(classifyRelease({ ...base, action: "rollback" }, new Map())).toBe("rolled_back");
  });
});

describe("DeploymentRecorder (hook functions called as the SDK calls them)", () => {
  const reports: string[] = [];
  const recorder = new DeploymentRecorder({
    env: "dev",
    runId: "run-7",
    who: "claude-code-bot",
    commit: "def5678aaaabbbb",
    commitSubject: "feat: x",
    url: "https://dev.example",
    secrets: ["hunter2secret"],
    report: (m) => reports.push(m),
  });

  test("after create: a success record from the release result", async () => {
    const out = await recorder.afterDeploy({ name: "dev-release-deploy", newOutputs: { stdout: `pulled\n${releaseLine()}` } });
    expect(out.record).toMatchObject({
      // The host's release id keys the row: the same attempt handed over again later finds it.
      deployId: "host-20260110T115800Z-sha-def5678-4242:dev:dev-release-deploy",
      env: "dev",
      tag: "sha-def5678",
      status: "success",
      deployedBy: "claude-code-bot",
      durationMs: 154_000,
      startedAt: "2026-01-10T11:58:00.000Z",
      rollbackFrom: null,
    });
    expect(out.message?.split("\n")[0]).toBe("🚀 Deploy to Dev: success");
  });

  test("on error: failed with the reason, reverted-to line and a redacted tail", async () => {
    const errorText = `exit 1\nStdout:\nmigrate: password=hunter2secret\n${releaseLine({ ok: false, exitCode: 1, reason: "migration failed", serving: { tag: "sha-abc1234", digest: `sha256:${"a".repeat(64)}`, port: 8401 } })}`;
    const out = await recorder.afterError({ name: "dev-release-deploy", failedOperation: "update", errors: [errorText] });
    expect(out.record?.status).toBe("failed");
    expect(out.record?.logs).not.toContain("hunter2secret");
    expect(out.message).toContain("Error: migration failed");
    expect(out.message).toContain("🔄 Auto-rollback: reverted to sha-abc1234");
    // A failed delete (destroy) is no deploy: nothing recorded, nothing announced.
    expect(await recorder.afterError({ name: "x", failedOperation: "delete", errors: ["e"] })).toEqual({
      skipped: "delete failures are not deploys",
    });
  });

  test("no result, or a log that throws, is reported and never thrown", async () => {
    const out = await recorder.afterDeploy({ name: "dev-release-deploy", newOutputs: { stdout: "garbage" } });
    expect(out.skipped).toBe("dc-release printed no result line; its output ended with: garbage; nothing recorded");
    const unfit = await recorder.afterDeploy({
      name: "dev-release-deploy",
      newOutputs: { stdout: releaseLine({ phases: null as never }) },
    });
    expect(unfit.skipped).toMatch(/phases: expected phases as a JSON object, got null; nothing recorded$/);
    expect(reports).toContain(unfit.skipped);
    const broken = { firstServed: () => Promise.reject(new Error("boom hunter2secret")), write: () => Promise.reject(new Error("disk")) };
    const r2 = new DeploymentRecorder({
      env: "dev",
      runId: "r",
      log: broken as unknown as DeploymentLog,
      secrets: ["hunter2secret"],
      report: (m) => reports.push(m),
    });
    await expect(r2.afterDeploy({ name: "n", newOutputs: { stdout: releaseLine() } })).resolves.toMatchObject({
      skipped: expect.stringMatching(/disk/),
    });
    expect(reports.join("\n")).not.toContain("hunter2secret");
    expect(reports.some((m) => m.includes("boom"))).toBe(true);
  });
});

describe("commands and renderers", () => {
  test("parseArgs", () => {
    expect(parseArgs(["dev", "--days", "7", "--json", "--env=test"])).toEqual({
      positional: ["dev"],
      flags: new Map<string, string | true>([
        ["days", "7"],
        ["json", true],
        ["env", "test"],
      ]),
    });
    expect(() => parseArgs(["--days"])).toThrow("--days needs a value");
  });

  test("history and metrics tables", () => {
    expect(formatHistory(HISTORY.slice(4, 6))).toBe(
      [
        "when (UTC)        env  tag          status       who              duration  rollback from",
        "----------------  ---  -----------  -----------  ---------------  --------  -------------",
        "2026-01-07 10:00  dev  sha-0000005  rolled_back  vasiliy          40s       sha-0000004",
        "2026-01-02 10:00  dev  sha-0000006  success      claude-code-bot  16m 39s",
      ].join("\n"),
    );
    const table = formatMetrics(metricsByEnv(HISTORY, { now: NOW, days: 7 }));
    expect(table.split("\n")[3]).toBe("dev   5        2   2       1            0.71     40.0%         1h 0m 0s   1h 0m 0s   1m 0s  2m 0s");
  });

  test("Prometheus exposition", async () => {
    const text = await deploymentRegistry(HISTORY, NOW).metrics();
    expect(text).toContain('deployments_total{env="dev",status="success"} 3');
    expect(text).toContain('deployments_total{env="test",status="failed"} 1');
    expect(text).toContain('deployment_duration_seconds_bucket{le="60",env="dev",status="success"} 1');
    expect(text).toContain('deployment_duration_seconds_count{env="dev",status="failed"} 2');
    expect(text).toContain('deployment_mttr_seconds{env="test"} 7200');
  });

  test("the report is self-contained", () => {
    const html = renderReport(
      [...HISTORY, success({ deployId: "x", deployedBy: "<img src=http://evil>", deployedAt: "2026-01-09T00:00:00Z" })],
      {
        now: NOW,
        days: 7,
      },
    );
    expect(html).toContain("<svg");
    expect(html.match(/class="bar-failed"/g)).toHaveLength(2);
    expect(html).not.toMatch(/<(img|script|link|iframe)\b|(src|href)=["']https?:/i);
    expect(html).toContain("&lt;img src=http://evil&gt;");
  });

  test("records and migrations", () => {
    expect(isDeploymentRecord(success())).toBe(true);
    expect(isDeploymentRecord({ ...success(), status: "ok" })).toBe(false);
    expect(currentRunId({ GITHUB_RUN_ID: "99", GITHUB_RUN_ATTEMPT: "2" })).toBe("gh-99-2");
    expect(currentRunId({ DEEP_CALM_DEPLOY_ID: "abc" })).toBe("abc");
    expect(loadMigrations().map((m) => m.name)).toEqual(["001_deployments.sql", "002_maintenance.sql"]);
  });
});

describe("CI details for records", () => {
  test("GitHub Actions: actor, run link, app commit from a sha- tag", () => {
    expect(
      ciDetails(
        {
          GITHUB_ACTOR: "claude-code-bot",
          GITHUB_SERVER_URL: "https://github.com",
          GITHUB_REPOSITORY: "o/deep-calm-deploy",
          GITHUB_RUN_ID: "123456",
          USER: "runner",
        },
        "sha-abc1234",
      ),
    ).toEqual({ who: "claude-code-bot", commit: "abc1234", logsUrl: "https://github.com/o/deep-calm-deploy/actions/runs/123456" });
  });
  test("explicit app commit, subject and time win; a bad time is dropped", () => {
    const env = {
      USER: "vasiliy",
      DEEP_CALM_APP_COMMIT: "def5678",
      DEEP_CALM_APP_COMMIT_SUBJECT: "fix: metrics",
      DEEP_CALM_APP_COMMITTED_AT: "2026-01-10T10:00:00Z",
    };
    expect(ciDetails(env, "v1.2.3")).toEqual({
      who: "vasiliy",
      commit: "def5678",
      commitSubject: "fix: metrics",
      committedAt: "2026-01-10T10:00:00Z",
    });
    expect(ciDetails({ ...env, DEEP_CALM_APP_COMMITTED_AT: "yesterday" }).committedAt).toBeUndefined();
  });
  test("commitFromTag", () => {
    expect([commitFromTag("sha-abc1234"), commitFromTag("v1.2.3"), commitFromTag("sha-XYZ"), commitFromTag(undefined)]).toEqual([
      "abc1234",
      undefined,
      undefined,
      undefined,
    ]);
  });
});
