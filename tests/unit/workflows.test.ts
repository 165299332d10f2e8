/**
 * The GitHub Actions workflows, read as data: triggers, least privilege, one deploy per
 * environment at a time, pinned actions, secrets only where an environment guards them, and no
 * expression templated into a shell script. The app-repo snippet in docs/ follows the same rules.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";

const ROOT = join(__dirname, "..", "..");
const WORKFLOWS_DIR = join(ROOT, ".github", "workflows");
const APP_REPO_SNIPPET = join(ROOT, "docs", "app-repo-notify.yml");

type Json = Record<string, unknown>;

interface Step {
  uses?: string;
  run?: string;
  with?: Json;
  env?: Json;
}

interface Job {
  "runs-on"?: string;
  environment?: string | { name: string; url?: string };
  permissions?: string | Record<string, string>;
  concurrency?: string | { group: string; "cancel-in-progress"?: boolean | string };
  steps?: Step[];
  if?: string;
  needs?: string | string[];
}

interface Workflow {
  name: string;
  on: unknown;
  permissions?: unknown;
  jobs: Record<string, Job>;
}

interface Loaded {
  file: string;
  text: string;
  workflow: Workflow;
}

function load(path: string): Loaded {
  const text = readFileSync(path, "utf8");
  return { file: path.slice(ROOT.length + 1), text, workflow: parse(text) as Workflow };
}

const workflows = readdirSync(WORKFLOWS_DIR)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort()
  .map((f) => load(join(WORKFLOWS_DIR, f)));
const byName = (file: string): Workflow => {
  const found = workflows.find((w) => w.file === `.github/workflows/${file}`);
  if (!found) {
    throw new Error(`no workflow ${file}`);
  }
  return found.workflow;
};
const everyFile = [...workflows, load(APP_REPO_SNIPPET)];

/** Trigger names of an `on:` in any of its three forms. */
function triggers(on: unknown): string[] {
  if (typeof on === "string") {
    return [on];
  }
  if (Array.isArray(on)) {
    return on.map(String);
  }
  return Object.keys(on as Json);
}

function trigger(workflow: Workflow, name: string): Json {
  return ((workflow.on as Json)[name] ?? {}) as Json;
}

function environmentOf(job: Job): string | undefined {
  return typeof job.environment === "string" ? job.environment : job.environment?.name;
}

function jobs(w: Loaded): [string, Job][] {
  return Object.entries(w.workflow.jobs);
}

const pulumiCommand = (job: Job): string | undefined =>
  job.steps?.find((s) => s.uses?.startsWith("pulumi/actions@"))?.with?.command as string | undefined;

test("the four workflows are there", () => {
  expect(workflows.map((w) => w.file)).toEqual([
    ".github/workflows/ci.yml",
    ".github/workflows/deploy.yml",
    ".github/workflows/preview.yml",
    ".github/workflows/rollback.yml",
  ]);
});

