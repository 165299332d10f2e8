/**
 * Where an environment lives on its host. Every path the program, the operator commands and the
 * tests use on a host comes from here, so the layout dc-release works in is written down once.
 *
 *   <root>/<env>/                 the env directory (created by the program, removed on destroy)
 *     dc-release                  the release procedure, uploaded by the program
 *     .env                        the app's environment (0600)
 *     app-secrets.env             the app's secrets docker can carry in an env file (0600)
 *     secrets/                    the app's secrets that are files, one per key (0700, files 0400)
 *     smoke.netrc                 basic auth for the checks through nginx, when the env has it (0600)
 *     docker-compose.yml          the accessories, when the env has them
 *     deploy.log                  one JSON result line per release attempt
 *     logs/                       one log per release attempt (dc-release's logFile)
 *     state/                      dc-release's own record: current, previous, releases, attempts
 *     nginx/site.conf             the env's nginx site; nginx/enabled.conf once a release serves
 *     nginx/live                  symlink dc-release swaps to the serving port's marker directory
 *     nginx/htpasswd              basic auth users, when the env has it
 *     nginx/access.log            the site's access log, read by the bake
 */
import { RELEASE_OPTIONS } from "./release-options";

export interface EnvLayout {
  root: string;
  env: string;
  dir: string;
  script: string;
  envFile: string;
  appSecretsEnv: string;
  secretFilesDir: string;
  netrc: string;
  composeFile: string;
  deployLog: string;
  logsDir: string;
  stateDir: string;
  nginxDir: string;
  site: string;
  enabledSite: string;
  live: string;
  htpasswd: string;
  accessLog: string;
}

/** hostRoot's default, from the release option table. */
export const DEFAULT_ROOT = RELEASE_OPTIONS.root.default;

export function envLayout(root: string, env: string): EnvLayout {
  const dir = `${root}/${env}`;
  const nginxDir = `${dir}/nginx`;
  return {
    root,
    env,
    dir,
    script: `${dir}/dc-release`,
    envFile: `${dir}/.env`,
    appSecretsEnv: `${dir}/app-secrets.env`,
    secretFilesDir: `${dir}/secrets`,
    netrc: `${dir}/smoke.netrc`,
    composeFile: `${dir}/docker-compose.yml`,
    deployLog: `${dir}/deploy.log`,
    logsDir: `${dir}/logs`,
    stateDir: `${dir}/state`,
    nginxDir,
    site: `${nginxDir}/site.conf`,
    enabledSite: `${nginxDir}/enabled.conf`,
    live: `${nginxDir}/live`,
    htpasswd: `${nginxDir}/htpasswd`,
    accessLog: `${nginxDir}/access.log`,
  };
}
