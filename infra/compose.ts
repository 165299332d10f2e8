import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { writeSecretFilesArgv } from "./app-secrets";
import { DEFAULT_ROOT, EnvLayout, envLayout } from "./layout";
import { shellJoin, withFileDigest } from "./quote";
import { LEGACY_TRIGGERS } from "./release";
import { sha256 } from "./render";

type Connection = pulumi.Input<command.types.input.remote.ConnectionArgs>;

/** Writes stdin to `path` with `mode`, atomically; the content never touches a command line. */
export function writeFileArgv(path: string, mode: "0600" | "0644"): string[] {
  return ["sh", "-c", 'umask 077 && cat > "$1.tmp" && chmod "$2" "$1.tmp" && mv -f "$1.tmp" "$1"', "write-file", path, mode];
}

export function removeFilesArgv(...paths: string[]): string[] {
  return ["rm", "-f", "--", ...paths];
}

export function makeDirsArgv(layout: EnvLayout): string[] {
  return ["mkdir", "-p", "--", layout.dir, layout.nginxDir, layout.logsDir, layout.stateDir];
}

/** The env's compose project: it names the accessories' containers and volumes. */
export function composeProjectName(env: string): string {
  return `deep-calm-${env}`;
}

/**
 * Runs compose v2 (`docker compose`) on the env's project where the host has it, else v1
 * (`docker-compose`). The project name goes on the command line: v1 refuses a top-level `name:` in
 * the file.
 */
export function composeArgv(layout: EnvLayout, ...args: string[]): string[] {
  return [
    "sh",
    "-c",
    'if docker compose version >/dev/null 2>&1; then exec docker compose "$@"; else exec docker-compose "$@"; fi',
    "compose",
    "--project-name",
    composeProjectName(layout.env),
    "--project-directory",
    layout.dir,
    "-f",
    layout.composeFile,
    ...args,
  ];
}

/**
 * Starts or updates the accessories from the uploaded compose file, if it is the one rendered:
 * `up -d` recreates only the services whose definition changed; named volumes stay.
 */
export function accessoriesUpArgv(layout: EnvLayout, composeFile: string): string[] {
  return withFileDigest(layout.composeFile, sha256(composeFile), composeArgv(layout, "up", "-d", "--remove-orphans"));
}

/** Tests and reloads nginx when the env's site is enabled (dc-release enables it on first release). */
export function reloadNginxArgv(enabledSite: string): string[] {
  return ["sh", "-c", '[ ! -e "$1" ] || { sudo -n /usr/sbin/nginx -t && sudo -n /usr/sbin/nginx -s reload; }', "reload-nginx", enabledSite];
}

export interface ComposeProjectArgs {
  /** SSH connection of the host (from HostTarget). */
  connection: Connection;
  /** Environment name; the project lives in `<root>/<env>`. */
  env: string;
  /** Release root on the host. Default DEFAULT_ROOT (`/opt/deep-calm`). */
  root?: string;
  /** Rendered accessories compose file, or undefined when the env has none. */
  composeFile?: string;
  /** Rendered `.env` (secret): written 0600. */
  envFile: pulumi.Input<string>;
  /** Rendered nginx site. */
  nginxSite: string;
  /** Rendered htpasswd (secret), for envs behind basic auth. */
  htpasswd?: pulumi.Input<string>;
  /** Rendered netrc for smoke checks (secret), for envs behind basic auth. */
  smokeNetrc?: pulumi.Input<string>;
  /** The host release procedure (host/dc-release). */
  releaseScript: string;
  /** The app's secrets (infra/app-secrets.ts), when the stack declares any: both are secrets. */
  appSecrets?: { envFile: pulumi.Input<string>; files: pulumi.Input<string> };
}

/**
 * The env's directory on the host: compose file and accessories, `.env`, nginx site and the
 * release procedure. Each file is re-uploaded exactly when its rendered content changes.
 *
 * Under the real command provider a change of `triggers` is a replace, and a replace runs the old
 * resource's `delete`. So content reaches the host as an in-place update: uploads by their
 * `source`, secret files by `stdin`, the accessories by the compose file's digest in their command
 * line. Only the directory itself and the accessories are replaced, and only when the env moves.
 */
export class ComposeProject extends pulumi.ComponentResource {
  public readonly layout: EnvLayout;
  /**
   * The smoke checks' netrc, set only when this project uploads one: the release points dc-release
   * at this, so it names a file that is there.
   */
  public readonly authFile?: string;
  /** Everything a release must wait for. */
  public readonly uploads: pulumi.Resource[];