describe("triggers", () => {
  test("ci: every push and every pull request", () => {
    const ci = byName("ci.yml");
    expect(triggers(ci.on).sort()).toEqual(["pull_request", "push"]);
    const steps = ci.jobs.checks?.steps?.map((s) => s.run).filter(Boolean);
    expect(steps).toEqual(["npm ci", "npm run lint", "npm run test:unit"]);
  });

  test("preview: pull requests to main; a preview of dev and test, commented on the PR", () => {
    const preview = byName("preview.yml");
    expect(triggers(preview.on)).toEqual(["pull_request"]);
    expect(trigger(preview, "pull_request").branches).toEqual(["main"]);
    const job = preview.jobs.preview as Job & { strategy: { matrix: { stack: string[] } } };
    expect(job.strategy.matrix.stack).toEqual(["dev", "test"]);
    const step = job.steps?.find((s) => s.uses?.startsWith("pulumi/actions@"));
    expect(step?.with).toMatchObject({ command: "preview", "stack-name": "${{ matrix.stack }}", "comment-on-pr": true });
  });

  test("deploy: push to main (dev), tags v* (test), the app repo's image-published event, dispatch with env and tag", () => {
    const deploy = byName("deploy.yml");
    expect(triggers(deploy.on).sort()).toEqual(["push", "repository_dispatch", "workflow_dispatch"]);
    expect(trigger(deploy, "push")).toEqual({ branches: ["main"], tags: ["v*"] });
    expect(trigger(deploy, "repository_dispatch")).toEqual({ types: ["image-published"] });
    const inputs = trigger(deploy, "workflow_dispatch").inputs as Record<string, Json>;
    expect(inputs.environment).toMatchObject({ type: "choice", options: ["test", "dev"] });
    expect(inputs.tag).toMatchObject({ type: "string", required: false });
    expect(pulumiCommand(deploy.jobs["deploy-dev"] as Job)).toBe("up");
    expect(pulumiCommand(deploy.jobs["deploy-test"] as Job)).toBe("up");
    expect(deploy.jobs["deploy-test"]?.if).toContain("github.event_name == 'push' && github.ref_type == 'tag'");
    expect(deploy.jobs["deploy-dev"]?.if).toContain("github.event_name == 'push' && github.ref == 'refs/heads/main'");
  });

  test("deploy: a promotion is committed before dev deploys, from that very commit", () => {
    const deploy = byName("deploy.yml");
    const promote = deploy.jobs.promote as Job;
    expect(promote.steps?.some((s) => s.run?.includes("bash scripts/commit-desired-tag.sh dev "))).toBe(true);
    const dev = deploy.jobs["deploy-dev"] as Job;
    expect(dev.needs).toBe("promote");
    expect(dev.steps?.[0]?.with?.ref).toBe("${{ needs.promote.outputs.commit || github.sha }}");
    expect(deploy.jobs["record-test"]?.needs).toBe("deploy-test");
  });

  test("deploy: dev's own deploy steps aside when Pulumi Deployments drives dev", () => {
    expect(byName("deploy.yml").jobs["deploy-dev"]?.if).toContain("vars.DEPLOY_DRIVER != 'pulumi-deployments'");
  });

  test("deploy: health and smoke checks against the stack's url output; test with basic auth from its secret", () => {
    const deploy = byName("deploy.yml");
    for (const [name, paths] of [
      ["deploy-dev", "/healthz"],
      ["deploy-test", "/healthz /version"],
    ] as const) {
      const check = deploy.jobs[name]?.steps?.find((s) => s.run?.includes("post-deploy-check.sh"));
      expect(check?.run).toBe(`bash scripts/post-deploy-check.sh "$URL" ${paths}`);
      expect(check?.env?.URL).toBe("${{ steps.up.outputs.url }}");
    }
    const testCheck = deploy.jobs["deploy-test"]?.steps?.find((s) => s.run?.includes("post-deploy-check.sh"));
    expect(testCheck?.env?.BASIC_AUTH_PASS).toBe("${{ secrets.TEST_BASIC_AUTH_PASS }}");
  });

  test("rollback: a dispatch with env dev/test and an optional tag, running the rollback command", () => {
    const rollback = byName("rollback.yml");
    expect(triggers(rollback.on)).toEqual(["workflow_dispatch"]);
    const inputs = trigger(rollback, "workflow_dispatch").inputs as Record<string, Json>;
    expect(inputs.environment).toMatchObject({ type: "choice", options: ["dev", "test"], required: true });
    expect(inputs.tag).toMatchObject({ type: "string", required: false });
    const job = rollback.jobs.rollback as Job;
    expect(environmentOf(job)).toBe("${{ inputs.environment }}");
    const run = (job.steps ?? []).map((s) => s.run ?? "").join("\n");
    expect(run).toContain('npm run rollback -- "$ENV_NAME" --to "$TO_TAG"');
    expect(run).toContain('npm run rollback -- "$ENV_NAME"\n');
    expect(run.indexOf('image-tag.ts unpin "$ENV_NAME"')).toBeGreaterThan(-1);
    expect(run.indexOf('image-tag.ts unpin "$ENV_NAME"')).toBeLessThan(run.indexOf("npm run rollback"));
    const record = rollback.jobs.record?.steps?.find((s) => s.run?.includes("commit-desired-tag.sh"));
    expect(record?.env?.TAG).toBe("${{ needs.rollback.outputs.tag }}");
  });
});

