/** How operator scripts and tests reach the local target's deploy user: pinned key, never prompts. */
import { join } from "node:path";
import { PROJECT_DIR } from "./pulumi";

export const LOCAL_SSH_DIR = join(PROJECT_DIR, ".local-target", "ssh");

/** ssh options and destination for deploy@127.0.0.1:2222 (host key pinned, StrictHostKeyChecking=yes). */
export function localSshArgs(): string[] {
  return [
    "-i",
    join(LOCAL_SSH_DIR, "id_ed25519"),
    "-o",
    `UserKnownHostsFile=${join(LOCAL_SSH_DIR, "known_hosts")}`,
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "BatchMode=yes",
    "-p",
    "2222",
    "deploy@127.0.0.1",
  ];
}
