/**
 * Maintenance toggles in the deployment log and on Telegram. The host remembers the env's mode
 * (`<env>/state/maintenance`, written by the `<env>-maintenance` command after nginx reloaded the
 * site) and that command prints `maintenance <before> -> <after>`; a change is one row of
 * `maintenance_events` (not `deployments`: a toggle is no deploy, so the metrics never count it)
 * and one Telegram message. A run that leaves the mode as it was records nothing.
 */
import * as pulumi from "@pulumi/pulumi";
import type { DeploymentContext } from "./hooks";
import { plain } from "./hooks";
import { redact } from "./redact";
import { envLabel, escapeHtml } from "./telegram";

export type MaintenanceState = "on" | "off";

/** One toggle as `maintenance_events` holds it. */
export interface MaintenanceEvent {
  /** Unique per toggle; a second write of the same id is a no-op. */
  eventId: string;
  env: string;
  state: MaintenanceState;
  /** The page's message while on (empty: the default page); null when turned off. */
  message: string | null;
  toggledBy: string | null;
  toggledAt: string;
}

/** What the host command printed: the mode before and after, or undefined when it printed no such line. */
export function parseToggle(stdout: string): { before: MaintenanceState; after: MaintenanceState } | undefined {
  const m = /^maintenance (on|off) -> (on|off)$/m.exec(stdout);
  return m ? { before: m[1] as MaintenanceState, after: m[2] as MaintenanceState } : undefined;
}

/** The Telegram text of a toggle (HTML parse mode), each field redacted and escaped. */
export function formatMaintenanceMessage(event: MaintenanceEvent, ctx: { url?: string; secrets?: readonly string[] } = {}): string {
  const clean = (text: string | null | undefined) =>
    redact(text ?? "", ctx.secrets ?? [])
      .replace(/\s+/g, " ")
      .trim();
  const lines =
    event.state === "on"
      ? [`🚧 ${envLabel(event.env)}: maintenance on`, `Message: ${clean(event.message) || "(the default page)"}`]
      : [`✅ ${envLabel(event.env)}: maintenance off`];
  if (event.toggledBy) lines.push(`By: ${clean(event.toggledBy)}`);
  if (ctx.url) lines.push(`URL: ${clean(ctx.url)}`);
  return lines.map(escapeHtml).join("\n");
}

export interface ToggleOutcome {
  event?: MaintenanceEvent;
  message?: string;
  write?: { stored: boolean; inserted?: boolean; problem?: string };
  notify?: { sent: boolean; attempts: number; problem?: string };
  skipped?: string;
}

/**
 * Records and announces the toggle the host command reported in `stdout`; nothing when the mode
 * did not change. Never throws: trouble is reported and returned.
 */
export async function recordToggle(
  ctx: DeploymentContext & { runId: string },
  stdout: string,
  message: string,
  now: () => Date = () => new Date(),
): Promise<ToggleOutcome> {
  const report = (m: string) => {
    try {
      (ctx.report ?? ((line: string) => void pulumi.log.warn(line)))(redact(m, ctx.secrets ?? []));
    } catch {
      // best effort
    }
  };
  try {
    const toggle = parseToggle(stdout);
    if (toggle === undefined) {
      report("maintenance: the host printed no 'maintenance <before> -> <after>' line; nothing recorded");
      return { skipped: "no toggle line" };
    }
    if (toggle.before === toggle.after) {
      return { skipped: `maintenance stays ${toggle.after}` };
    }
    const toggledAt = now().toISOString();
    const event: MaintenanceEvent = {
      eventId: `${ctx.runId}:${ctx.env}:maintenance-${toggle.after}`,
      env: ctx.env,
      state: toggle.after,
      message: toggle.after === "on" ? message : null,
      toggledBy: ctx.who ?? null,
      toggledAt,
    };
    const outcome: ToggleOutcome = { event };
    if (ctx.log) {
      outcome.write = await ctx.log.writeMaintenance(event);
      if (outcome.write.problem) report(`deployment log: ${outcome.write.problem}`);
    }
    outcome.message = formatMaintenanceMessage(event, { ...(ctx.url ? { url: ctx.url } : {}), secrets: ctx.secrets ?? [] });
    if (ctx.notifier) {
      outcome.notify = await ctx.notifier.send(outcome.message);
      if (!outcome.notify.sent) {
        report(`Telegram: message not sent after ${outcome.notify.attempts} attempt(s): ${outcome.notify.problem ?? "unknown"}`);
      }
    }
    return outcome;
  } catch (err) {
    const problem = `maintenance recording failed: ${err instanceof Error ? err.message : String(err)}`;
    report(problem);
    return { skipped: problem };
  }
}

/**
 * Named hooks for the `<env>-maintenance` command: after its create or update, the toggle it
 * reported is recorded. `context` is obtained when a hook fires (its settings may be secret Outputs).
 */
export function maintenanceHookBinding(
  env: string,
  message: string,
  context: () => Promise<DeploymentContext & { runId: string }>,
): pulumi.ResourceHookBinding {
  const after = new pulumi.ResourceHook(
    `${env}-maintenance-recorded`,
    async (args) => {
      try {
        const stdout = await plain(args.newOutputs?.stdout);
        await recordToggle(await context(), typeof stdout === "string" ? stdout : "", message);
      } catch (err) {
        void pulumi.log.warn(`maintenance recording failed: ${redact(err instanceof Error ? err.message : String(err))}`);
      }
    },
    { ignoreErrors: true },
  );
  return { afterCreate: [after], afterUpdate: [after] };
}
