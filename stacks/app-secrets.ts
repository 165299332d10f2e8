/** The `appSecrets` map as the engine hands it to the program, checked for plain-text entries. */
import * as pulumi from "@pulumi/pulumi";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parse } from "yaml";
import { AppSecretsConfig, plainAppSecretEntries } from "../infra/app-secrets";
import { PROJECT_FILE } from "./schema";

/**
 * Read plainly (never through pulumi.Config.get, which would warn) only to validate and render it;
 * the program wraps what it renders as secrets at once. The engine says only whether the map holds
 * a secret, so the stack file in the project is read too: an entry set without --secret sits
 * there in plain text, and is refused.
 */
export function appSecretsFromEngine(isConfigSecret: (key: string) => boolean, projectDir = dirname(PROJECT_FILE)): AppSecretsConfig {
  const key = `${pulumi.getProject()}:appSecrets`;
  const stackFile = join(projectDir, `Pulumi.${pulumi.getStack()}.yaml`);
  return {
    raw: pulumi.runtime.getConfig(key),
    storedAsSecret: isConfigSecret(key),
    plainEntries: existsSync(stackFile) ? plainAppSecretEntries(parse(readFileSync(stackFile, "utf8")), pulumi.getProject()) : [],
  };
}
