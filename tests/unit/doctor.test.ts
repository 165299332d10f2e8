import { ConfigEntry, DoctorInput, doctorReport, workflowSettings } from "../../scripts/ops/doctor";
import { loadConfigSchema } from "../../stacks/schema";

const schema = loadConfigSchema();
const ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
const PEM = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";

const WORKFLOW = `
jobs:
  deploy:
    environment:
      name: test
    steps:
      - env:
          PULUMI_ACCESS_TOKEN: \${{ secrets.PULUMI_ACCESS_TOKEN }}
          GITHUB_TOKEN: \${{ secrets.GITHUB_TOKEN }}
          USER: \${{ vars.TEST_BASIC_AUTH_USER || 'ops' }}
`;

/** Project keys by their short name; `github:` keys as they are. */
function config(values: Record<string, unknown>, secrets: Record<string, string | undefined> = {}): Record<string, ConfigEntry> {
  const full = (key: string) => (key.includes(":") ? key : `deep-calm-deploy:${key}`);
  return {
    ...Object.fromEntries(Object.entries(values).map(([k, value]) => [full(k), { value, secret: false }])),
    ...Object.fromEntries(
      Object.entries(secrets).map(([k, value]) => [full(k), value === undefined ? { secret: true } : { value, secret: true }]),
    ),
  };
}

function input(overrides: Partial<DoctorInput>): DoctorInput {
  return {
    stack: "test",
    config: {},
    source: "file",
    schema,
    env: { githubToken: false, pulumiAccessToken: false, pulumiLoggedIn: false },
    workflows: { "deploy.yml": WORKFLOW },
    passphraseProvider: false,
    readFile: () => {
      throw Object.assign(new Error("no such file"), { code: "ENOENT" });
    },
    ...overrides,
  };
}

/** Pulumi.test.yaml as the repository holds it. */
const REPO_TEST = config({
  imageTag: "v0.0.0",
  host: "vasiliy-ivanov.ru",
  sshUser: "dc",
  publicUrl: "https://test.dc.vasiliy-ivanov.ru",
  serverName: "test.dc.vasiliy-ivanov.ru",
  nginxListen: "127.0.0.1:8002",
  appPorts: [8201, 8202],
  postgresPort: 5433,
  redisPort: 6380,
  smokePaths: ["/healthz", "/version"],
  telegramChatId: "833478509",
});

const REPO = "<owner>/deep-calm-deploy";

