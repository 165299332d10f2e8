/**
 * Where an environment lives on its host. Every path the program, the operator commands and the
 * tests use on a host comes from here, so the layout dc-release works in is written down once.
 *
 *   <root>/<env>/                 the env directory (created by the program, removed on destroy)
 *     dc-release                  the release procedure, uploaded by the program
 *     .env                        the app's environment (0600)
 *     smoke.netrc                 basic auth for the checks through nginx, when the env has it (0600)
 *     docker-compose.yml          the accessories, when the env has them
 *     deploy.log                  one JSON result line per release attempt
 *     nginx/site.conf             the env's nginx site; nginx/enabled.conf once a release serves
 *     nginx/htpasswd              basic auth users, when the env has it
 *     nginx/access.log            the site's access log, read by the bake
 */
export interface EnvLayout {
  root: string;
  env: string;
  dir: string;
  script: string;
  envFile: string;
  netrc: string;
  composeFile: string;
  deployLog: string;
  nginxDir: string;
  site: string;
  enabledSite: string;
  htpasswd: string;
  accessLog: string;
}

export const DEFAULT_ROOT = "/opt/deep-calm";

export function envLayout(root: string, env: string): EnvLayout {
  const dir = `${root}/${env}`;
  const nginxDir = `${dir}/nginx`;
  return {
    root,
    env,
    dir,
    script: `${dir}/dc-release`,
    envFile: `${dir}/.env`,
    netrc: `${dir}/smoke.netrc`,
    composeFile: `${dir}/docker-compose.yml`,
    deployLog: `${dir}/deploy.log`,
    nginxDir,
    site: `${nginxDir}/site.conf`,
    enabledSite: `${nginxDir}/enabled.conf`,
    htpasswd: `${nginxDir}/htpasswd`,
    accessLog: `${nginxDir}/access.log`,
  };
}
