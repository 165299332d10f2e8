/**
 * Maintenance mode on the real local target: the site the program renders with the mode on or
 * off, uploaded and reloaded the way ComposeProject does (reloadNginxArgv), under load through
 * nginx. A toggle drops no request (those in flight across the reload complete), new requests get
 * the 503 page while on and the release after off; a deploy during maintenance deploys (its switch
 * check, smoke checks and bake reach the release through nginx) and leaves the mode on, and the
 * bake does not count the maintenance 503s.
 */
import http from "node:http";
import { reloadNginxArgv } from "../../infra/compose";
import { Maintenance } from "../../infra/maintenance";
import { renderNginxSite } from "../../infra/render";
import { HOST_ROOT, TestEnv, sleep, sshRun } from "./helpers";

jest.setTimeout(120_000);

const MESSAGE = `Upgrading the database <b>"now"</b> & $host {back} at 10:00 — ü`;
const RPS = 100;

class MaintenanceEnv extends TestEnv {
  maintenance: Maintenance = { on: false, message: MESSAGE, retryAfterSeconds: 120 };
  siteConf(): string {
    return renderNginxSite({
      env: this.name,
      root: HOST_ROOT,
      listen: `127.0.0.1:${this.publicPort}`,
      serverName: "_",
      basicAuth: false,
      ports: this.ports,
      maintenance: this.maintenance,
    });
  }
  /** What `pulumi up` does for a toggle: the new site, then nginx -t and a graceful reload. */
  async toggle(on: boolean): Promise<void> {
    this.maintenance = { ...this.maintenance, on };
    await this.put(this.layout.site, this.siteConf());
    const r = await sshRun(reloadNginxArgv(this.layout.enabledSite));
    if (r.code !== 0) throw new Error(`reload failed: ${r.stderr}`);
  }
}

const env = new MaintenanceEnv("mt-maint", [8771, 8772], 8770);

interface Answer {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}
function get(url: string, timeoutMs = 5000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on("error", reject);
  });
}

type Kind = "release" | "maintenance" | "failed";
interface Sent {
  at: number;
  kind: Kind;
  detail: string;
}
const isMaintenance = (a: Answer) =>
  a.status === 503 &&
  a.headers["retry-after"] === "120" &&
  a.headers["x-deep-calm-maintenance"] === "on" &&
  a.body.includes("<h1>Maintenance</h1>");

/** RPS GETs of /version a second (fresh connection each) while `work` runs, 500 ms on each side; bounded. */
async function loadAround<T>(work: () => Promise<T>): Promise<{ result: T; sent: Sent[] }> {
  const sent: Sent[] = [];
  const pending: Promise<void>[] = [];
  let done = false;
  const start = Date.now();
  const sender = (async () => {
    for (let i = 0; i < 20_000 && !done; i++) {
      const due = start + (i * 1000) / RPS;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      const s: Sent = { at: Date.now(), kind: "failed", detail: "" };
      sent.push(s);
      pending.push(
        get(`${env.frontUrl}/version`).then(
          (a) => {
            s.kind = a.status === 200 ? "release" : isMaintenance(a) ? "maintenance" : "failed";
            s.detail = a.status === 200 ? a.body.trim() : `HTTP ${a.status}`;
          },
          (e: Error) => {
            s.detail = e.message;
          },
        ),
      );
    }
  })();
  await sleep(500);
  const result = await work();
  await sleep(500);
  done = true;
  await sender;
  await Promise.all(pending);
  return { result, sent };
}

/** Requests through nginx still in flight across the reload: /cgi-bin/slow answers after 1.5 s. */
function inFlight(n: number): Promise<Answer[]> {
  return Promise.all(Array.from({ length: n }, () => get(`${env.frontUrl}/cgi-bin/slow?1.5`)));
}

const summary = (sent: Sent[]) => ({
  sent: sent.length,
  release: sent.filter((s) => s.kind === "release").length,
  maintenance: sent.filter((s) => s.kind === "maintenance").length,
  failed: sent.filter((s) => s.kind === "failed").map((s) => s.detail),
});

let servingPort = 0;

beforeAll(async () => {
  await env.reset();
  const first = await env.deploy("v1", ["--warm", "0"]);
  expect(first.code).toBe(0);
  servingPort = first.json.port ?? 0;
});

afterAll(async () => {
  await env.teardown();
});

