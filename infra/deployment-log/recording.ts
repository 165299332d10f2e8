import * as os from "os";
import * as pulumi from "@pulumi/pulumi";
import { DeploymentContext, DeploymentRecorder, plain, releaseHookBinding } from "./hooks";
import { DeploymentLog } from "./log";
import { maintenanceHookBinding } from "./maintenance";
import { commitFromTag, currentRunId } from "./record";
import { TelegramNotifier } from "./telegram";

/** How the program records and announces releases; empty strings switch a part off. */
export interface RecordingSettings {
  env: string;
  /** The environment's public URL, for messages. */
  url?: string;
  /** The configured image tag (a `sha-<sha>` tag also gives the app commit). */
  tag?: string;
  /** postgres:// URL of the deployment log (secret); empty: no log. */
  databaseUrl?: pulumi.Input<string>;
  /** Schema of the log's tables; empty: the connection's default (public). */
  schema?: string;
  /** Spool file while Postgres is unreachable; relative to the project; default .deep-calm/spool.jsonl. */
  spoolPath?: string;
  /** Bot token (secret); empty: no messages. */
  telegramBotToken?: pulumi.Input<string>;
  /** Chat that receives the messages; empty: no messages. */
  telegramChatId?: pulumi.Input<string>;
  /** Bot API base URL; default https://api.telegram.org. */
  telegramApiUrl?: string;
  /** Where who/commit/logs link come from; default process.env. */
  environ?: NodeJS.ProcessEnv;
  /** Where trouble is reported; default pulumi.log.warn. */
  report?: (message: string) => void;
}

/**
 * Who deployed what, from the CI environment: GITHUB_ACTOR (else the local user), the app commit
 * (DEEP_CALM_APP_COMMIT, else the `sha-` tag), its subject and time when the workflow passes them
 * (DEEP_CALM_APP_COMMIT_SUBJECT, DEEP_CALM_APP_COMMITTED_AT), and the run's URL as the logs link.
 */
export function ciDetails(
  environ: NodeJS.ProcessEnv,
  tag?: string,
): Pick<DeploymentContext, "who" | "commit" | "commitSubject" | "committedAt" | "logsUrl"> {
  const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === "" ? undefined : v);
  const who = nonEmpty(environ.GITHUB_ACTOR) ?? nonEmpty(environ.USER) ?? safeUser();
  const commit = nonEmpty(environ.DEEP_CALM_APP_COMMIT) ?? commitFromTag(tag);
  const subject = nonEmpty(environ.DEEP_CALM_APP_COMMIT_SUBJECT);
  const committedAt = nonEmpty(environ.DEEP_CALM_APP_COMMITTED_AT);
  const { GITHUB_SERVER_URL: server, GITHUB_REPOSITORY: repo, GITHUB_RUN_ID: run } = environ;
  const logsUrl = server && repo && run ? `${server}/${repo}/actions/runs/${run}` : undefined;
  return {
    ...(who ? { who } : {}),
    ...(commit ? { commit } : {}),
    ...(subject ? { commitSubject: subject } : {}),
    ...(committedAt && !Number.isNaN(Date.parse(committedAt)) ? { committedAt } : {}),
    ...(logsUrl ? { logsUrl } : {}),
  };
}

function safeUser(): string | undefined {
  try {
    return os.userInfo().username;
  } catch {
    return undefined;
  }
}

function urlPassword(url: string): string {
  try {
    return decodeURIComponent(new URL(url).password);
  } catch {
    return "";
  }
}

/** Builds the recorder once the secret settings are known (inside a hook, never at preview). */
export async function recorderFor(settings: RecordingSettings, runId: string): Promise<DeploymentRecorder> {
  const [databaseUrl, token, chatId] = (await Promise.all([
    plain(settings.databaseUrl ?? ""),
    plain(settings.telegramBotToken ?? ""),
    plain(settings.telegramChatId ?? ""),
  ])) as [string, string, string];
  const secrets = [token, databaseUrl, urlPassword(databaseUrl)].filter((s) => s.length >= 4);
  return new DeploymentRecorder({
    env: settings.env,
    runId,
    secrets,
    ...ciDetails(settings.environ ?? process.env, settings.tag),
    ...(settings.url ? { url: settings.url } : {}),
    ...(settings.tag ? { tag: settings.tag } : {}),
    ...(settings.report ? { report: settings.report } : {}),
    ...(databaseUrl
      ? {
          log: new DeploymentLog({
            databaseUrl,
            ...(settings.schema ? { schema: settings.schema } : {}),
            ...(settings.spoolPath ? { spoolPath: settings.spoolPath } : {}),
            spoolEnv: settings.env,
          }),
        }
      : {}),
    ...(token && chatId
      ? {
          notifier: new TelegramNotifier({
            token,
            chatId,
            ...(settings.telegramApiUrl ? { apiBaseUrl: settings.telegramApiUrl } : {}),
          }),
        }
      : {}),
  });
}

/**
 * The `hooks` resource option for the `<env>-maintenance` command: a toggle is recorded in the
 * log's `maintenance_events` and announced, through the same log and chat as the releases.
 */
export function maintenanceRecordingHooks(settings: RecordingSettings, message: string): pulumi.ResourceHookBinding {
  const runId = currentRunId(settings.environ ?? process.env);
  let recorder: Promise<DeploymentRecorder> | undefined;
  return maintenanceHookBinding(settings.env, message, async () => {
    const r = await (recorder ??= recorderFor(settings, runId));
    return { ...r.ctx, runId: r.runId };
  });
}

/**
 * The `hooks` resource option for the release command: every create/update records `success`
 * (or `rolled_back`), every failure records `failed`; each is announced on Telegram.
 */
export function recordingHooks(settings: RecordingSettings): pulumi.ResourceHookBinding {
  const runId = currentRunId(settings.environ ?? process.env);
  let recorder: Promise<DeploymentRecorder> | undefined;
  return releaseHookBinding(settings.env, () => (recorder ??= recorderFor(settings, runId)));
}