describe("permissions", () => {
  test.each(workflows.map((w) => [w.file, w]))("%s: top level is contents: read and nothing else", (_file, w) => {
    expect(w.workflow.permissions).toEqual({ contents: "read" });
  });

  test.each(everyFile.map((w) => [w.file, w]))("%s: no write-all/read-all anywhere", (_file, w) => {
    expect(w.text).not.toMatch(/\b(write|read)-all\b/);
  });

  test("write access only where it is needed, job by job", () => {
    const writes: string[] = [];
    for (const w of workflows) {
      for (const [name, job] of jobs(w)) {
        if (typeof job.permissions === "string") {
          throw new Error(`${w.file} ${name}: permissions must be a map, not ${job.permissions}`);
        }
        for (const [scope, level] of Object.entries(job.permissions ?? {})) {
          expect(["read", "write", "none"]).toContain(level);
          if (level === "write") {
            writes.push(`${w.file.replace(".github/workflows/", "")} ${name} ${scope}`);
          }
        }
      }
    }
    expect(writes.sort()).toEqual([
      "deploy.yml promote contents",
      "deploy.yml record-test contents",
      "preview.yml preview pull-requests",
      "rollback.yml record contents",
    ]);
  });

  test("jobs that can write to the repository hold no secrets and run in no environment", () => {
    for (const w of workflows) {
      for (const [name, job] of jobs(w)) {
        const perms = typeof job.permissions === "object" ? job.permissions : {};
        if (perms.contents === "write") {
          expect([name, environmentOf(job)]).toEqual([name, undefined]);
          expect([name, JSON.stringify(job).match(/secrets\.\w+/g)]).toEqual([name, null]);
        }
      }
    }
  });

  test("checkouts keep no token unless the job pushes", () => {
    for (const w of workflows) {
      for (const [name, job] of jobs(w)) {
        const pushes = typeof job.permissions === "object" && job.permissions.contents === "write";
        for (const step of job.steps ?? []) {
          if (step.uses?.startsWith("actions/checkout@") && !pushes) {
            expect([w.file, name, step.with?.["persist-credentials"]]).toEqual([w.file, name, false]);
          }
        }
      }
    }
  });
});

describe("environments and concurrency", () => {
  const DEPLOY_ENVS = ["dev", "test", "${{ inputs.environment }}"];

  test("every job that runs pulumi up or the rollback command is in a dev/test environment", () => {
    const deployJobs: string[] = [];
    for (const w of workflows) {
      for (const [name, job] of jobs(w)) {
        const rollsBack = job.steps?.some((s) => s.run?.includes("npm run rollback"));
        if (pulumiCommand(job) === "up" || rollsBack) {
          deployJobs.push(name);
          expect([name, DEPLOY_ENVS.includes(environmentOf(job) ?? "")]).toEqual([name, true]);
        }
      }
    }
    expect(deployJobs.sort()).toEqual(["deploy-dev", "deploy-test", "rollback"]);
  });

  test("one deploy per environment: group deploy-<env>, never cancelled, shared with rollbacks", () => {
    for (const w of workflows) {
      for (const [name, job] of jobs(w)) {
        const env = environmentOf(job);
        if (env === undefined || !DEPLOY_ENVS.includes(env)) {
          continue;
        }
        const expectedGroup = env.startsWith("${{") ? "deploy-${{ inputs.environment }}" : `deploy-${env}`;
        expect([name, job.concurrency]).toEqual([name, { group: expectedGroup, "cancel-in-progress": false }]);
      }
    }
    const rollbackChoices = (trigger(byName("rollback.yml"), "workflow_dispatch").inputs as Record<string, Json>).environment?.options;
    expect(rollbackChoices).toEqual(["dev", "test"]);
  });

  test("bot commits to one stack file queue in one group, never cancelled", () => {
    const groups = [
      byName("deploy.yml").jobs.promote?.concurrency,
      byName("deploy.yml").jobs["record-test"]?.concurrency,
      byName("rollback.yml").jobs.record?.concurrency,
    ];
    expect(groups).toEqual([
      { group: "record-dev", "cancel-in-progress": false },
      { group: "record-test", "cancel-in-progress": false },
      { group: "record-${{ inputs.environment }}", "cancel-in-progress": false },
    ]);
  });

  test("the preview runs in its own environment, not in dev or test (no approval for a preview)", () => {
    expect(environmentOf(byName("preview.yml").jobs.preview as Job)).toBe("preview");
  });
});

