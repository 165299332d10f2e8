/**
 * The GitHub Actions workflows, read as data: triggers, least privilege, one deploy per
 * environment at a time, pinned actions, secrets only where an environment guards them, and no
 * expression templated into a shell script. The app-repo snippet in docs/ follows the same rules.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { runStack } from "./harness";

const ROOT = join(__dirname, "..", "..");
const WORKFLOWS_DIR = join(ROOT, ".github", "workflows");
const APP_REPO_SNIPPET = join(ROOT, "docs", "app-repo-notify.yml");
const APP_REPO_REVIEW = join(ROOT, "docs", "app-repo-review.yml");

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
const everyFile = [...workflows, load(APP_REPO_SNIPPET), load(APP_REPO_REVIEW)];

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

/** Jobs that change what an environment runs: `pulumi up`, the rollback command or the review-env command. */
const deploys = (job: Job): boolean =>
  pulumiCommand(job) === "up" ||
  (job.steps ?? []).some((s) => s.run?.includes("npm run rollback") || s.run?.includes("npm run review-env"));

/** Jobs that push to the repository: they mint the GitHub App token. */
const pushes = (job: Job): boolean => (job.steps ?? []).some((s) => s.uses?.startsWith("actions/create-github-app-token@"));

const APP_TOKEN_STEP = {
  id: "app",
  with: {
    "app-id": "${{ vars.DEPLOY_APP_ID }}",
    "private-key": "${{ secrets.DEPLOY_APP_PRIVATE_KEY }}",
    "permission-contents": "write",
  },
};

