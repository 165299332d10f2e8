/**
 * Writes what comes from the release option table (infra/release-options.ts) into the files that
 * cannot import it (`npm run gen:host`): host/dc-release's option usage, option defaults and
 * option code (options per action, parsing, checks), the release keys' declarations in
 * Pulumi.yaml, and the README's config reference (rendered from Pulumi.yaml). Each goes between
 * its begin/end markers; nothing else in those files is touched. With --check it writes nothing
 * and fails when any is stale.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { shellQuote } from "../../infra/quote";
import { deployArgv } from "../../infra/release";
import {
  allowedText,
  CROSS_RULES,
  defaultReleaseSettings,
  OptionAction,
  OptionSpec,
  PATTERNS,
  RELEASE_ACTIONS,
  RELEASE_OPTIONS,
  releaseOptions,
  TARGET_ARGS,
} from "../../infra/release-options";
import { frontUrl } from "../../stacks/config";
import { ConfigSchema, renderConfigReference } from "../../stacks/schema";
import { README, withReference } from "./config-reference";

const ROOT = join(__dirname, "..", "..");
export const HOST_SCRIPT = join(ROOT, "host", "dc-release");
export const PROJECT_YAML = join(ROOT, "Pulumi.yaml");

const SOURCE = "generated from infra/release-options.ts by `npm run gen:host`; do not edit";

/** A marked block: the lines strictly between `begin` and `end` belong to the generator. */
export interface Block {
  begin: string;
  end: string;
  render: () => string;
}

/** Replaces the lines between the block's markers; refuses a file without them. */
export function withBlock(text: string, file: string, block: Block): string {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => l === block.begin);
  const stop = lines.findIndex((l, i) => i > start && l === block.end);
  if (start < 0 || stop < 0) {
    throw new Error(`${file} lacks the lines '${block.begin}' ... '${block.end}'`);
  }
  const body = block.render();
  return [...lines.slice(0, start + 1), ...(body === "" ? [] : body.split("\n")), ...lines.slice(stop)].join("\n");
}

// ---- words shared by the usage and Pulumi.yaml ----------------------------------------------------

function defaultText(spec: OptionSpec): string {
  switch (spec.kind) {
    case "portPair":
      return spec.default.join(",");
    case "urlPaths":
      return spec.default.length === 0 ? "none" : spec.default.join(" ");
    case "netrcPath":
      return "none";
    case "command":
      return spec.default === "" ? "none" : `'${spec.default}'`;
    default:
      return String(spec.default);
  }
}

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** Words on where the option comes from, which actions take it, and the rules it is part of. */
function notes(spec: OptionSpec, field: string, side: "host" | "config"): string[] {
  const out: string[] = [];
  for (const rule of CROSS_RULES) {
    const other = RELEASE_OPTIONS[rule.atMost];
    if (rule.field === field) {
      out.push(`At most ${side === "host" ? other.flag : other.key}: ${rule.why}.`);
    }
  }
  if (side === "config") {
    return out;
  }
  if (spec.key !== null) {
    out.push(`Config ${spec.key}.`);
  }
  if (spec.kind === "urlPaths") {
    out.push(`Repeat it for each path; the first replaces the default, and ${spec.flag} '' alone is none.`);
  }
  if (spec.kind === "netrcPath") {
    out.push("Its existence and mode are host state: check does not look at them.");
  }
  if (spec.actions.join(" ") !== "deploy rollback") {
    out.push(`Taken by ${withCheck(spec.actions).join(", ")}.`);
  }
  return out;
}

/** Case patterns `a | b | c` over lines of at most `width`, each line but the last ending in `| \\`. */
function patternLines(flags: string[], indent: string, tail: string, width = 100): string[] {
  const lines: string[] = [];
  let line = indent;
  for (const [i, flag] of flags.entries()) {
    const piece = i < flags.length - 1 ? `${flag} |` : `${flag}${tail}`;
    if (line !== indent && line.length + 1 + piece.length + 2 > width) {
      lines.push(`${line} \\`);
      line = indent + "  ";
    }
    line = line.trim() === "" ? `${line}${piece}` : `${line} ${piece}`;
  }
  lines.push(line);
  return lines;
}

