import * as pulumi from "@pulumi/pulumi";
import { PushToDeploy, PushToDeployArgs, branchRef, cloudName, githubRepository, triggersFor } from "../../infra/pulumi-deployments";

interface Recorded {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}

function waitForRPCs(): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require("@pulumi/pulumi/runtime/settings") as { waitForRPCs: () => Promise<void> }).waitForRPCs();
}

function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
  return (output as unknown as { promise: () => Promise<T> }).promise();
}

/** Declares one PushToDeploy under mocks that record every resource and throw on any call. */
async function declare(args: PushToDeployArgs): Promise<{ resources: Recorded[]; component: PushToDeploy }> {
  const resources: Recorded[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource(a) {
        resources.push({ type: a.type, name: a.name, inputs: a.inputs as Record<string, unknown> });
        return { id: `${a.name}-id`, state: a.inputs };
      },
      call(a) {
        throw new Error(`unmocked call ${a.token}`);
      },
    },
    "deep-calm-deploy",
    "deployments",
    true,
  );
  const component = new PushToDeploy("dev-push-to-deploy", args);
  await valueOf(component.stackRef);
  await waitForRPCs();
  return { resources, component };
}

const BASE: PushToDeployArgs = { organization: "deep-calm", stack: "dev", repository: "vasiliy-ivanov/deep-calm-deploy" };

describe("PushToDeploy", () => {
  test("declares one DeploymentSettings under the component: push to main deploys dev, PRs preview", async () => {
    const { resources, component } = await declare(BASE);
    expect(resources.map((r) => [r.type, r.name])).toEqual([
      ["deepcalm:deployments:PushToDeploy", "dev-push-to-deploy"],
      ["pulumiservice:index:DeploymentSettings", "dev-push-to-deploy-settings"],
    ]);
    expect(resources[1]?.inputs).toEqual({
      organization: "deep-calm",
      project: "deep-calm-deploy",
      stack: "dev",
      sourceContext: { git: { branch: "refs/heads/main" } },
      vcs: {
        provider: "github",
        repository: "vasiliy-ivanov/deep-calm-deploy",
        deployCommits: true,
        previewPullRequests: true,
        pullRequestTemplate: false,
      },
      cacheOptions: { enable: true },
      operationContext: { options: { skipIntermediateDeployments: true } },
    });
    expect(await valueOf(component.stackRef)).toBe("deep-calm/deep-calm-deploy/dev");
  });

  test("test only previews; branch, paths, repoDir and the project pass through", async () => {
    const { resources } = await declare({
      ...BASE,
      organization: pulumi.output("deep-calm"),
      stack: "test",
      project: "other-project",
      branch: "release/1.x",
      paths: ["infra/**", "stacks/**"],
      repoDir: "deploy",
    });
    const inputs = resources[1]?.inputs ?? {};
    expect([inputs.organization, inputs.project]).toEqual(["deep-calm", "other-project"]);
    expect(inputs.sourceContext).toEqual({ git: { branch: "refs/heads/release/1.x", repoDir: "deploy" } });
    expect(inputs.vcs).toMatchObject({ deployCommits: false, previewPullRequests: true, paths: ["infra/**", "stacks/**"] });
  });

  test("explicit triggers win over the stack's defaults", async () => {
    const { resources } = await declare({ ...BASE, deployCommits: false, previewPullRequests: false });
    expect(resources[1]?.inputs.vcs).toMatchObject({ deployCommits: false, previewPullRequests: false, pullRequestTemplate: false });
  });

  test("a bad repository fails with the key and the value", async () => {
    await expect(declare({ ...BASE, repository: "https://github.com/o/r.git" })).rejects.toThrow(
      'pushToDeployRepository: "https://github.com/o/r.git" is not allowed; use the GitHub repository as owner/repo',
    );
  });
});

describe("pure helpers", () => {
  test("triggersFor: dev deploys commits, everything previews PRs, never a PR template", () => {
    expect(triggersFor("dev")).toEqual({ deployCommits: true, previewPullRequests: true, pullRequestTemplate: false });
    expect(triggersFor("test")).toEqual({ deployCommits: false, previewPullRequests: true, pullRequestTemplate: false });
    expect(triggersFor("prod", { deployCommits: true })).toEqual({
      deployCommits: true,
      previewPullRequests: true,
      pullRequestTemplate: false,
    });
  });

  test("branchRef", () => {
    expect(branchRef("b", "main")).toBe("refs/heads/main");
    expect(branchRef("b", "release/1.x")).toBe("refs/heads/release/1.x");
    for (const bad of ["refs/heads/main", "a..b", "x/", "-", "", "a b", 3]) {
      expect(() => branchRef("b", bad)).toThrow("b: ");
    }
  });

  test("githubRepository and cloudName", () => {
    expect(githubRepository("r", "o/r.js")).toBe("o/r.js");
    for (const bad of ["o", "o/r/x", "o/r.git", "", "o/r;x"]) {
      expect(() => githubRepository("r", bad)).toThrow("r: ");
    }
    expect(cloudName("stack", "dev")).toBe("dev");
    expect(() => cloudName("stack", "o/dev")).toThrow('stack: "o/dev" is not allowed');
  });
});
