import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { AppSecretsConfig, appSecretUploads } from "../infra/app-secrets";
import { adminConnection, HostBootstrap } from "../infra/bootstrap";
import { ComposeProject } from "../infra/compose";
import { GeneratedPassword } from "../infra/generated-password";
import { validateFor } from "../infra/validate-for";
import { AppRepoFiles, GithubEnvironment } from "../infra/github";
import { HostTarget } from "../infra/host";
import { Image } from "../infra/image";
import { ObservedRelease } from "../infra/observed-release";
import { PushToDeploy } from "../infra/pulumi-deployments";
import { maintenanceRecordingHooks, recordingHooks, type RecordingSettings } from "../infra/deployment-log/recording";
import { maintenanceState } from "../infra/maintenance-state";
import { Release } from "../infra/release";
import { type ReleaseResult } from "../infra/release-result";
import { renderComposeFile, renderEnvFile, renderHtpasswd, renderNetrc, renderNginxSite } from "../infra/render";
import { ConfigReader, StackConfig, loadAdminKey, loadPrivateKey, loadStackConfig, refusePlainSecrets } from "./config";

export const RELEASE_SCRIPT = join(__dirname, "..", "host", "dc-release");

export interface EnvironmentArgs {
  /** The stack name; it picks the environment's profile. */
  stack: string;
  /** Typed reader of the stack's plain config. */
  read: ConfigReader;
  /** The deploy user's private key as config holds it, checked before anything is declared. */
  sshPrivateKey: string | undefined;
  /** Whether the stack stores sshPrivateKey encrypted. */
  sshPrivateKeyIsSecret: boolean;
  /** adminSshPrivateKey as config holds it, checked before anything is declared (bootstrap: true). */
  adminSshPrivateKey?: string;
  /** Whether the stack stores adminSshPrivateKey encrypted. */
  adminSshPrivateKeyIsSecret?: boolean;
  /** The host release procedure; defaults to host/dc-release. */
  releaseScript?: string;
  /** Secret keys that are set but stored in plain text; any is refused. */
  plainSecrets?: string[];
  /** The image's digest when the program pinned it before declaring anything (stacks/preflight.ts). */
  imageDigest?: string;
  /** deploymentLogDatabaseUrl as a secret (config.getSecret); absent: no deployment log. */
  deploymentLogDatabaseUrl?: pulumi.Input<string>;
  /** telegramBotToken as a secret (config.getSecret); absent: no Telegram messages. */
  telegramBotToken?: pulumi.Input<string>;
  /** appSecrets as the engine hands it over (read plainly to validate, then only as secrets). */
  appSecrets?: AppSecretsConfig;
}

const POSTGRES = { database: "deepcalm", user: "deepcalm" };

/** Variables the app gets from the program or dc-release (`PORT`); an app secret may not shadow one. */
export const PROGRAM_VARIABLES = ["DEPLOY_ENV", "PORT", "POSTGRES_PASSWORD", "DATABASE_URL", "REDIS_URL"];

/** `.env` of the app: the stack's extra entries plus the accessories' connection strings. */
function appEnv(cfg: StackConfig, postgresPassword: string | undefined): string {
  const entries: Record<string, string> = { ...cfg.appEnvironment, DEPLOY_ENV: cfg.profile.env };
  if (cfg.accessories && postgresPassword !== undefined) {
    const { postgresPort, redisPort } = cfg.accessories;
    entries.POSTGRES_PASSWORD = postgresPassword;
    entries.DATABASE_URL = `postgresql://${POSTGRES.user}:${postgresPassword}@127.0.0.1:${postgresPort}/${POSTGRES.database}`;
    entries.REDIS_URL = `redis://127.0.0.1:${redisPort}/0`;
  }
  return renderEnvFile(entries);
}

/** Where the env's releases are recorded and announced (both runtimes): the log, the chat, the URL and tag. */
export function recordingOf(
  cfg: Pick<StackConfig, "profile" | "publicUrl" | "image" | "deploymentLog" | "telegramChatId" | "telegramApiUrl">,
  secrets: Pick<EnvironmentArgs, "deploymentLogDatabaseUrl" | "telegramBotToken">,
): RecordingSettings {
  return {
    env: cfg.profile.env,
    url: cfg.publicUrl,
    tag: cfg.image.tag.tag,
    databaseUrl: secrets.deploymentLogDatabaseUrl,
    schema: cfg.deploymentLog.schema,
    spoolPath: cfg.deploymentLog.spoolPath,
    telegramBotToken: secrets.telegramBotToken,
    telegramChatId: cfg.telegramChatId,
    telegramApiUrl: cfg.telegramApiUrl,
  };
}