/** Words wrapped to `width`, every line but the first indented by `indent`. */
function wrap(text: string, width: number, indent: string): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = indent + word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  lines.push(line);
  return lines;
}

// ---- host/dc-release --------------------------------------------------------------------------

/** The option part of dc-release's usage (its header comment). */
export function renderUsage(): string {
  const lines = [
    "# Options: every one has a default, and the Pulumi program passes each one. Taken by deploy,",
    "# rollback and check (which takes what deploy takes) unless said otherwise.",
  ];
  const column = 27;
  for (const [field, spec] of releaseOptions()) {
    const head = `#   ${spec.flag} ${spec.metavar}`.padEnd(column - 1);
    const text = [
      spec.description,
      `${capitalize(allowedText(spec, "host"))}; default ${defaultText(spec)}.`,
      ...notes(spec, field, "host"),
    ].join(" ");
    const [first = "", ...rest] = wrap(text, 100 - column, "");
    lines.push(`${head} ${first}`, ...rest.map((l) => `#${" ".repeat(column - 1)}${l}`));
  }
  return lines.join("\n");
}

/** Patterns and defaults: the globals the rest of dc-release reads after validation. */
export function renderDefaults(): string {
  const lines = ["# Patterns of the option checks (the program checks config against the same)."];
  for (const [name, pattern] of Object.entries(PATTERNS)) {
    lines.push(`readonly ${name}=${shellQuote(pattern)}`);
  }
  lines.push("# Option defaults: what a run without the option gets (the program passes every option).");
  for (const [, spec] of releaseOptions()) {
    let value: string;
    switch (spec.kind) {
      case "urlPaths":
        value = `(${spec.default.map(shellQuote).join(" ")})`;
        break;
      case "portPair":
        value = spec.default.join(",");
        break;
      case "netrcPath":
        value = '""';
        break;
      default:
        value = String(spec.default) === "" ? '""' : shellQuote(String(spec.default));
    }
    lines.push(`${spec.variable}=${value}`);
  }
  return lines.join("\n");
}

const actionList = (actions: readonly string[]) =>
  actions.length === 1 ? actions[0] : `${actions.slice(0, -1).join(", ")} or ${actions[actions.length - 1]}`;

/** The actions that take an option, check included when deploy does. */
function withCheck(actions: readonly OptionAction[]): string[] {
  return RELEASE_ACTIONS.filter((a) => actions.includes(a === "check" ? "deploy" : a));
}

/** The check of one option, as a call of the kind's check function with the table's bounds. */
function checkCall(spec: OptionSpec): string {
  const v = `"$${spec.variable}"`;
  switch (spec.kind) {
    case "integer":
      return `check_int ${spec.flag} ${v} ${spec.min} ${spec.max}`;
    case "seconds": {
      const ms = (s: number) => Math.round(s * 1000);
      return `check_decimal ${spec.flag} ${v} ${ms(spec.min)} ${ms(spec.max)} "${spec.min}..${spec.max} seconds"`;
    }
    case "absolutePath":
      return `check_abs_path ${spec.flag} ${v} ${spec.maxLength}`;
    case "netrcPath":
      return `check_netrc_path ${spec.flag} ${v} ${spec.maxLength}`;
    case "urlPath":
      return `check_url_path ${spec.flag} ${v} ${spec.maxLength}`;
    case "urlPaths":
      return `check_url_paths ${spec.flag} ${spec.maxLength} \${${spec.variable}[@]+"\${${spec.variable}[@]}"}`;
    case "portPair":
      return `check_ports ${spec.flag} ${v} ${spec.min} ${spec.max}`;
    case "command":
      return `check_command ${spec.flag} ${v} ${spec.maxBytes}`;
    case "frontUrl":
      return `check_front_url ${spec.flag} ${v}`;
  }
}

