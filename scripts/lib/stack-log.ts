/**
 * The deployment log a stack writes to, from the stack's own config: the database
 * (deploymentLogDatabaseUrl, a secret), the schema (deploymentLogSchema) and the spool
 * (deploymentLogSpool). The commands read exactly what `pulumi up` of that stack writes, with no
 * environment variable to set.
 */
import { DeploymentLog, spoolFile } from "../../infra/deployment-log/log";
import { postgresSchema, profileFor } from "../../stacks/config";
import { pulumi } from "./pulumi";

const PROJECT = "deep-calm-deploy";

export interface StackLog {
  stack: string;
  /** The env the stack deploys (its records carry this name). */
  env: string;
  log: DeploymentLog;
}

/** The first argument names the stack; the rest go to the command. Bad input says what is allowed. */
export function stackArgs(argv: readonly string[], usage: string): { stack: string; rest: string[] } {
  const [stack, ...rest] = argv;
  if (stack === undefined || stack.startsWith("-")) {
    throw new Error(`usage: ${usage}`);
  }
  profileFor(stack);
  if (rest.includes("--env") || rest.some((a) => a.startsWith("--env="))) {
    throw new Error(`--env is not allowed: the stack ${stack} names the env (${profileFor(stack).env}); usage: ${usage}`);
  }
  return { stack, rest };
}

type ConfigJson = Record<string, { value?: string; secret?: boolean } | undefined>;

/** The stack's config with secrets decrypted (read from pulumi's stdout, never put on a command line). */
function stackConfig(stack: string): ConfigJson {
  const run = pulumi(stack, ["config", "--json", "--show-secrets"], { config: true });
  if (run.status !== 0) {
    throw new Error(`cannot read the config of stack ${stack}: ${run.stderr.trim() || `pulumi exited ${run.status}`}`);
  }
  return JSON.parse(run.stdout) as ConfigJson;
}

/** The log settings of one stack (the database URL stays out of every message). */
export function stackLogSettings(stack: string): { databaseUrl: string; schema: string; spoolPath: string } {
  const config = stackConfig(stack);
  const value = (key: string): string => config[`${PROJECT}:${key}`]?.value ?? "";
  const databaseUrl = value("deploymentLogDatabaseUrl");
  if (databaseUrl === "") {
    throw new Error(
      `deploymentLogDatabaseUrl: "" is not allowed here; stack ${stack} records no deployment log: ` +
        `set it with \`pulumi config set --secret deploymentLogDatabaseUrl -s ${stack}\``,
    );
  }
  // The program's own check, so the commands accept exactly the schemas `pulumi up` does.
  const schema = postgresSchema("deploymentLogSchema", value("deploymentLogSchema"));
  return { databaseUrl, schema, spoolPath: spoolFile(value("deploymentLogSpool")) };
}

/** The stack's deployment log: its database and schema, and the spool its deploys use. */
export function logForStack(stack: string): StackLog {
  const env = profileFor(stack).env;
  const { databaseUrl, schema, spoolPath } = stackLogSettings(stack);
  const log = new DeploymentLog({ databaseUrl, spoolPath, spoolEnv: env, ...(schema === "" ? {} : { schema }) });
  return { stack, env, log };
}
