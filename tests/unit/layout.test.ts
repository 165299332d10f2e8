/**
 * The env's layout is the one host/dc-release works in: each path the program, the scripts and the
 * tests take from it is checked against the name the procedure itself uses.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_ROOT, EnvLayout, envLayout } from "../../infra/layout";

const PROCEDURE = readFileSync(join(__dirname, "..", "..", "host", "dc-release"), "utf8");
const layout = envLayout("/srv/dc", "pr-7");

test("an env lives in <root>/<env>", () => {
  expect([layout.root, layout.env, layout.dir]).toEqual(["/srv/dc", "pr-7", "/srv/dc/pr-7"]);
  expect(envLayout(DEFAULT_ROOT, "dev").script).toBe("/opt/deep-calm/dev/dc-release");
});

test.each<[keyof EnvLayout, string, string]>([
  ["dir", "", "ENV_DIR=$ROOT/$ENV_NAME"],
  ["stateDir", "/state", "STATE_DIR=$ENV_DIR/state"],
  ["logsDir", "/logs", "LOG_DIR=$ENV_DIR/logs"],
  ["deployLog", "/deploy.log", '"$ENV_DIR/deploy.log"'],
  ["envFile", "/.env", "$ENV_DIR/.env"],
  ["appSecretsEnv", "/app-secrets.env", "$ENV_DIR/app-secrets.env"],
  ["secretFilesDir", "/secrets", '"$ENV_DIR"/secrets/*'],
  ["nginxDir", "/nginx", "NGINX_DIR=$ENV_DIR/nginx"],
  ["enabledSite", "/nginx/enabled.conf", "$NGINX_DIR/enabled.conf"],
  ["site", "/nginx/site.conf", 'ln -s site.conf "$NGINX_DIR/enabled.conf"'],
  ["live", "/nginx/live", "$NGINX_DIR/live"],
  ["accessLog", "/nginx/access.log", "$NGINX_DIR/access.log"],
])("%s is <env>%s, where dc-release looks (%s)", (name, path, inProcedure) => {
  expect(layout[name]).toBe(`${layout.dir}${path}`);
  expect(PROCEDURE).toContain(inProcedure);
});

test("the files dc-release is told of or never reads: the procedure, the netrc, the accessories, htpasswd", () => {
  expect([layout.script, layout.netrc, layout.composeFile, layout.htpasswd]).toEqual([
    "/srv/dc/pr-7/dc-release",
    "/srv/dc/pr-7/smoke.netrc",
    "/srv/dc/pr-7/docker-compose.yml",
    "/srv/dc/pr-7/nginx/htpasswd",
  ]);
});
