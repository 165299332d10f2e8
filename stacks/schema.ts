/** Pulumi.yaml's config declarations: the one list of keys, types, defaults and secrecy. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";

export interface ConfigDeclaration {
  type: "string" | "integer" | "boolean" | "array" | "object";
  description: string;
  default?: unknown;
  secret?: boolean;
  items?: { type: string };
}

export type ConfigSchema = Record<string, ConfigDeclaration>;

export const PROJECT_FILE = join(__dirname, "..", "Pulumi.yaml");

export function loadConfigSchema(file = PROJECT_FILE): ConfigSchema {
  const project = parse(readFileSync(file, "utf8")) as { config?: ConfigSchema };
  return project.config ?? {};
}

/**
 * A stack value as the engine hands it to the program: unset takes Pulumi.yaml's default, a
 * string key stays text, any other key's text is parsed as JSON (a list, a number, a boolean).
 */
export function declaredValue(declared: ConfigDeclaration | undefined, raw: unknown): unknown {
  if (raw === undefined || raw === null) return declared?.default;
  if (declared?.type === "string") return typeof raw === "string" ? raw : String(raw);
  if (typeof raw !== "string") return raw;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

function showDefault(d: ConfigDeclaration): string {
  if (d.secret) return "(secret, no default)";
  if (d.default === undefined) return "(required)";
  return `\`${JSON.stringify(d.default)}\``;
}

/** The README's config reference table, rendered from Pulumi.yaml. */
export function renderConfigReference(schema: ConfigSchema): string {
  const rows = Object.keys(schema).map((key) => {
    const d = schema[key] as ConfigDeclaration;
    const type = d.type === "array" ? `array of ${d.items?.type ?? "?"}` : d.type;
    return `| \`${key}\` | ${type} | ${showDefault(d)} | ${d.description.replace(/\|/g, "\\|")} |`;
  });
  return ["| key | type | default | description |", "| --- | --- | --- | --- |", ...rows].join("\n");
}