/** What an environment gives the stack's outputs, on either runtime (host here, kubernetes in ./kubernetes). */
export interface EnvironmentOutputs {
  readonly url: string;
  readonly imageRef: pulumi.Output<string>;
  readonly digest: pulumi.Output<string>;
  readonly release: pulumi.Output<ReleaseResult>;
}

/**
 * One environment of DeepCalm: its GitHub environment, the image pinned by digest, the host, the
 * compose project and the release. The stack name says which environment this is.
 */
export class DeepCalmEnvironment extends pulumi.ComponentResource implements EnvironmentOutputs {
  public readonly url: string;
  public readonly imageRef: pulumi.Output<string>;
  public readonly digest: pulumi.Output<string>;
  public readonly release: pulumi.Output<ReleaseResult>;

  constructor(name: string, args: EnvironmentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("deepcalm:stack:Environment", name, {}, opts);
    const cfg = validateFor(this, () => loadStackConfig(args.stack, args.read));
    const env = cfg.profile.env;
    const child = { parent: this };
    this.url = cfg.publicUrl;

    validateFor(this, () => refusePlainSecrets(args.plainSecrets ?? []));
    const appSecrets = validateFor(this, () =>
      appSecretUploads(args.appSecrets, [...Object.keys(cfg.appEnvironment), ...PROGRAM_VARIABLES]),
    );
    const adminKey = validateFor(this, () => loadAdminKey(args.read, args.adminSshPrivateKey, args.adminSshPrivateKeyIsSecret ?? false));
    const bootstrap =
      cfg.bootstrap !== undefined && adminKey !== undefined
        ? new HostBootstrap(
            `${env}-bootstrap`,
            {
              admin: adminConnection({ ...cfg.ssh, user: cfg.bootstrap.adminUser, privateKey: pulumi.secret(adminKey) }),
              user: cfg.ssh.user,
              root: cfg.release.root,
              keyComment: `${pulumi.getProject()}/${args.stack}`,
              keyRotation: cfg.bootstrap.keyRotation,
            },
            child,
          )
        : undefined;
    // With bootstrap, the generated key: it carries the bootstrap, so every host command waits for it.
    const sshPrivateKey =
      bootstrap?.deployPrivateKey ??
      pulumi.secret(validateFor(this, () => loadPrivateKey(args.read, args.sshPrivateKey, args.sshPrivateKeyIsSecret)));
    // A review env's password needs no provider plugin (infra/generated-password.ts); the others keep random's.
    const password = (role: string) =>
      cfg.profile.pullRequest === undefined
        ? new random.RandomPassword(`${env}-${role}`, { length: 32, special: false }, child).result
        : new GeneratedPassword(`${env}-${role}`, { length: 32 }, child).result;
    const postgresPassword = cfg.accessories ? password("postgres-password") : undefined;
    const basicAuthPassword = cfg.profile.basicAuth ? password("basic-auth-password") : undefined;

    const image = new Image(
      `${env}-image`,
      {
        registry: cfg.image.registry,
        repository: cfg.image.repository,
        tag: cfg.image.tag,
        digestSource: args.imageDigest === undefined ? cfg.image.digestSource : "config",
        digest: args.imageDigest ?? cfg.image.digest,
      },
      child,
    );
    this.imageRef = image.ref;
    this.digest = image.digest;

    const host = new HostTarget(
      `${env}-host`,
      {
        host: cfg.ssh.host,
        port: cfg.ssh.port,
        user: cfg.ssh.user,
        hostKey: cfg.ssh.hostKey,
        privateKey: sshPrivateKey,
        dialTimeoutSeconds: cfg.ssh.dialTimeoutSeconds,
        dialAttempts: cfg.ssh.dialAttempts,
      },
      child,
    );

    const releaseScript = args.releaseScript ?? readFileSync(RELEASE_SCRIPT, "utf8");
    const envFile = pulumi.output(postgresPassword).apply((pw) => validateFor(this, () => appEnv(cfg, pw)));
    const project = new ComposeProject(
      `${env}-project`,
      {
        connection: host.connection,
        env,
        root: cfg.release.root,
        composeFile: cfg.accessories
          ? renderComposeFile(env, {
              postgres: { port: cfg.accessories.postgresPort, ...POSTGRES },
              redis: { port: cfg.accessories.redisPort },
            })
          : undefined,
        envFile: pulumi.secret(envFile),
        nginxSite: renderNginxSite({
          env,
          root: cfg.release.root,
          listen: cfg.nginx.listen,
          serverName: cfg.nginx.serverName,
          basicAuth: cfg.profile.basicAuth,
          ports: cfg.release.ports,
          maintenance: cfg.maintenance,
        }),
        htpasswd: basicAuthPassword?.apply((pw) => renderHtpasswd(cfg.basicAuthUser, pw)),
        smokeNetrc: basicAuthPassword?.apply((pw) => renderNetrc(new URL(cfg.release.frontUrl).hostname, cfg.basicAuthUser, pw)),
        releaseScript,
        appSecrets,
      },
      { parent: this, dependsOn: [host.ready] },
    );

    const recording = recordingOf(cfg, args);
    const release = new Release(
      `${env}-release`,
      {
        connection: host.connection,
        env,
        image: image.ref,
        digest: image.digest,
        settings: { ...cfg.release, authFile: project.authFile },
        procedure: releaseScript,
        hooks: recordingHooks(recording),
      },
      { parent: this, dependsOn: project.uploads },
    );
    // Maintenance mode: the host remembers it, and a toggle is recorded and announced (README: Maintenance mode).
    maintenanceState(
      `${env}-maintenance`,
      {
        connection: host.connection,
        layout: project.layout,
        on: cfg.maintenance.on,
        hooks: maintenanceRecordingHooks(recording, cfg.maintenance.message),
      },
      { parent: this, dependsOn: project.uploads },
    );
    this.release = release.result;
    new ObservedRelease(
      `${env}-observed`,
      {
        host: pulumi.output(host.connection).apply((c) => ({
          host: String(c.host),
          port: Number(c.port),
          user: String(c.user),
          privateKey: String(c.privateKey),
          hostKey: String(c.hostKey),
          dialTimeoutSeconds: Number(c.perDialTimeout),
          dialAttempts: Number(c.dialErrorLimit),
        })),
        env,
        root: cfg.release.root,
        expectedDigest: image.digest,
      },
      { parent: this, dependsOn: [release.command] },
    );

    if (cfg.profile.github) {
      const upper = env.toUpperCase();
      const secrets: Record<string, pulumi.Input<string>> = {
        [`${upper}_HOST`]: cfg.ssh.host,
        [`${upper}_USER`]: cfg.ssh.user,
        [`${upper}_SSH_KEY`]: sshPrivateKey,
      };
      if (cfg.telegramChatId !== "") {
        secrets.TELEGRAM_CHAT_ID = cfg.telegramChatId;
      }
      if (basicAuthPassword !== undefined) {
        secrets[`${upper}_BASIC_AUTH_PASS`] = basicAuthPassword;
      }
      new GithubEnvironment(
        `${env}-github`,
        {
          repository: cfg.github.repository,
          environment: env,
          reviewerIds: cfg.github.reviewerIds,
          preventSelfReview: cfg.github.preventSelfReview,
          deployBranches: cfg.profile.deployBranches,
          deployTags: cfg.profile.deployTags,
          secrets,
          variables: { [`${upper}_URL`]: cfg.publicUrl },
        },
        child,
      );
    }
    if (cfg.pushToDeploy) {
      const { organization, repository, branch } = cfg.pushToDeploy;
      const owner = new pulumi.Config("github").get("owner") ?? "";
      new PushToDeploy(
        `${env}-push-to-deploy`,
        {
          organization: organization === "" ? pulumi.getOrganization() : organization,
          stack: env,
          repository: repository === "" ? `${owner}/${cfg.github.repository}` : repository,
          branch,
        },
        child,
      );
    }
    if (cfg.profile.appRepoFiles) {
      new AppRepoFiles(`${env}-app-repo`, { repository: cfg.github.appRepository, owners: cfg.github.codeOwners }, child);
    }
    this.registerOutputs({ url: this.url, imageRef: this.imageRef, digest: this.digest, release: this.release });
  }
}
