import { stackContext } from "../../scripts/lib/pulumi";

const VAR = "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION";

describe("automatic plugin acquisition", () => {
  test.each(["dev", "test", "prod"])("stays on for %s: the variable is unset unless the caller set it", (stack) => {
    const { env } = stackContext(stack, { PATH: "/usr/bin" });
    expect(VAR in env).toBe(false);
    expect(stackContext(stack, { PATH: "/usr/bin", [VAR]: "true" }).env[VAR]).toBe("true");
    expect(stackContext(stack, { PATH: "/usr/bin", [VAR]: "false" }).env[VAR]).toBe("false");
  });

  test("is off for the local stack, whatever the caller set (this machine cannot download plugins)", () => {
    expect(stackContext("local", { PATH: "/usr/bin" }).env[VAR]).toBe("true");
    expect(stackContext("local", { PATH: "/usr/bin", [VAR]: "false" }).env[VAR]).toBe("true");
  });

  test("defaults to the process environment", () => {
    const saved = process.env[VAR];
    delete process.env[VAR];
    try {
      expect(VAR in stackContext("test").env).toBe(false);
      expect(stackContext("local").env[VAR]).toBe("true");
    } finally {
      if (saved !== undefined) process.env[VAR] = saved;
    }
  });
});