describe("node", () => {
  test.each(workflows.map((w) => [w.file, w]))(
    "%s: every setup-node takes Node from .nvmrc, after the checkout that brings it",
    (_file, w) => {
      for (const [name, job] of jobs(w)) {
        const steps = job.steps ?? [];
        steps.forEach((step, i) => {
          if (step.uses?.startsWith("actions/setup-node@")) {
            expect([name, step.with?.["node-version-file"], step.with?.["node-version"]]).toEqual([name, ".nvmrc", undefined]);
            expect([name, steps.slice(0, i).some((s) => s.uses?.startsWith("actions/checkout@"))]).toEqual([name, true]);
          }
        });
      }
    },
  );

  test("every job that runs npm sets up Node first", () => {
    for (const w of workflows) {
      for (const [name, job] of jobs(w)) {
        const steps = job.steps ?? [];
        const npm = steps.findIndex((s) => /\bnpm\b|\bnpx\b/.test(s.run ?? ""));
        if (npm >= 0) {
          const setup = steps.findIndex((s) => s.uses?.startsWith("actions/setup-node@"));
          expect([w.file, name, setup >= 0 && setup < npm]).toEqual([w.file, name, true]);
        }
      }
    }
  });
});

describe("actions and secrets", () => {
  test.each(everyFile.map((w) => [w.file, w]))("%s: every action is pinned to a commit with its version beside it", (_file, w) => {
    const lines = w.text.split("\n").filter((l) => /^\s*(-\s+)?uses:/.test(l));
    for (const line of lines) {
      const ref = line.replace(/^\s*(-\s+)?uses:\s*/, "");
      if (ref.startsWith("./")) {
        continue;
      }
      expect(ref).toMatch(/^[A-Za-z0-9-]+\/[A-Za-z0-9._/-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/);
    }
  });

  test("one action, one commit, across every file", () => {
    const pins = new Map<string, Set<string>>();
    for (const w of everyFile) {
      for (const m of w.text.matchAll(/uses:\s*([^@\s]+)@(\S+)/g)) {
        const set = pins.get(m[1] ?? "") ?? new Set<string>();
        set.add(m[2] ?? "");
        pins.set(m[1] ?? "", set);
      }
    }
    for (const [action, shas] of pins) {
      expect([action, shas.size]).toEqual([action, 1]);
    }
  });

  test.each(everyFile.map((w) => [w.file, w]))("%s: secrets only in jobs with an environment (GITHUB_TOKEN aside)", (_file, w) => {
    for (const [name, job] of jobs(w)) {
      const used = [...JSON.stringify(job).matchAll(/secrets\.(\w+)/g)].map((m) => m[1]).filter((s) => s !== "GITHUB_TOKEN");
      if (used.length > 0) {
        expect([name, environmentOf(job) !== undefined]).toEqual([name, true]);
      }
    }
    expect(w.text).not.toMatch(/secrets\s*\[/);
  });

  test.each(everyFile.map((w) => [w.file, w]))("%s: no expression inside a run: script (values come in through env:)", (_file, w) => {
    const templated = jobs(w).flatMap(([name, job]) =>
      (job.steps ?? []).filter((s) => s.run?.includes("${{")).map((s) => `${name}: ${s.run ?? ""}`),
    );
    expect(templated).toEqual([]);
  });
});

test("dependabot keeps npm, the actions and the Go tools module current, weekly", () => {
  const config = parse(readFileSync(join(ROOT, ".github", "dependabot.yml"), "utf8")) as {
    version: number;
    updates: { "package-ecosystem": string; directory: string; schedule: { interval: string } }[];
  };
  expect(config.version).toBe(2);
  expect(config.updates.map((u) => [u["package-ecosystem"], u.directory, u.schedule.interval])).toEqual([
    ["npm", "/", "weekly"],
    ["github-actions", "/", "weekly"],
    ["gomod", "/tools/pulumi", "weekly"],
  ]);
});
