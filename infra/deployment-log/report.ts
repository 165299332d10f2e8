import { DailyCount, DeploymentMetrics, dailyCounts, metricsByEnv } from "./metrics";
import { DeploymentRecord } from "./record";
import { escapeHtml, formatDuration } from "./telegram";

export interface ReportOptions {
  now: Date;
  days: number;
  /** Restrict to one environment. */
  env?: string;
  /** Rows of the recent-deploys table; default 20. */
  recent?: number;
}

const COLORS = { success: "#2e7d32", rolledBack: "#f9a825", failed: "#c62828" };

/** A stacked bar chart (success, rolled back, failed per day) as inline SVG. */
export function deploysChartSvg(days: readonly DailyCount[], width = 960, height = 280): string {
  const pad = { left: 40, right: 10, top: 20, bottom: 40 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const max = Math.max(1, ...days.map((d) => d.total));
  const slot = plotW / Math.max(1, days.length);
  const barW = Math.max(2, slot * 0.7);
  const y = (v: number): number => pad.top + plotH - (v / max) * plotH;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="Deploys per day">`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<line x1="${pad.left}" y1="${pad.top + plotH}" x2="${width - pad.right}" y2="${pad.top + plotH}" stroke="#555"/>`,
    `<line x1="${pad.left}" y1="${pad.top}" x2="${pad.left}" y2="${pad.top + plotH}" stroke="#555"/>`,
    `<text x="${pad.left - 6}" y="${pad.top + 4}" font-size="11" text-anchor="end">${max}</text>`,
    `<text x="${pad.left - 6}" y="${pad.top + plotH}" font-size="11" text-anchor="end">0</text>`,
  ];
  days.forEach((d, i) => {
    const x = pad.left + i * slot + (slot - barW) / 2;
    let base = 0;
    for (const [key, value] of [
      ["success", d.success],
      ["rolledBack", d.rolledBack],
      ["failed", d.failed],
    ] as const) {
      if (value > 0) {
        parts.push(
          `<rect class="bar-${key}" x="${x.toFixed(1)}" y="${y(base + value).toFixed(1)}" width="${barW.toFixed(1)}" height="${(y(base) - y(base + value)).toFixed(1)}" fill="${COLORS[key]}"><title>${escapeHtml(`${d.date}: ${value} ${key}`)}</title></rect>`,
        );
        base += value;
      }
    }
    const everyNth = Math.ceil(days.length / 15);
    if (i % everyNth === 0) {
      parts.push(
        `<text x="${(x + barW / 2).toFixed(1)}" y="${height - pad.bottom + 16}" font-size="10" text-anchor="middle">${escapeHtml(d.date.slice(5))}</text>`,
      );
    }
  });
  parts.push("</svg>");
  return parts.join("\n");
}

function pct(v: number | null): string {
  return v === null ? "–" : `${(v * 100).toFixed(1)}%`;
}

function dur(ms: number | null): string {
  return ms === null ? "–" : formatDuration(ms);
}

function metricsRows(rows: readonly DeploymentMetrics[]): string {
  return rows
    .map(
      (m) =>
        `<tr><td>${escapeHtml(m.env)}</td><td>${m.deploys}</td><td>${m.deploysPerDay.toFixed(2)}</td><td>${pct(m.changeFailureRate)}</td><td>${dur(m.mttrMs)}</td><td>${dur(m.leadTimeMs)}</td><td>${dur(m.p50DurationMs)}</td><td>${dur(m.p95DurationMs)}</td></tr>`,
    )
    .join("\n");
}

/** A self-contained HTML page (inline CSS and SVG, no external assets): chart, metrics, recent deploys. */
export function renderReport(records: readonly DeploymentRecord[], opts: ReportOptions): string {
  const scoped = opts.env === undefined ? records : records.filter((r) => r.env === opts.env);
  const window = { now: opts.now, days: opts.days };
  const days = dailyCounts(scoped, window);
  const metrics = metricsByEnv(scoped, window);
  const recent = [...scoped].sort((a, b) => Date.parse(b.deployedAt) - Date.parse(a.deployedAt)).slice(0, opts.recent ?? 20);
  const title = `DeepCalm deployments${opts.env ? ` — ${opts.env}` : ""}, last ${opts.days} days`;
  const recentRows = recent
    .map(
      (r) =>
        `<tr class="${escapeHtml(r.status)}"><td>${escapeHtml(r.deployedAt.replace("T", " ").slice(0, 19))}</td><td>${escapeHtml(r.env)}</td><td>${escapeHtml(r.tag)}</td><td>${escapeHtml(r.status)}</td><td>${escapeHtml(r.deployedBy ?? "")}</td><td>${dur(r.durationMs ?? null)}</td><td>${escapeHtml(r.rollbackFrom ?? "")}</td></tr>`,
    )
    .join("\n");
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<style>
body { font-family: sans-serif; margin: 24px; color: #222; background: #fafafa; }
table { border-collapse: collapse; margin: 12px 0 24px; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: left; font-size: 13px; }
th { background: #eee; }
tr.failed td { color: #c62828; }
tr.rolled_back td { color: #8d6e00; }
.legend span { display: inline-block; margin-right: 16px; font-size: 13px; }
.legend i { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: middle; }
</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p>Generated ${escapeHtml(opts.now.toISOString())}; ${scoped.length} records in the log.</p>
<h2>Deploys per day</h2>
<div class="legend"><span><i style="background:${COLORS.success}"></i>success</span><span><i style="background:${COLORS.rolledBack}"></i>rolled back</span><span><i style="background:${COLORS.failed}"></i>failed</span></div>
${deploysChartSvg(days)}
<h2>Metrics</h2>
<table>
<tr><th>env</th><th>deploys</th><th>per day</th><th>failure rate</th><th>MTTR</th><th>lead time</th><th>p50</th><th>p95</th></tr>
${metricsRows(metrics)}
</table>
<h2>Recent deploys</h2>
<table>
<tr><th>when (UTC)</th><th>env</th><th>tag</th><th>status</th><th>who</th><th>duration</th><th>rollback from</th></tr>
${recentRows}
</table>
</body>
</html>
`;
}