test("the five workflows are there", () => {
  expect(workflows.map((w) => w.file)).toEqual([
    ".github/workflows/ci.yml",
    ".github/workflows/deploy.yml",
    ".github/workflows/preview.yml",
    ".github/workflows/review.yml",
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

  test("deploy: CI's success on main (dev), tags v* (test), the app repo's image-published event, dispatch with env and tag", () => {
    const deploy = byName("deploy.yml");
    expect(triggers(deploy.on).sort()).toEqual(["push", "repository_dispatch", "workflow_dispatch", "workflow_run"]);
    expect(trigger(deploy, "push")).toEqual({ tags: ["v*"] });
    expect(trigger(deploy, "workflow_run")).toEqual({ workflows: [byName("ci.yml").name], types: ["completed"], branches: ["main"] });
    expect(trigger(deploy, "repository_dispatch")).toEqual({ types: ["image-published"] });
    const inputs = trigger(deploy, "workflow_dispatch").inputs as Record<string, Json>;
    expect(inputs.environment).toMatchObject({ type: "choice", options: ["test", "dev"] });
    expect(inputs.tag).toMatchObject({ type: "string", required: false });
    expect(pulumiCommand(deploy.jobs["deploy-dev"] as Job)).toBe("up");
    expect(pulumiCommand(deploy.jobs["deploy-test"] as Job)).toBe("up");
    expect(deploy.jobs["promote-test"]?.if).toContain("github.event_name == 'push' && github.ref_type == 'tag'");
    expect(deploy.jobs["deploy-dev"]?.if).toContain("github.event.workflow_run.conclusion == 'success'");
    expect(deploy.jobs["deploy-dev"]?.if).toContain("github.event.workflow_run.event == 'push'");
    expect(deploy.jobs["deploy-dev"]?.if).toContain("github.event.workflow_run.head_repository.full_name == github.repository");
  });

  test("deploy: the desired tag is committed before the job that deploys it, which needs that commit", () => {
    const deploy = byName("deploy.yml");
    for (const [promote, deployJob, stack] of [
      ["promote", "deploy-dev", "dev"],
      ["promote-test", "deploy-test", "test"],
    ] as const) {
      const commits = (deploy.jobs[promote]?.steps ?? []).filter((s) => s.run?.includes(`bash scripts/ci/commit-desired-tag.sh ${stack} `));
      expect([promote, commits.length]).toEqual([promote, 1]);
      expect(deploy.jobs[deployJob]?.needs).toBe(promote);
      expect(deploys(deploy.jobs[promote] as Job)).toBe(false);
    }
    expect(Object.keys(deploy.jobs).sort()).toEqual(["deploy-dev", "deploy-test", "promote", "promote-test"]);
  });

  test("deploy: test's tag is validated before the approval gate, in a job outside the test environment", () => {
    const deploy = byName("deploy.yml");
    const promoteTest = deploy.jobs["promote-test"] as Job;
    expect(environmentOf(promoteTest)).toBe("desired-state");
    // commit-desired-tag.sh runs image-tag.ts set, which refuses a bad or moving tag (exit 2).
    expect(promoteTest.steps?.some((s) => s.run?.includes("commit-desired-tag.sh test"))).toBe(true);
    expect(deploy.jobs["deploy-test"]?.needs).toBe("promote-test");
    expect(environmentOf(deploy.jobs["deploy-test"] as Job)).toBe("test");
  });

  test("deploy: the pulumi up message names the tag and the main commit the job deployed", () => {
    const deploy = byName("deploy.yml");
    for (const name of ["deploy-dev", "deploy-test"]) {
      const up = deploy.jobs[name]?.steps?.find((s) => s.uses?.startsWith("pulumi/actions@"));
      expect(up?.with?.message).toContain("${{ steps.desired.outputs.commit }}");
      expect(up?.with?.message).toContain("${{ steps.desired.outputs.tag }}");
      expect(up?.with?.message).not.toContain("github.sha");
    }
  });

  test("deploy: dev's own deploy steps aside when Pulumi Deployments drives dev", () => {
    expect(byName("deploy.yml").jobs["deploy-dev"]?.if).toContain("vars.DEPLOY_DRIVER != 'pulumi-deployments'");
  });

  test("deploy: health and smoke checks against the stack's url output; test with basic auth from the state just written", () => {
    const deploy = byName("deploy.yml");
    for (const [name, paths] of [
      ["deploy-dev", "/healthz"],
      ["deploy-test", "/healthz /version"],
    ] as const) {
      const check = deploy.jobs[name]?.steps?.find((s) => s.run?.includes("post-deploy-check.sh"));
      expect(check?.run?.trim().split("\n").pop()).toBe(`bash scripts/ci/post-deploy-check.sh "$URL" ${paths}`);
      expect(check?.env?.URL).toBe("${{ steps.up.outputs.url }}");
    }
    const testCheck = deploy.jobs["deploy-test"]?.steps?.find((s) => s.run?.includes("post-deploy-check.sh"));
    expect(testCheck?.env?.BASIC_AUTH_PASS).toBeUndefined();
    expect(testCheck?.run).toContain("pulumi stack export -s test --show-secrets | npx tsx scripts/ci/basic-auth-pass.ts test");
    expect(testCheck?.run).toContain('echo "::add-mask::$BASIC_AUTH_PASS"');
    const run = testCheck?.run ?? "";
    expect(run.indexOf("::add-mask::")).toBeLessThan(run.indexOf("post-deploy-check.sh"));
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
    // Compare-and-set: a promotion that landed during the rollback is not overwritten.
    expect(record?.env?.EXPECTED_TAG).toBe("${{ needs.rollback.outputs.from }}");
    expect(run.indexOf('echo "from=')).toBeLessThan(run.indexOf("image-tag.ts unpin"));
  });

  test("preview: skipped for Dependabot's PRs (no secrets, read-only token), with a notice saying why", () => {
    const preview = byName("preview.yml");
    expect(preview.jobs.preview?.if).toContain("github.actor != 'dependabot[bot]'");
    expect(preview.jobs.preview?.if).toContain("github.event.pull_request.user.login != 'dependabot[bot]'");
    const skipped = preview.jobs["preview-skipped"] as Job;
    expect(skipped.if).toBe("github.actor == 'dependabot[bot]' || github.event.pull_request.user.login == 'dependabot[bot]'");
    expect(skipped.steps?.[0]?.run).toMatch(
      /^echo "::notice title=No pulumi preview::Dependabot PRs get no Actions or environment secrets/,
    );
    expect(JSON.stringify(skipped)).not.toMatch(/secrets\./);
  });
});

describe("what deploys, and from where", () => {
  test("every deploying job checks out main as it is when the job starts, never the triggering commit", () => {
    for (const w of workflows) {
      for (const [name, job] of jobs(w).filter(([, j]) => deploys(j))) {
        const checkouts = (job.steps ?? []).filter((s) => s.uses?.startsWith("actions/checkout@"));
        expect([w.file, name, checkouts.map((c) => c.with?.ref)]).toEqual([w.file, name, ["main"]]);
      }
    }
  });

  test("no deploying workflow runs on the bot's own commits", () => {
    const deploy = byName("deploy.yml");
    // Pushes to main reach deploy.yml only through CI's workflow_run; tags only through push.
    expect(trigger(deploy, "push").branches).toBeUndefined();
    const condition = (deploy.jobs["deploy-dev"]?.if ?? "").replace(/\s+/g, " ");
    expect(condition).toContain(
      "!(startsWith(github.event.workflow_run.head_commit.message, 'deploy(') && github.event.workflow_run.head_commit.author.name == 'github-actions[bot]')",
    );
    // The identity and subject that condition looks for are the ones the bot's commits carry.
    const script = readFileSync(join(ROOT, "scripts", "ci", "commit-desired-tag.sh"), "utf8");
    expect(script).toContain('readonly BOT_NAME="github-actions[bot]"');
    expect(script).toContain('-m "deploy($stack): $tag"');
    // Every other workflow that deploys is started by hand only, but review.yml (the app repo's PR events, a schedule).
    const byHand = (x: Loaded) => ![".github/workflows/deploy.yml", ".github/workflows/review.yml"].includes(x.file);
    for (const w of workflows.filter((x) => jobs(x).some(([, j]) => deploys(j)) && byHand(x))) {
      expect([w.file, triggers(w.workflow.on)]).toEqual([w.file, ["workflow_dispatch"]]);
    }
  });

  test("a run by hand deploys only from main: every job a dispatch starts checks github.ref, or needs one that does", () => {
    for (const w of workflows.filter((x) => triggers(x.workflow.on).includes("workflow_dispatch"))) {
      const dispatchOnly = triggers(w.workflow.on).length === 1;
      for (const [name, job] of jobs(w)) {
        const needs = typeof job.needs === "string" ? [job.needs] : (job.needs ?? []);
        if (needs.length > 0 && !(job.if ?? "").includes("workflow_dispatch")) {
          continue;
        }
        if (dispatchOnly || (job.if ?? "").includes("workflow_dispatch")) {
          expect([w.file, name, (job.if ?? "").includes("github.ref == 'refs/heads/main'")]).toEqual([w.file, name, true]);
        }
      }
    }
  });

  test("every pulumi-version is the CLI tools/pulumi builds, and not older than the @pulumi/pulumi SDK", () => {
    const goMod = readFileSync(join(ROOT, "tools", "pulumi", "go.mod"), "utf8");
    const built = /github\.com\/pulumi\/pulumi\/pkg\/v3 v(\d+\.\d+\.\d+)/.exec(goMod)?.[1];
    const sdk = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string> }).dependencies[
      "@pulumi/pulumi"
    ];
    const numbers = (v: string) => v.split(".").map(Number);
    const atLeast = (a: string, b: string) => {
      const [x, y] = [numbers(a), numbers(b)];
      const i = x.findIndex((n, k) => n !== y[k]);
      return i < 0 || (x[i] ?? 0) > (y[i] ?? 0);
    };
    const versions = workflows.flatMap((w) =>
      jobs(w).flatMap(([name, job]) =>
        (job.steps ?? [])
          .filter((s) => s.uses?.startsWith("pulumi/actions@"))
          .map((s) => [w.file, name, String(s.with?.["pulumi-version"])] as const),
      ),
    );
    expect(versions.length).toBe(7);
    for (const [file, name, version] of versions) {
      expect([file, name, version]).toEqual([file, name, built]);
      expect([file, name, atLeast(version, sdk ?? "")]).toEqual([file, name, true]);
    }
  });

  test("no deploying workflow turns off Pulumi's automatic plugin acquisition", () => {
    for (const w of workflows.filter((x) => jobs(x).some(([, j]) => deploys(j) || pulumiCommand(j) !== undefined))) {
      expect([w.file, w.text.includes("PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION")]).toEqual([w.file, false]);
    }
  });

  test("no job reads a secret that the pulumi up of that same job creates (secrets are read when a job starts)", async () => {
    const created = new Set<string>();
    for (const stack of ["dev", "test"]) {
      const run = await runStack(stack);
      for (const r of run.resources.filter((x) => x.type === "github:index/actionsEnvironmentSecret:ActionsEnvironmentSecret")) {
        created.add(String(r.inputs.secretName));
      }
    }
    expect(created).toContain("TEST_BASIC_AUTH_PASS");
    for (const w of workflows) {
      for (const [name, job] of jobs(w).filter(([, j]) => deploys(j))) {
        const read = [...JSON.stringify(job).matchAll(/secrets\.(\w+)/g)].map((m) => m[1] ?? "");
        expect([w.file, name, read.filter((s) => created.has(s))]).toEqual([w.file, name, []]);
      }
    }
  }, 60_000);
});

