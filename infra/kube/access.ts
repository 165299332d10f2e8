/**
 * How the program reaches a cluster's API server: the kubeconfig's current context, checked
 * before anything is declared, and a small JSON client over node:https that the release resource
 * (./release.ts) and `npm run status` use. It takes what kubeconfigs of managed clusters carry:
 * client certificates, bearer tokens, and exec credential plugins (aws eks get-token,
 * gke-gcloud-auth-plugin, kubelogin), which it runs without a shell and whose output it never logs.
 * The kubeconfig is a secret: nothing of it reaches a message but the server's address.
 */
import { execFileSync } from "node:child_process";
import * as https from "node:https";
import { parse } from "yaml";
import { ConfigValueError, showValue } from "../errors";

/** An exec credential plugin, as the kubeconfig's user names it. */
export interface ExecPlugin {
  command: string;
  args: string[];
  env: Record<string, string>;
  apiVersion: string;
}

/** What a request to the API server needs; every field but `server` is secret. */
export interface KubeAccess {
  server: string;
  caData?: string;
  certData?: string;
  keyData?: string;
  token?: string;
  insecure: boolean;
  exec?: ExecPlugin;
}

function refuse(key: string, allowed: string): never {
  throw new ConfigValueError(key, showValue("", true), allowed);
}

function entry(list: unknown, name: unknown, field: string, key: string, what: string): Record<string, unknown> {
  const found = Array.isArray(list) ? (list as Record<string, unknown>[]).find((e) => e?.name === name) : undefined;
  const value = found?.[field];
  if (typeof value !== "object" || value === null) {
    refuse(key, `its current context names ${what} ${showValue(name, false)}, which it does not define`);
  }
  return value as Record<string, unknown>;
}

const text = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
const base64 = (v: unknown): string | undefined => {
  const s = text(v);
  return s === undefined ? undefined : Buffer.from(s, "base64").toString("utf8");
};

/**
 * The current context's server and credentials. File references (certificate-authority,
 * client-certificate, tokenFile) are refused: a stack's kubeconfig must carry its data inline
 * (`kubectl config view --raw --flatten --minify`), since it runs on CI runners too.
 */
export function kubeAccess(key: string, kubeconfig: string): KubeAccess {
  let doc: Record<string, unknown>;
  try {
    doc = parse(kubeconfig) as Record<string, unknown>;
  } catch {
    refuse(key, "use a kubeconfig (YAML): `kubectl config view --raw --flatten --minify`");
  }
  if (typeof doc !== "object" || doc === null || doc.kind !== "Config") {
    refuse(key, "use a kubeconfig (YAML with kind: Config): `kubectl config view --raw --flatten --minify`");
  }
  const current = text(doc["current-context"]);
  if (current === undefined) {
    refuse(key, "set its current-context (`kubectl config use-context <name>` before flattening it)");
  }
  const context = entry(doc.contexts, current, "context", key, "context");
  const cluster = entry(doc.clusters, context.cluster, "cluster", key, "cluster");
  const user = context.user === undefined ? {} : entry(doc.users, context.user, "user", key, "user");
  for (const file of ["certificate-authority", "client-certificate", "client-key", "tokenFile"]) {
    if (text(cluster[file]) !== undefined || text(user[file]) !== undefined) {
      refuse(key, `it names the file ${file}; inline the data: \`kubectl config view --raw --flatten --minify\``);
    }
  }
  const server = text(cluster.server);
  if (server === undefined || !/^https:\/\/[^/\s]+(\/[^\s]*)?$/.test(server)) {
    throw new ConfigValueError(key, `server ${showValue(server, false)}`, "the cluster's server must be an https:// URL");
  }
  const exec = user.exec as Record<string, unknown> | undefined;
  const access: KubeAccess = {
    server: server.replace(/\/$/, ""),
    insecure: cluster["insecure-skip-tls-verify"] === true,
    ...(base64(cluster["certificate-authority-data"]) ? { caData: base64(cluster["certificate-authority-data"]) } : {}),
    ...(base64(user["client-certificate-data"]) ? { certData: base64(user["client-certificate-data"]) } : {}),
    ...(base64(user["client-key-data"]) ? { keyData: base64(user["client-key-data"]) } : {}),
    ...(text(user.token) ? { token: text(user.token) } : {}),
    ...(exec && text(exec.command)
      ? {
          exec: {
            command: text(exec.command) as string,
            args: Array.isArray(exec.args) ? exec.args.map(String) : [],
            env: Object.fromEntries(
              (Array.isArray(exec.env) ? (exec.env as { name?: unknown; value?: unknown }[]) : []).map((e) => [
                String(e.name),
                String(e.value),
              ]),
            ),
            apiVersion: text(exec.apiVersion) ?? "client.authentication.k8s.io/v1",
          },
        }
      : {}),
  };
  if (!access.token && !access.exec && !(access.certData && access.keyData)) {
    refuse(key, "its user has no credentials: use client-certificate-data and client-key-data, a token, or an exec plugin");
  }
  return access;
}