describe("maintenance mode", () => {
  test("turning it on under load drops nothing: requests in flight complete, new ones get the 503 page", async () => {
    let slow: Promise<Answer[]> = Promise.resolve([]);
    let reloadedAt = 0;
    const { sent } = await loadAround(async () => {
      slow = inFlight(5);
      await sleep(300); // nginx has handed them to the release
      await env.toggle(true);
      reloadedAt = Date.now();
      await sleep(1500);
    });
    const s = summary(sent);
    console.log(`maintenance on under ${RPS} rps: ${JSON.stringify({ ...s, failed: s.failed.length })}`);
    expect(s.failed).toEqual([]);
    expect((await slow).map((a) => `${a.status} ${a.body.trim()}`)).toEqual(Array(5).fill("200 v1"));
    // Before the toggle the release answers; once the old workers have retired (nginx keeps them ~100 ms), only the page.
    expect(sent.filter((x) => x.at < reloadedAt - 1000).every((x) => x.kind === "release")).toBe(true);
    const after = sent.filter((x) => x.at > reloadedAt + 500);
    expect(after.length).toBeGreaterThan(50);
    expect(after.every((x) => x.kind === "maintenance")).toBe(true);
  });

  test("while on: the page carries the message escaped and Retry-After; the health endpoint answers on the direct port", async () => {
    const page = await get(`${env.frontUrl}/healthz`);
    expect(page.status).toBe(503);
    expect(page.headers["retry-after"]).toBe("120");
    expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(page.body).toContain(
      "<p>Upgrading the database &lt;b&gt;&quot;now&quot;&lt;/b&gt; &amp; &#36;host &#123;back&#125; at 10:00 — ü</p>",
    );
    expect(page.body).not.toContain("<b>");
    // A probe header without a token file, or from the outside, is no way around the page.
    const forged = await new Promise<number>((resolve, reject) =>
      http
        .get(`${env.frontUrl}/healthz`, { agent: false, headers: { "x-deep-calm-probe": "0".repeat(32) } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on("error", reject),
    );
    expect(forged).toBe(503);
    expect((await get(`http://127.0.0.1:${servingPort}/healthz`)).status).toBe(200);
  });

  test("a deploy during maintenance deploys through nginx's checks and keeps maintenance on; the bake counts no maintenance 503", async () => {
    const { result: r, sent } = await loadAround(() => env.deploy("v2", ["--warm", "3", "--bake", "2", "--smoke", "/healthz"]));
    const s = summary(sent);
    console.log(`deploy v2 during maintenance under ${RPS} rps: ${JSON.stringify({ ...s, failed: s.failed.length, bake: r.json.bake })}`);
    expect(r.code).toBe(0);
    expect(r.json.tag).toBe("v2");
    expect(r.json.port).not.toBe(servingPort);
    expect(r.json.bake).toMatchObject({ verdict: "passed", errors: 0, beforeErrors: 0 });
    // The bake's requests are dc-release's own probes: the public ones all got the page.
    expect(s.failed).toEqual([]);
    expect(s.release).toBe(0);
    expect(s.maintenance).toBe(sent.length);
    const log = await env.read(env.layout.accessLog);
    const lines = log.trim().split("\n");
    expect(lines.filter((l) => / 503 - /.test(l)).length).toBeGreaterThanOrEqual(sent.length);
    expect(lines.filter((l) => / 5\d\d 127\.0\.0\.1:/.test(l))).toEqual([]);
    servingPort = r.json.port ?? 0;
    expect(await env.live()).toBe(`port-${servingPort}`);
    expect(isMaintenance(await get(`${env.frontUrl}/version`))).toBe(true);
    // The run's probe token is gone with it.
    expect((await sshRun(["bash", "-c", 'ls -A "$1" 2>/dev/null | wc -l', "x", `${env.layout.nginxDir}/probe`])).stdout.trim()).toBe("0");
  });

  test("a release that breaks during maintenance is caught by the bake and undone: the old one serves again, the page stays", async () => {
    const r = await env.deploy("bad-late-crash", ["--warm", "6", "--bake", "5", "--smoke", "/healthz"]);
    expect(r.code).toBe(1);
    expect(r.json.reason).toMatch(/^unhealthy \d+\.\d s after the switch: /);
    expect(r.json.serving).toMatchObject({ tag: "v2" });
    expect(await env.live()).toBe(`port-${servingPort}`);
    expect(isMaintenance(await get(`${env.frontUrl}/version`))).toBe(true);
    // The undo's check through nginx still had the run's token: it saw the old release.
    const log = await env.read(r.json.logFile ?? "");
    expect(log).not.toContain("does not show");
  });

  test("turning it off under load drops nothing: in-flight requests complete, new ones reach the release (v2)", async () => {
    let slow: Promise<Answer[]> = Promise.resolve([]);
    let reloadedAt = 0;
    const { sent } = await loadAround(async () => {
      slow = inFlight(5);
      await sleep(300);
      await env.toggle(false);
      reloadedAt = Date.now();
      await sleep(1500);
    });
    const s = summary(sent);
    console.log(`maintenance off under ${RPS} rps: ${JSON.stringify({ ...s, failed: s.failed.length })}`);
    expect(s.failed).toEqual([]);
    // Sent while on, they got the page at once (nothing reaches the release then but dc-release's probes).
    for (const a of await slow) expect(isMaintenance(a)).toBe(true);
    expect(sent.filter((x) => x.at < reloadedAt - 1000).every((x) => x.kind === "maintenance")).toBe(true);
    const after = sent.filter((x) => x.at > reloadedAt + 500);
    expect(after.length).toBeGreaterThan(50);
    expect(after.every((x) => x.kind === "release" && x.detail === "v2")).toBe(true);
  });

  test("in-flight requests to the release complete across a toggle on: the slow one ends 200", async () => {
    const slow = get(`${env.frontUrl}/cgi-bin/slow?2`);
    await sleep(300);
    await env.toggle(true);
    // nginx's old workers keep accepting for ~100 ms after the reload: the page follows within a second.
    let page = false;
    for (let i = 0; i < 20 && !page; i++, await sleep(50)) page = isMaintenance(await get(`${env.frontUrl}/version`));
    expect(page).toBe(true);
    const answer = await slow;
    expect(`${answer.status} ${answer.body.trim()}`).toBe("200 v2");
    await env.toggle(false);
  });
});