test("app repo: only images built from main or a tag v* are sent for promotion", () => {
  const snippet = load(APP_REPO_SNIPPET);
  expect(snippet.workflow.jobs.notify?.if).toBe("github.ref == 'refs/heads/main' || startsWith(github.ref, 'refs/tags/v')");
  expect(snippet.text).toContain(
    "#     if: github.event_name == 'push' && (github.ref == 'refs/heads/main' || startsWith(github.ref, 'refs/tags/v'))",
  );
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
    // Pushes to main use the GitHub App's token (it can bypass main's rules); the workflow token never writes code.
    expect(writes.sort()).toEqual(["preview.yml preview pull-requests"]);
  });

  test("jobs that push hold only the App's key, in the desired-state environment, and run no Pulumi program", () => {
    const pushing: string[] = [];
    for (const w of workflows) {
      for (const [name, job] of jobs(w).filter(([, j]) => pushes(j))) {
        pushing.push(`${w.file.replace(".github/workflows/", "")} ${name}`);
        expect([name, environmentOf(job)]).toEqual([name, "desired-state"]);
        expect([name, [...new Set(JSON.stringify(job).match(/secrets\.\w+/g))]]).toEqual([name, ["secrets.DEPLOY_APP_PRIVATE_KEY"]]);
        expect([name, deploys(job), pulumiCommand(job)]).toEqual([name, false, undefined]);
        expect([name, job.steps?.[0]]).toMatchObject([name, APP_TOKEN_STEP]);
        const checkout = job.steps?.find((s) => s.uses?.startsWith("actions/checkout@"));
        expect([name, checkout?.with]).toEqual([name, { ref: "main", token: "${{ steps.app.outputs.token }}" }]);
        expect([name, job.steps?.filter((s) => s.run?.startsWith("npm ")).map((s) => s.run)]).toEqual([name, ["npm ci --ignore-scripts"]]);
      }
    }
    expect(pushing.sort()).toEqual(["deploy.yml promote", "deploy.yml promote-test", "rollback.yml record"]);
  });

  test("checkouts keep no token unless the job pushes", () => {
    for (const w of workflows) {
      for (const [name, job] of jobs(w)) {
        for (const step of job.steps ?? []) {
          if (step.uses?.startsWith("actions/checkout@") && !pushes(job)) {
            expect([w.file, name, step.with?.["persist-credentials"]]).toEqual([w.file, name, false]);
          }
        }
      }
    }
  });
});

