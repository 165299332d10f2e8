/**
 * Bounded HTTP load through the front, for tests and benchmarks: a fixed rate of GETs, each on a
 * fresh connection (as a browser's first request would be), every failure counted. Loopback only.
 */
import http from "node:http";

export interface HttpAnswer {
  status: number;
  body: string;
  upstream: string;
}

export function httpGet(url: string, headers: Record<string, string> = {}, timeoutMs = 2000): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers, timeout: timeoutMs }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, upstream: String(res.headers["x-deep-calm-upstream"] ?? "") }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on("error", reject);
  });
}

export interface LoadReport {
  sent: number;
  failed: number;
  failures: string[];
  /** Answers by body (the demo app answers /version with its tag). */
  versions: Record<string, number>;
  /** Longest time between two consecutive good answers, in ms. */
  longestGapMs: number;
  /**
   * From the sending of the first request that failed to the sending of the first request after
   * the last failure that succeeded, in ms (by the load's own clock); 0 when nothing failed. A
   * release that broke and was switched away from fails requests for at most this long.
   */
  failureWindowMs: number;
}

/** failureWindowMs of a run: `sent` holds each request's send time (ms) and whether it succeeded. */
export function failureWindow(sent: readonly (readonly [number, boolean])[]): number {
  const byTime = [...sent].sort((a, b) => a[0] - b[0]);
  const first = byTime.findIndex(([, ok]) => !ok);
  if (first < 0) return 0;
  let last = first;
  byTime.forEach(([, ok], i) => {
    if (!ok) last = i;
  });
  const recovered = byTime.slice(last + 1).find(([, ok]) => ok);
  const end = recovered ? recovered[0] : (byTime[byTime.length - 1] as readonly [number, boolean])[0];
  return end - (byTime[first] as readonly [number, boolean])[0];
}

/** Never more than this many requests in one run, whatever the rate and the time. */
const MAX_REQUESTS = 200_000;
/** A request that has not answered by then counts as failed. */
const REQUEST_TIMEOUT_MS = 5000;

/**
 * Sends `rps` requests a second until `until` settles (or `maxMs` passes), then waits for the
 * answers. Give `until` as a duration in ms for a fixed window.
 */
export async function loadDuring(
  url: string,
  rps: number,
  until: Promise<unknown> | number,
  maxMs = 600_000,
  headers: Record<string, string> = {},
): Promise<LoadReport> {
  const report: LoadReport = { sent: 0, failed: 0, failures: [], versions: {}, longestGapMs: 0, failureWindowMs: 0 };
  const outcomes: [number, boolean][] = [];
  const start = Date.now();
  const stopAt = start + (typeof until === "number" ? Math.min(until, maxMs) : maxMs);
  let settled = false;
  if (typeof until !== "number") {
    until.then(
      () => (settled = true),
      () => (settled = true),
    );
  }
  let lastGood = start;
  const pending: Promise<void>[] = [];
  for (let i = 0; i < MAX_REQUESTS && !settled; i++) {
    const due = start + (i * 1000) / rps;
    if (due >= stopAt) {
      break;
    }
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    report.sent++;
    const outcome: [number, boolean] = [Date.now() - start, false];
    outcomes.push(outcome);
    pending.push(
      httpGet(url, headers, REQUEST_TIMEOUT_MS).then(
        (a) => {
          if (a.status !== 200) {
            report.failed++;
            report.failures.push(`HTTP ${a.status} from ${a.upstream}`);
            return;
          }
          outcome[1] = true;
          const now = Date.now();
          report.longestGapMs = Math.max(report.longestGapMs, now - lastGood);
          lastGood = now;
          report.versions[a.body] = (report.versions[a.body] ?? 0) + 1;
        },
        (e: Error) => {
          report.failed++;
          report.failures.push(e.message);
        },
      ),
    );
  }
  await Promise.all(pending);
  report.failureWindowMs = failureWindow(outcomes);
  return report;
}

/** How long the load runs before `work` starts and after it ends, so both edges are seen. */
const EDGE_MS = 500;

/** Runs `work` while `rps` GETs a second go to `url`; the load starts before it and ends after it. */
export async function loadAround<T>(
  url: string,
  rps: number,
  work: () => Promise<T>,
  maxMs = 240_000,
): Promise<{ result: T; load: LoadReport }> {
  let finish: () => void = () => undefined;
  const traffic = loadDuring(url, rps, new Promise<void>((resolve) => (finish = resolve)), maxMs);
  const edge = () => new Promise((resolve) => setTimeout(resolve, EDGE_MS));
  await edge();
  let result: T;
  try {
    result = await work();
    await edge();
  } finally {
    finish();
  }
  return { result, load: await traffic };
}

/** `<status> <body>` of one GET on a fresh connection: what the front serves now. */
export async function statusAndBody(url: string, timeoutMs = 5000): Promise<string> {
  const answer = await httpGet(url, {}, timeoutMs);
  return `${answer.status} ${answer.body.trim()}`;
}