describe("doctor", () => {
  test("the test stack as the repository holds it: everything it lacks, at once, each with its fix", () => {
    const report = doctorReport(input({ config: REPO_TEST }));
    expect(report.lines).toEqual([
      "doctor: stack test (config read from Pulumi.test.yaml, the backend did not answer: secrets could not be checked without `pulumi login`)",
      "config:",
      '  ok           host: "vasiliy-ivanov.ru"',
      "  MISSING      sshHostKey: not set; the server's host key that the connection pins; fix: pulumi config set sshHostKey \"$(ssh-keyscan -t ed25519 vasiliy-ivanov.ru 2>/dev/null | cut -d' ' -f2-)\" -s test",
      "  MISSING      sshPrivateKey: not set; the deploy user's private key; fix: pulumi config set --secret sshPrivateKey -s test < ~/.ssh/deep-calm-deploy",
      "  MISSING      githubReviewerIds: not set; the GitHub user ids who approve deployments (this environment requires approval); fix: pulumi config set --path 'githubReviewerIds[0]' \"$(gh api users/<login> --jq .id)\" -s test",
      "  MISSING      github:owner: not set; the GitHub user or organization that owns the repositories (the program's github provider); fix: pulumi config set github:owner <user or organization> -s test",
      "tokens in this shell:",
      `  MISSING      GITHUB_TOKEN: not set; the program's github provider needs it for \`pulumi preview/up -s test\` (environment, secrets, variables); fix: export GITHUB_TOKEN="$(gh auth token)" (a token that administers ${REPO})`,
      "  MISSING      PULUMI_ACCESS_TOKEN: not set and no `pulumi login`; the stack's state and secrets live in Pulumi Cloud; fix: pulumi login (or export PULUMI_ACCESS_TOKEN=<a token from app.pulumi.com/account/tokens>), then pulumi stack select test (pulumi stack init test if it does not exist)",
      "set in GitHub (doctor cannot see GitHub's secrets from here):",
      `  SET IN GITHUB secret PULUMI_ACCESS_TOKEN (deploy.yml; jobs in environment test): the workflows' login to Pulumi Cloud; check: gh secret list --env test --repo ${REPO}; fix: gh secret set PULUMI_ACCESS_TOKEN --env test --repo ${REPO}`,
      `  SET IN GITHUB variable TEST_BASIC_AUTH_USER (deploy.yml; jobs in environment test): optional (default ops): the basic auth user, basicAuthUser of the stack; check: gh variable list --env test --repo ${REPO}; fix: gh variable set TEST_BASIC_AUTH_USER --env test --repo ${REPO}`,
      "repository settings (not checked: that needs a GitHub token and the network):",
      `  NOT CHECKED  branch protection on main: pull requests required, with the bot that commits desired tags (the GitHub App or github-actions[bot] of the promote/record jobs) allowed to bypass; check: gh api repos/${REPO}/rules/branches/main and gh api repos/${REPO}/rulesets/<id> --jq .bypass_actors`,
      `  NOT CHECKED  environment test requires approval by githubReviewerIds: \`pulumi up -s test\` creates it, so run that before the first workflow run (a job naming a missing environment creates it unprotected); check: gh api repos/${REPO}/environments/test --jq '.protection_rules[] | select(.type == "required_reviewers") | .reviewers[].reviewer.login'`,
      "6 missing or invalid; 4 item(s) not checked from here (above)",
    ]);
    expect(report.problems).toBe(6);
  });

  test("a configured test stack read from the backend: the config and the tokens are ok, exit 0", () => {
    const report = doctorReport(
      input({
        source: "backend",
        config: config(
          {
            ...Object.fromEntries(Object.entries(REPO_TEST).map(([k, e]) => [k, e.value])),
            sshHostKey: ED25519,
            githubReviewerIds: [123],
            "github:owner": "vasiliy-ivanov",
          },
          { sshPrivateKey: PEM },
        ),
        env: { githubToken: true, pulumiAccessToken: false, pulumiLoggedIn: true },
      }),
    );
    expect(report.lines.slice(0, 10)).toEqual([
      "doctor: stack test (config from `pulumi config --json`; secrets checked, shown only as set or unset)",
      "config:",
      '  ok           host: "vasiliy-ivanov.ru"',
      "  ok           sshHostKey: ssh-ed25519 key pinned",
      "  ok           sshPrivateKey: set (secret)",
      "  ok           githubReviewerIds: [123]",
      '  ok           github:owner: "vasiliy-ivanov"',
      "tokens in this shell:",
      "  ok           GITHUB_TOKEN: set",
      "  ok           PULUMI_ACCESS_TOKEN: logged in to the Pulumi backend",
    ]);
    expect(report.lines.at(-1)).toBe("nothing missing that doctor can check; 4 item(s) not checked from here (above)");
    expect(report.problems).toBe(0);
    expect(report.lines.join("\n")).not.toContain("OPENSSH");
  });

  test("invalid values: the program's own messages for every refused key, secrets never shown", () => {
    const report = doctorReport(
      input({
        source: "backend",
        config: config({
          host: "bad host!",
          sshHostKey: "ssh-rsa AAAAB3Nza",
          sshPort: 0,
          imageTag: "v1;rm",
          "github:owner": "vasiliy-ivanov",
          githubReviewerIds: [123],
          sshPrivateKey: PEM,
          deploymentLogDatabaseUrl: "postgres://u:p@h/db",
        }),
        env: { githubToken: true, pulumiAccessToken: true, pulumiLoggedIn: false },
      }),
    );
    expect(report.lines.slice(2, 11)).toEqual([
      '  INVALID      host: "bad host!" is not allowed; use a DNS name or an IP address, e.g. dc.example.com or 203.0.113.7; fix: pulumi config set host <server DNS name or IP> -s test',
      "  INVALID      sshHostKey: \"ssh-rsa AAAAB3Nza\" is not allowed; pin the server's ed25519 or ecdsa key instead (ssh-keyscan -t ed25519,ecdsa HOST): with an ssh-rsa pin the command provider accepts only SHA-1 'ssh-rsa' signatures, which OpenSSH 8.8 and later refuse to make; fix: pulumi config set sshHostKey \"$(ssh-keyscan -t ed25519 <host> 2>/dev/null | cut -d' ' -f2-)\" -s test",
      "  INVALID      sshPrivateKey: [secret] is not allowed; it is stored in plain text: set it again with `pulumi config set --secret sshPrivateKey < key`; fix: pulumi config set --secret sshPrivateKey -s test < ~/.ssh/deep-calm-deploy",
      "  ok           githubReviewerIds: [123]",
      '  ok           github:owner: "vasiliy-ivanov"',
      '  INVALID      sshPort: "0" is not allowed; use a TCP port, an integer from 1 to 65535; fix: pulumi config set sshPort <value> -s test',
      '  INVALID      imageTag: "v1;rm" is not allowed; use sha-<7..40 hex>, vX.Y.Z, X.Y.Z, X.Y, pr-<n>, <branch>-<7 hex> or a branch name (a-z 0-9 . _ -), at most 128 characters; a tag cannot contain ";"; fix: pulumi config set imageTag <value> -s test',
      '  MISSING      publicUrl: "" is not allowed; use an http:// or https:// URL without credentials, e.g. https://dev.dc.example.com; fix: pulumi config set publicUrl <value> -s test',
      "  INVALID      deploymentLogDatabaseUrl: [secret] is not allowed; it is stored in plain text: set it again with `pulumi config set --secret deploymentLogDatabaseUrl`; fix: pulumi config set --secret deploymentLogDatabaseUrl -s test",
    ]);
    expect(report.problems).toBe(7);
    expect(report.lines.join("\n")).not.toContain("postgres://");
  });

  test("bootstrap: true checks the admin key instead of the deploy key (the program generates that one)", () => {
    const base = { ...Object.fromEntries(Object.entries(REPO_TEST).map(([k, e]) => [k, e.value])), sshHostKey: ED25519, bootstrap: true };
    const missing = doctorReport(input({ source: "backend", config: config(base) })).lines;
    expect(missing).toContain(
      '  MISSING      adminSshPrivateKey: "" is not allowed; bootstrap: true connects as the admin (adminSshUser: root, or a user with ' +
        "passwordless sudo): `pulumi config set --secret adminSshPrivateKey < ~/.ssh/admin_key`; fix: pulumi config set --secret " +
        "adminSshPrivateKey -s test < ~/.ssh/admin_key",
    );
    expect(missing.join("\n")).not.toContain("sshPrivateKey: not set");
    const set = doctorReport(input({ source: "backend", config: config(base, { adminSshPrivateKey: PEM }) })).lines;
    expect(set).toContain("  ok           adminSshPrivateKey: set (secret); the deploy key is generated (bootstrap)");
    const both = doctorReport(input({ source: "backend", config: config(base, { adminSshPrivateKey: PEM, sshPrivateKey: PEM }) })).lines;
    expect(both.join("\n")).toContain(
      "INVALID      sshPrivateKey: [secret] is not allowed; with bootstrap: true the program generates the deploy key: `pulumi config rm sshPrivateKey`",
    );
    expect([...missing, ...set, ...both].join("\n")).not.toContain("OPENSSH");
  });

  test("a deploy key encrypted in the stack file is set but unchecked without a login", () => {
    const report = doctorReport(input({ config: { ...REPO_TEST, ...config({}, { sshPrivateKey: undefined }) } }));
    expect(report.lines).toContain("  UNCHECKED    sshPrivateKey: set (secret); its content could not be checked without `pulumi login`");
  });

  test("the local stack: keys from its files, nothing in GitHub", () => {
    const files: Record<string, string> = {
      known_hosts: `[127.0.0.1]:2222 ${ED25519}\n`,
      id_ed25519: PEM,
    };
    const report = doctorReport(
      input({
        stack: "local",
        source: "backend",
        config: config({
          host: "127.0.0.1",
          sshPort: "2222",
          sshKnownHostsFile: "known_hosts",
          sshPrivateKeyPath: "id_ed25519",
          imageTag: "v1",
          publicUrl: "http://127.0.0.1:8080",
          nginxListen: "127.0.0.1:8080",
        }),
        readFile: (path) => files[path] ?? "",
      }),
    );
    expect(report.lines).toEqual([
      "doctor: stack local (config from `pulumi config --json`; secrets checked, shown only as set or unset)",
      "config:",
      '  ok           host: "127.0.0.1"',
      "  ok           sshHostKey: pinned from sshKnownHostsFile known_hosts",
      "  ok           sshPrivateKey: read from sshPrivateKeyPath id_ed25519",
      "GitHub: the local stack has no GitHub environment and no workflow deploys it; nothing to set there",
      "nothing missing that doctor can check; 0 item(s) not checked from here (above)",
    ]);
    expect(report.problems).toBe(0);
  });

  test("workflow secrets and variables, with the environments of the jobs that read them", () => {
    const { secrets, variables } = workflowSettings({ "deploy.yml": WORKFLOW });
    expect([...secrets.keys()]).toEqual(["PULUMI_ACCESS_TOKEN"]);
    expect([...(secrets.get("PULUMI_ACCESS_TOKEN")?.environments ?? [])]).toEqual(["test"]);
    expect([...variables.keys()]).toEqual(["TEST_BASIC_AUTH_USER"]);
  });
});