describe("environments and concurrency", () => {
  const DEPLOY_ENVS = ["dev", "test", "review", "${{ inputs.environment }}"];

  test("every job that runs pulumi up or the rollback command is in a dev/test environment", () => {
    const deployJobs: string[] = [];
    for (const w of workflows) {
      for (const [name, job] of jobs(w)) {
        if (deploys(job)) {
          deployJobs.push(name);
          expect([name, DEPLOY_ENVS.includes(environmentOf(job) ?? "")]).toEqual([name, true]);
        }
      }
    }
    expect(deployJobs.sort()).toEqual(["deploy-dev", "deploy-test", "review-destroy", "review-expire", "review-up", "rollback"]);
  });

  test("one deploy per environment: group deploy-<env>, never cancelled; rollbacks in a group no deploy can cancel", () => {
    for (const w of workflows) {
      for (const [name, job] of jobs(w)) {
        const env = environmentOf(job);
        if (env === undefined || !DEPLOY_ENVS.includes(env)) {
          continue;
        }
        // A pending rollback would be cancelled by any later deploy in a shared group (one pending job per group).
        // A review env's runs queue per pull request, the nightly expiry in its own group.
        const reviewGroup = name === "review-expire" ? "review-expire" : "review-pr-${{ github.event.client_payload.number }}";
        const expectedGroup =
          env === "review" ? reviewGroup : env.startsWith("${{") ? "rollback-${{ inputs.environment }}" : `deploy-${env}`;
        expect([name, job.concurrency]).toEqual([name, { group: expectedGroup, "cancel-in-progress": false }]);
      }
    }
    const rollbackChoices = (trigger(byName("rollback.yml"), "workflow_dispatch").inputs as Record<string, Json>).environment?.options;
    expect(rollbackChoices).toEqual(["dev", "test"]);
  });

  test("bot commits to one stack file queue in one group, never cancelled", () => {
    const groups = [
      byName("deploy.yml").jobs.promote?.concurrency,
      byName("deploy.yml").jobs["promote-test"]?.concurrency,
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

describe("review environments (review.yml, docs/app-repo-review.yml)", () => {
  const review = byName("review.yml");
  const run = (job: string) =>
    (review.jobs[job]?.steps ?? [])
      .map((s) => s.run ?? "")
      .filter((r) => r !== "")
      .join("\n");

  test("triggers: the app repo's app-pull-request event and a nightly schedule, nothing else", () => {
    expect(triggers(review.on).sort()).toEqual(["repository_dispatch", "schedule"]);
    expect(trigger(review, "repository_dispatch").types).toEqual(["app-pull-request"]);
    expect((review.on as { schedule: { cron: string }[] }).schedule).toHaveLength(1);
  });

  test("a PR event creates or updates the env and comments its URL; closing destroys it; the schedule expires idle envs", () => {
    expect(review.jobs["review-up"]?.if).toBe(
      "github.event_name == 'repository_dispatch' && github.event.client_payload.action != 'closed'",
    );
    expect(review.jobs["review-destroy"]?.if).toBe(
      "github.event_name == 'repository_dispatch' && github.event.client_payload.action == 'closed'",
    );
    expect(review.jobs["review-expire"]?.if).toBe("github.event_name == 'schedule'");
    expect(run("review-up")).toContain('npm run review-env -- up "$PR"');
    expect(run("review-up")).toContain('gh api --method POST "repos/$APP_REPO/issues/$PR/comments"');
    expect(JSON.stringify(review.jobs["review-up"]?.steps)).toContain('"URL":"${{ steps.up.outputs.url }}"');
    expect(run("review-destroy")).toBe('npm ci\nnpm run review-env -- destroy "$PR"');
    expect(run("review-expire")).toBe("npm ci\nnpm run review-env -- expire");
  });

  test("the PR number reaches the script only through env:, and the app repo is a variable, not the payload", () => {
    for (const job of ["review-up", "review-destroy"]) {
      const steps = review.jobs[job]?.steps ?? [];
      expect(steps.filter((s) => s.run?.includes("review-env")).map((s) => s.env?.PR)).toEqual([
        "${{ github.event.client_payload.number }}",
      ]);
    }
    expect(JSON.stringify(review)).not.toContain("client_payload.repository");
  });

  test("the app repo's side: the PR's image as pr-<n>, then the event with number and action; no fork gets secrets", () => {
    const snippet = load(APP_REPO_REVIEW);
    expect(triggers(snippet.workflow.on)).toEqual(["pull_request"]);
    expect((snippet.workflow.on as { pull_request: { types: string[] } }).pull_request.types).toEqual([
      "opened",
      "reopened",
      "synchronize",
      "closed",
    ]);
    expect(snippet.text).toContain("-f event_type=app-pull-request");
    expect(snippet.text).toContain("IMAGE: ghcr.io/${{ github.repository }}:pr-${{ github.event.pull_request.number }}");
    for (const job of Object.values(snippet.workflow.jobs)) {
      expect(job.if).toContain("github.event.pull_request.head.repo.full_name == github.repository");
    }
  });
});
