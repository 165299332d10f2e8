import { loadStackConfig, profileFor } from "../../stacks/config";
import { reviewPortRange, reviewSlot } from "../../stacks/review";
import { envLabel, messageLines } from "../../infra/deployment-log/telegram";
import { expiredStacks, reviewStack } from "../../scripts/ops/review-env";
import { BASE_CONFIG, mapReader, named, runStack } from "./harness";

jest.setTimeout(30_000);

const reviewConfig = (overrides: Record<string, unknown> = {}) => mapReader({ ...BASE_CONFIG["review-42"], ...overrides });

function configError(stack: string, overrides: Record<string, unknown>): string {
  try {
    loadStackConfig(stack, reviewConfig(overrides));
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("config was accepted");
}

describe("the review profile", () => {
  test("review-<n> is env pr-<n>, with basic auth and no GitHub environment; the other stacks keep theirs", () => {
    expect(profileFor("review-42")).toMatchObject({ env: "pr-42", pullRequest: 42, basicAuth: true, github: false, appRepoFiles: false });
    expect(profileFor("org/review-7").env).toBe("pr-7");
    expect(profileFor("dev").env).toBe("dev");
    expect(profileFor("local").pullRequest).toBeUndefined();
  });

  test("other names are refused with what is allowed", () => {
    for (const name of ["review-0", "review-", "review-x", "review-01", "pr-1"]) {
      expect(() => profileFor(name)).toThrow(
        `stack: "${name}" is not allowed; use one of the stacks: dev, test, prod, local, local-k8s, or review-<n>`,
      );
    }
  });
});

describe("ports from reviewPorts", () => {
  test("three ports per slot, slot n modulo the slots: deterministic", () => {
    expect(reviewSlot(42, [9100, 9199])).toEqual({ slot: 9, slots: 33, appPorts: [9127, 9128], frontPort: 9129 });
    expect(reviewSlot(42, [9100, 9199])).toEqual(reviewSlot(42, [9100, 9199]));
    expect(reviewSlot(1, [9100, 9108])).toEqual({ slot: 1, slots: 3, appPorts: [9103, 9104], frontPort: 9105 });
    // Two pull requests on one slot get the same ports; the host refuses the second (tests/host/review-envs.bats).
    expect(reviewSlot(4, [9100, 9108]).appPorts).toEqual(reviewSlot(1, [9100, 9108]).appPorts);
  });

  test("a range that is not [first, last] of at least one slot is refused", () => {
    const allowed = "use [first, last], a range of ports from 1024 to 65535 holding at least 3 ports";
    expect(() => reviewPortRange("reviewPorts", [9100, 9101])).toThrow(`reviewPorts: "[9100,9101]" is not allowed; ${allowed}`);
    expect(() => reviewPortRange("reviewPorts", "9100-9199")).toThrow(`reviewPorts: "9100-9199" is not allowed; ${allowed}`);
    expect(() => reviewPortRange("reviewPorts", [80, 9199])).toThrow("reviewPorts[0]: ");
    expect(configError("review-42", { reviewPorts: [9199, 9100] })).toContain('reviewPorts: "[9199,9100]" is not allowed');
  });
});

describe("a review stack's config: dev's copy, with what is per pull request derived", () => {
  test("the PR's tag, its own ports, listen port and URL; no accessories; dev's host", () => {
    const cfg = loadStackConfig("review-42", reviewConfig());
    expect(cfg.profile.env).toBe("pr-42");
    expect(cfg.image.tag.tag).toBe("pr-42");
    expect(cfg.image.digest).toBeUndefined();
    expect(cfg.image.digestSource).toBe("docker");
    expect(cfg.ssh.host).toBe("dev.dc.example.com");
    expect(cfg.release.ports).toEqual([9127, 9128]);
    expect(cfg.release.frontUrl).toBe("http://127.0.0.1:9129");
    expect(cfg.release.maxReviewEnvs).toBe(10);
    expect(cfg.nginx).toEqual({ listen: "127.0.0.1:9129", serverName: "_" });
    expect(cfg.publicUrl).toBe("http://127.0.0.1:9129");
    expect(cfg.accessories).toBeUndefined();
  });

  test("a bare listen port of dev gives a bare port and the host in the URL; digestSource and the limit are the stack's", () => {
    const cfg = loadStackConfig("review-42", reviewConfig({ nginxListen: "80", digestSource: "registry", reviewMaxEnvs: 3 }));
    expect(cfg.nginx.listen).toBe("9129");
    expect(cfg.publicUrl).toBe("http://dev.dc.example.com:9129");
    expect(cfg.image.digestSource).toBe("registry");
    expect(cfg.release.maxReviewEnvs).toBe(3);
  });

  test("reviewDomain (server_name sites) is refused until it is implemented, with what to do", () => {
    expect(configError("review-42", { reviewDomain: "review.dc.example.com" })).toBe(
      'reviewDomain: "review.dc.example.com" is not allowed; server_name review sites are not implemented yet (dc-release verifies the switch without a Host header); leave it empty for a listen port from reviewPorts',
    );
  });

  test("reviewMaxEnvs out of bounds is refused", () => {
    expect(configError("review-42", { reviewMaxEnvs: 0 })).toContain("reviewMaxEnvs: ");
  });
});

describe("the review stack's resources", () => {
  test("env pr-42: host commands, basic auth, no accessories, no GitHub; the release passes the limit and its ports", async () => {
    const run = await runStack("review-42");
    const names = run.resources.map((r) => r.name);
    expect(names).toContain("pr-42-release-deploy");
    expect(names).toContain("pr-42-basic-auth-password");
    expect(names).toContain("pr-42-project-htpasswd");
    expect(names.filter((n) => /postgres|accessories|compose-file|github|app-repo/.test(n))).toEqual([]);
    const create = String(named(run, "pr-42-release-deploy").inputs.create);
    expect(create).toContain("bash /opt/deep-calm/pr-42/dc-release deploy --env pr-42 --image ghcr.io/vasiliy-ivanov/deep-calm:pr-42 ");
    expect(create).toContain(" --ports 9127,9128 ");
    expect(create).toContain(" --front-url http://127.0.0.1:9129 ");
    expect(create).toContain(" --max-review-envs 10");
    expect(create).toContain(" --auth-file /opt/deep-calm/pr-42/smoke.netrc ");
  });
});

describe("review-env (the command review.yml runs)", () => {
  test("a PR number names its stack; anything else is refused before pulumi runs", () => {
    expect(reviewStack("42")).toBe("review-42");
    for (const bad of ["0", "042", "4 2", "$(id)", "", "12345678"]) {
      expect(() => reviewStack(bad)).toThrow(`pull request number: "${bad}" is not allowed; use a number such as 42`);
    }
  });

  test("expire: review stacks whose last update is older than reviewTtlDays, and none of the others", () => {
    const now = new Date("2026-12-10T00:00:00Z");
    const stacks = [
      { name: "org/deep-calm-deploy/review-1", lastUpdate: "2026-12-01T00:00:00Z" },
      { name: "review-2", lastUpdate: "2026-12-09T00:00:00Z" },
      { name: "review-3" },
      { name: "dev", lastUpdate: "2025-01-01T00:00:00Z" },
      { name: "review-x", lastUpdate: "2025-01-01T00:00:00Z" },
    ];
    expect(expiredStacks(stacks, 7, now)).toEqual(["review-1", "review-3"]);
    expect(expiredStacks(stacks, 10, now)).toEqual(["review-3"]);
  });
});

describe("the deployment log and Telegram name a review env pr-<n>", () => {
  test("the Telegram message says pr-42, as the host and the log do; other envs keep their label", () => {
    const record = { deployId: "x", env: "pr-42", tag: "pr-42", status: "success" as const, deployedAt: "2026-12-02T08:00:00Z" };
    expect(messageLines(record)[0]).toBe("🚀 Deploy to pr-42: success");
    expect(envLabel("dev")).toBe("Dev");
  });

  test("the longest PR number's env fits the log's env column (VARCHAR(10))", () => {
    expect(profileFor("review-9999999").env).toHaveLength(10);
    expect(() => profileFor("review-10000000")).toThrow('stack: "review-10000000" is not allowed');
  });
});

describe("what a review stack never takes from dev", () => {
  test("push-to-deploy and maintenance mode stay dev's", () => {
    const cfg = loadStackConfig("review-42", reviewConfig({ pushToDeploy: true, maintenance: true }));
    expect(cfg.pushToDeploy).toBeUndefined();
    expect(JSON.stringify(cfg.maintenance)).not.toContain("true");
  });

  test("a bootstrap is refused: it would rotate the deploy key dev uses", () => {
    expect(configError("review-42", { bootstrap: true })).toContain(
      "bootstrap: true is not allowed; a review stack runs on dev's prepared host",
    );
  });
});
