/** The recording hooks on the program's own release command (stacks/environment.ts → infra/release.ts), under Pulumi mocks. */
import { runStack } from "./harness";

// A mocked stack per test, on a machine that may be busy.
jest.setTimeout(30_000);

test.each(["dev", "local"])(
  "%s: the release command carries the named success and error hooks, the maintenance command its toggle hook; no other resource has any",
  async (stack) => {
    const run = await runStack(stack);
    expect(run.hooks.registered.sort()).toEqual([
      `${stack}-deployment-failure-recorded`,
      `${stack}-deployment-recorded`,
      `${stack}-maintenance-recorded`,
    ]);
    expect([...run.hooks.bindings.keys()].sort()).toEqual([`${stack}-maintenance`, `${stack}-release-deploy`]);
    expect(run.hooks.bindings.get(`${stack}-release-deploy`)).toEqual({
      afterCreate: [`${stack}-deployment-recorded`],
      afterUpdate: [`${stack}-deployment-recorded`],
      onError: [`${stack}-deployment-failure-recorded`],
    });
    expect(run.hooks.bindings.get(`${stack}-maintenance`)).toEqual({
      afterCreate: [`${stack}-maintenance-recorded`],
      afterUpdate: [`${stack}-maintenance-recorded`],
      onError: [],
    });
  },
);