  constructor(name: string, args: ComposeProjectArgs, opts?: pulumi.ComponentResourceOptions) {
    super("deepcalm:compose:ComposeProject", name, {}, opts);
    const layout = envLayout(args.root ?? DEFAULT_ROOT, args.env);
    this.layout = layout;
    const connection = args.connection;
    const child = { parent: this };

    const dirs = new command.remote.Command(
      `${name}-dirs`,
      // Destroying the stack removes the env's directory, after everything in it was removed.
      {
        connection,
        create: shellJoin(makeDirsArgv(layout)),
        delete: shellJoin(["rm", "-rf", "--", layout.dir]),
        triggers: [layout.dir],
        addPreviousOutputInEnv: false,
      },
      child,
    );
    const afterDirs = { parent: this, dependsOn: [dirs] };

    const copy = (role: string, remotePath: string, content: string) =>
      new command.remote.CopyToRemote(
        `${name}-${role}`,
        { connection, remotePath, source: new pulumi.asset.StringAsset(content) },
        { ...afterDirs, ignoreChanges: [LEGACY_TRIGGERS] },
      );
    const secretFile = (role: string, remotePath: string, content: pulumi.Input<string>, mode: "0600" | "0644") =>
      new command.remote.Command(
        `${name}-${role}`,
        {
          connection,
          create: shellJoin(writeFileArgv(remotePath, mode)),
          delete: shellJoin(removeFilesArgv(remotePath)),
          stdin: pulumi.secret(content),
          logging: "none",
          addPreviousOutputInEnv: false,
        },
        afterDirs,
      );

    const script = copy("release-script", layout.script, args.releaseScript);
    const site = copy("nginx-site", layout.site, args.nginxSite);
    const envFile = secretFile("env-file", layout.envFile, args.envFile, "0600");
    this.uploads = [script, site, envFile];
    const siteInputs: pulumi.Resource[] = [site];
    const siteTriggers: pulumi.Input<string>[] = [sha256(args.nginxSite)];

    if (args.htpasswd !== undefined) {
      const htpasswd = secretFile("htpasswd", layout.htpasswd, args.htpasswd, "0644");
      this.uploads.push(htpasswd);
      siteInputs.push(htpasswd);
      siteTriggers.push(pulumi.secret(pulumi.output(args.htpasswd).apply(sha256)));
    }
    if (args.smokeNetrc !== undefined) {
      this.authFile = layout.netrc;
      this.uploads.push(secretFile("smoke-auth", this.authFile, args.smokeNetrc, "0600"));
    }
    if (args.appSecrets !== undefined) {
      this.uploads.push(...this.appSecretUploads(name, connection, args.appSecrets, dirs));
    }
    if (args.composeFile !== undefined) {
      const composeFile = copy("compose-file", layout.composeFile, args.composeFile);
      const up = shellJoin(accessoriesUpArgv(layout, args.composeFile));
      // A new compose file is an update, never `down` (no -v even then): that runs on destroy or a move only.
      const accessories = new command.remote.Command(
        `${name}-accessories`,
        {
          connection,
          create: up,
          update: up,
          delete: shellJoin(composeArgv(layout, "down")),
          addPreviousOutputInEnv: false,
        },
        {
          parent: this,
          dependsOn: [composeFile, envFile],
          // Replaced only when `down` would name another directory (the env moved); the old
          // project goes down first, as the new one has the same compose project name.
          replaceOnChanges: ["delete"],
          deleteBeforeReplace: true,
          ignoreChanges: [LEGACY_TRIGGERS],
        },
      );
      this.uploads.push(composeFile, accessories);
    }
    this.uploads.push(
      new command.remote.Command(
        `${name}-nginx-reload`,
        {
          connection,
          create: shellJoin(reloadNginxArgv(layout.enabledSite)),
          // A replace is harmless here (no delete): it runs the reload once more.
          triggers: siteTriggers,
          addPreviousOutputInEnv: false,
        },
        { parent: this, dependsOn: siteInputs },
      ),
    );
    this.registerOutputs({ dir: layout.dir });
  }

  /**
   * `app-secrets.env` (0600) and the `secrets/` directory of values that are files: dc-release
   * hands both to the release. Compose never reads them. Values travel on stdin only.
   */
  private appSecretUploads(
    name: string,
    connection: Connection,
    secrets: NonNullable<ComposeProjectArgs["appSecrets"]>,
    dirs: pulumi.Resource,
  ): pulumi.Resource[] {
    const opts = { parent: this, dependsOn: [dirs] };
    const upload = (role: string, argv: string[], remove: string[], content: pulumi.Input<string>) =>
      new command.remote.Command(
        `${name}-${role}`,
        {
          connection,
          create: shellJoin(argv),
          delete: shellJoin(remove),
          stdin: pulumi.secret(content),
          logging: "none",
          addPreviousOutputInEnv: false,
        },
        opts,
      );
    const envFile = this.layout.appSecretsEnv;
    const filesDir = this.layout.secretFilesDir;
    return [
      upload("app-secrets", writeFileArgv(envFile, "0600"), removeFilesArgv(envFile), secrets.envFile),
      upload("secret-files", writeSecretFilesArgv(filesDir), ["rm", "-rf", "--", filesDir], secrets.files),
    ];
  }
}