/** Credentials from an exec plugin (client.authentication.k8s.io ExecCredential), asked once per process. */
function execCredentials(plugin: ExecPlugin): { token?: string; certData?: string; keyData?: string } {
  const info = JSON.stringify({ apiVersion: plugin.apiVersion, kind: "ExecCredential", spec: { interactive: false } });
  let out: string;
  try {
    out = execFileSync(plugin.command, plugin.args, {
      env: { ...process.env, ...plugin.env, KUBERNETES_EXEC_INFO: info },
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 60_000,
    });
  } catch (err) {
    throw new Error(`the kubeconfig's exec plugin ${plugin.command} failed: ${(err as Error).message.split("\n")[0]}`);
  }
  const status = (JSON.parse(out) as { status?: Record<string, unknown> }).status ?? {};
  return {
    ...(text(status.token) ? { token: text(status.token) } : {}),
    ...(text(status.clientCertificateData) ? { certData: text(status.clientCertificateData) } : {}),
    ...(text(status.clientKeyData) ? { keyData: text(status.clientKeyData) } : {}),
  };
}

/**
 * An API error: an Error whose `status` is the HTTP status, its message the server's (a Status
 * object's `message`). A plain Error, not a subclass: the release resource's code is serialized
 * into the dynamic provider, where a subclass of Error can lose its message.
 */
export type KubeApiError = Error & { status: number };

export function kubeApiError(status: number, message: string): KubeApiError {
  return Object.assign(new Error(message), { status });
}

/** True for an API error of that HTTP status (404: not found). */
export function isApiStatus(err: unknown, status: number): boolean {
  return err instanceof Error && (err as Partial<KubeApiError>).status === status;
}

export type KubeRequest = (method: string, path: string, body?: unknown, contentType?: string) => Promise<unknown>;

/** A JSON client of the API server; each request is bounded by `timeoutMs`. */
export function kubeClient(access: KubeAccess, timeoutMs = 30_000): KubeRequest {
  let creds: { token?: string; certData?: string; keyData?: string } | undefined = access.exec ? undefined : access;
  return async (method, path, body, contentType = "application/json") => {
    creds ??= { ...(access.exec ? execCredentials(access.exec) : {}) };
    const url = new URL(access.server + path);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = https.request(
        url,
        {
          method,
          timeout: timeoutMs,
          rejectUnauthorized: !access.insecure,
          ...(access.caData ? { ca: access.caData } : {}),
          ...(creds?.certData ? { cert: creds.certData } : {}),
          ...(creds?.keyData ? { key: creds.keyData } : {}),
          headers: {
            accept: "application/json",
            ...(creds?.token ? { authorization: `Bearer ${creds.token}` } : {}),
            ...(payload === undefined ? {} : { "content-type": contentType, "content-length": Buffer.byteLength(payload) }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const raw = Buffer.concat(chunks).toString("utf8");
            let parsed: unknown = raw;
            try {
              parsed = raw === "" ? undefined : JSON.parse(raw);
            } catch {
              // A non-JSON answer (a proxy's error page) is kept as text for the message.
            }
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) {
              resolve(parsed);
              return;
            }
            const message = (parsed as { message?: string } | undefined)?.message ?? String(raw).slice(0, 200);
            reject(kubeApiError(status, `${method} ${url.pathname}: ${status} ${message}`));
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${method} ${url.pathname}: no answer from ${access.server} within ${timeoutMs} ms`)));
      req.on("error", reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  };
}
