/**
 * Resource hooks under Pulumi mocks: the SDK's mock monitor (3.276) does not implement hook
 * registration, so a resource with `hooks` never registers. Call this after `setMocks`: hooks are
 * then accepted, and each resource's hook names are recorded by resource name.
 */
import * as pulumi from "@pulumi/pulumi";

export interface HookNames {
  afterCreate: string[];
  afterUpdate: string[];
  onError: string[];
}

interface HookBindingProto {
  getAfterCreateList(): string[];
  getAfterUpdateList(): string[];
  getOnErrorList(): string[];
}

interface MonitorRequest {
  getName(): string;
  getHooks?(): HookBindingProto | undefined;
}

type Callback = (err: Error | null, resp: unknown) => void;

interface PatchableMonitor {
  registerResource(req: MonitorRequest, cb: Callback): void;
  registerResourceHook?: (req: MonitorRequest, cb: Callback) => void;
  registerErrorHook?: (req: MonitorRequest, cb: Callback) => void;
}

export function allowResourceHooks(): { registered: string[]; bindings: Map<string, HookNames> } {
  const monitor = pulumi.runtime.getMonitor() as unknown as PatchableMonitor | undefined;
  if (monitor === undefined) {
    throw new Error("allowResourceHooks: call pulumi.runtime.setMocks first");
  }
  const registered: string[] = [];
  const bindings = new Map<string, HookNames>();
  const accept = (req: MonitorRequest, cb: Callback): void => {
    registered.push(req.getName());
    cb(null, {});
  };
  monitor.registerResourceHook = accept;
  monitor.registerErrorHook = accept;
  const registerResource = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    const hooks = req.getHooks?.();
    if (hooks) {
      bindings.set(req.getName(), {
        afterCreate: hooks.getAfterCreateList(),
        afterUpdate: hooks.getAfterUpdateList(),
        onError: hooks.getOnErrorList(),
      });
    }
    registerResource(req, cb);
  };
  return { registered, bindings };
}