/** Options per action, parsing and the checks of every option (the argument section's core). */
export function renderCode(): string {
  const all = [...TARGET_ARGS.map((t) => ({ ...t, kind: "target" as const })), ...releaseOptions().map(([, spec]) => spec)];
  for (const spec of releaseOptions().map(([, s]) => s)) {
    if (spec.kind === "integer" && (spec.min < 0 || spec.max > 999999)) throw new Error(`${spec.flag}: the host reads 1 to 6 digits`);
    if (spec.kind === "seconds" && spec.max > 99999) throw new Error(`${spec.flag}: the host reads at most 5 digits of seconds`);
  }
  const byActions = new Map<string, string[]>();
  for (const o of all) {
    const key = withCheck(o.actions).join(" ");
    byActions.set(key, [...(byActions.get(key) ?? []), o.flag]);
  }
  const actions = actionList(RELEASE_ACTIONS);
  const lines = [
    "# Whether the action takes option $1 (check takes what deploy takes).",
    "allowed_option() {",
    '  case "$1" in',
    ...[...byActions].flatMap(([acts, flags]) => [...patternLines(flags, "    ", ")"), `      [[ " ${acts} " == *" $ACTION "* ]] ;;`]),
    "    *) return 1 ;;",
    "  esac",
    "}",
    "",
    "parse_args() {",
    "  ACTION=${1:-}",
    '  case "$ACTION" in',
    `    ${RELEASE_ACTIONS.join(" | ")}) ;;`,
    `    "") fail 2 "missing action: expected ${actions}" ;;`,
    `    *) bad_arg action "$ACTION" "expected ${actions}" ;;`,
    "  esac",
    "  shift",
    "  local opt val",
    "  while (($# > 0)); do",
    "    opt=$1",
    '    case "$opt" in',
    ...patternLines(
      all.map((o) => o.flag),
      "      ",
      ") ;;",
    ),
    '      *) bad_arg option "$opt" "not an option of dc-release $ACTION (see the usage at the top of dc-release)" ;;',
    "    esac",
    '    allowed_option "$opt" || bad_arg option "$opt" "not an option of dc-release $ACTION"',
    '    (($# >= 2)) || fail 2 "missing value for $opt"',
    "    val=$2",
    "    shift 2",
  ];
  const lists = releaseOptions()
    .map(([, s]) => s)
    .filter((s) => s.kind === "urlPaths");
  const repeatable = lists.map((s) => `$opt != ${s.flag}`).join(" && ");
  lines.push(
    `    if [[ ${repeatable ? `${repeatable} && ` : ""}-n \${SEEN[$opt]:-} ]]; then bad_arg "$opt" "$val" "given twice; give it once"; fi`,
    '    case "$opt" in',
  );
  for (const o of all) {
    if (o.kind === "urlPaths") {
      lines.push(
        `      ${o.flag})`,
        "        # The first one replaces the default list; '' adds nothing, so that it alone says none.",
        `        [[ -n \${SEEN[$opt]:-} ]] || ${o.variable}=()`,
        `        [[ -z $val ]] || ${o.variable}+=("$val")`,
        "        ;;",
      );
    } else {
      lines.push(`      ${o.flag}) ${o.variable}=$val ;;`);
    }
  }
  lines.push("    esac", "    SEEN[$opt]=1", "  done", "}", "");
  lines.push("# Every option within the table's bounds, then the rules between options.", "validate_options() {");
  for (const [, spec] of releaseOptions()) {
    lines.push(`  ${checkCall(spec)}`);
  }
  for (const rule of CROSS_RULES) {
    const [a, b] = [RELEASE_OPTIONS[rule.field], RELEASE_OPTIONS[rule.atMost]];
    if (a.kind !== "seconds" || b.kind !== "seconds") throw new Error(`${a.flag} <= ${b.flag}: only seconds are compared`);
    lines.push(`  check_at_most ${a.flag} "$${a.variable}" ${b.flag} "$${b.variable}" ${shellQuote(rule.why)}`);
  }
  lines.push("}");
  return lines.join("\n");
}

export const HOST_BLOCKS: Block[] = [
  { begin: `# >>> options: ${SOURCE}`, end: "# <<< options", render: renderUsage },
  { begin: `# >>> option defaults: ${SOURCE}`, end: "# <<< option defaults", render: renderDefaults },
  { begin: `# >>> option code: ${SOURCE}`, end: "# <<< option code", render: renderCode },
];

// ---- Pulumi.yaml -----------------------------------------------------------------------------------

const scalar = (v: unknown) => stringify(v, { lineWidth: 0 }).trimEnd();

