import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { EnvLayout } from "./layout";
import { shellJoin } from "./quote";

/**
 * Remembers the env's maintenance mode on the host (`<env>/state/maintenance`) and prints
 * `maintenance <before> -> <after>`, which the maintenance hooks record as a toggle when the two
 * differ. It runs after the site with the mode was uploaded and nginx reloaded.
 */
export function maintenanceStateArgv(layout: EnvLayout, on: boolean): string[] {
  return [
    "sh",
    "-c",
    'before=$(cat "$1" 2>/dev/null || true); [ "$before" = on ] || before=off; printf "%s\\n" "$2" > "$1.tmp" && mv -f "$1.tmp" "$1" && echo "maintenance $before -> $2"',
    "maintenance-state",
    `${layout.stateDir}/maintenance`,
    on ? "on" : "off",
  ];
}

export interface MaintenanceStateArgs {
  connection: pulumi.Input<command.types.input.remote.ConnectionArgs>;
  layout: EnvLayout;
  on: boolean;
  hooks?: pulumi.ResourceHookBinding;
}

/**
 * The `<env>-maintenance` command: its command line changes only when the mode does, so it runs
 * (an update, never a replace) exactly at a toggle, and on a connection change (no toggle then).
 */
export function maintenanceState(name: string, args: MaintenanceStateArgs, opts: pulumi.CustomResourceOptions): command.remote.Command {
  const run = shellJoin(maintenanceStateArgv(args.layout, args.on));
  return new command.remote.Command(
    name,
    { connection: args.connection, create: run, update: run, addPreviousOutputInEnv: false },
    { ...opts, ...(args.hooks ? { hooks: args.hooks } : {}) },
  );
}