/** The declarations of the release options' config keys (type, description, default). */
export function renderDeclarations(): string {
  const lines: string[] = [];
  for (const [field, spec] of releaseOptions()) {
    if (spec.key === null) continue;
    const description = [
      spec.description,
      `${capitalize(allowedText(spec))}; dc-release ${spec.flag}.`,
      ...notes(spec, field, "config"),
    ].join(" ");
    lines.push(`  ${spec.key}:`);
    switch (spec.kind) {
      case "integer":
        lines.push("    type: integer", `    description: ${scalar(description)}`, `    default: ${spec.default}`);
        break;
      case "portPair":
        lines.push("    type: array", "    items:", "      type: integer", `    description: ${scalar(description)}`);
        lines.push(`    default: [${spec.default.join(", ")}]`);
        break;
      case "urlPaths":
        lines.push("    type: array", "    items:", "      type: string", `    description: ${scalar(description)}`);
        lines.push(`    default: [${spec.default.map(scalar).join(", ")}]`);
        break;
      default:
        // Seconds too: Pulumi config has no decimal type, so they are strings such as "0.5".
        lines.push("    type: string", `    description: ${scalar(description)}`, `    default: ${scalar(String(spec.default))}`);
    }
  }
  return lines.join("\n");
}

export const PULUMI_BLOCK: Block = {
  begin: `  # >>> release options: ${SOURCE}`,
  end: "  # <<< release options",
  render: renderDeclarations,
};

// ---- the README's example ---------------------------------------------------------------------------

/** The deploy command line of an env on the config's defaults, as the program builds it, wrapped. */
export function renderExample(schema: ConfigSchema): string {
  const settings = { ...defaultReleaseSettings(), frontUrl: frontUrl(String(schema.nginxListen?.default)) };
  const digest = "sha256:<64 hex>";
  const argv = deployArgv({ env: "dev", image: "ghcr.io/o/deep-calm:v1.2.3", digest }, settings).map((t) =>
    t === digest ? t : shellQuote(t),
  );
  const lines: string[] = [];
  let line = "";
  for (let i = 0; i < argv.length; i++) {
    // An option stays on one line with its value.
    const piece = argv[i]?.startsWith("--") && i + 1 < argv.length ? `${argv[i]} ${argv[++i]}` : (argv[i] as string);
    if (line !== "" && line.length + 1 + piece.length > 98) {
      lines.push(`${line} \\`);
      line = `  ${piece}`;
    } else {
      line = line === "" ? piece : `${line} ${piece}`;
    }
  }
  lines.push(line);
  const script = argv[1];
  // Blank lines around the fence, as prettier keeps markdown.
  return [
    "",
    "```sh",
    ...lines,
    `bash ${script} rollback --env dev [--to v1.2.2] [options]`,
    `bash ${script} status --env dev`,
    "```",
    "",
  ].join("\n");
}

// ---- all of it --------------------------------------------------------------------------------------

/** Each generated file as it should be, from its current text. */
export function generated(read: (file: string) => string = (f) => readFileSync(f, "utf8")): Map<string, string> {
  const host = HOST_BLOCKS.reduce((text, block) => withBlock(text, "host/dc-release", block), read(HOST_SCRIPT));
  const project = withBlock(read(PROJECT_YAML), "Pulumi.yaml", PULUMI_BLOCK);
  const schema = (parse(project) as { config?: ConfigSchema }).config ?? {};
  const example: Block = {
    begin: "<!-- dc-release-argv:begin (npm run gen:host) -->",
    end: "<!-- dc-release-argv:end -->",
    render: () => renderExample(schema),
  };
  const readme = withBlock(withReference(read(README), renderConfigReference(schema)), "README.md", example);
  return new Map([
    [HOST_SCRIPT, host],
    [PROJECT_YAML, project],
    [README, readme],
  ]);
}

if (require.main === module) {
  const check = process.argv.includes("--check");
  let stale = 0;
  for (const [file, text] of generated()) {
    if (readFileSync(file, "utf8") === text) continue;
    stale++;
    if (check) {
      console.error(`${file} is out of date: npm run gen:host`);
    } else {
      writeFileSync(file, text);
      console.log(`wrote ${file}`);
    }
  }
  process.exitCode = check && stale > 0 ? 1 : 0;
}
