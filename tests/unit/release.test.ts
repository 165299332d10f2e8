import { deployArgv, ReleaseSettings, removeArgv, settingsArgv } from "../../infra/release";
import { execFileSync } from "child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { shellJoin } from "../../infra/quote";

const settings: ReleaseSettings = {
  root: "/opt/deep-calm",
  ports: [8101, 8102],
  healthPath: "/healthz",
  healthRetries: 30,
  healthSuccesses: 2,
  healthIntervalSeconds: 0.5,
  healthTimeoutSeconds: 2,
  drainSeconds: 2,
  warmSeconds: 60,
  bakeSeconds: 10,
  keepReleases: 3,
  migrateCommand: "alembic upgrade head",
  migrateTimeoutSeconds: 300,
  stopTimeoutSeconds: 10,
  frontUrl: "http://127.0.0.1:8080",
  smokePaths: ["/healthz", "/version"],
  authFile: "/opt/deep-calm/test/smoke.netrc",
  lockTimeoutSeconds: 120,
  switchTimeoutSeconds: 10,
  maxReviewEnvs: 10,
};

test("deploy command, exactly: every option, in the option table's order", () => {
  const digest = `sha256:${"a".repeat(64)}`;
  expect(shellJoin(deployArgv({ env: "test", image: "ghcr.io/o/deep-calm:v1.2.3", digest }, settings))).toBe(
    "bash /opt/deep-calm/test/dc-release deploy --env test --image ghcr.io/o/deep-calm:v1.2.3 " +
      `--digest ${digest} --root /opt/deep-calm --ports 8101,8102 --health-path /healthz --health-retries 30 ` +
      "--health-successes 2 --health-interval 0.5 --health-timeout 2 --drain 2 --warm 60 --bake 10 --keep 3 " +
      "--migrate 'alembic upgrade head' --migrate-timeout 300 --stop-timeout 10 --front-url http://127.0.0.1:8080 " +
      "--smoke /healthz --smoke /version --auth-file /opt/deep-calm/test/smoke.netrc --lock-timeout 120 --switch-timeout 10 --max-review-envs 10",
  );
});

test("an empty migration, smoke list or auth file is passed as an empty argument, not dropped (the host's default would apply)", () => {
  const argv = shellJoin(
    deployArgv({ env: "dev", image: "i:t", digest: "d" }, { ...settings, migrateCommand: "", smokePaths: [], authFile: undefined }),
  );
  expect(argv).toContain("--migrate '' --migrate-timeout 300");
  expect(argv).toContain("--smoke '' --auth-file '' --lock-timeout");
});

test("a rollback's options leave out the migration, remove names the env and root", () => {
  // dc-release refuses --migrate on a rollback: the previous release's schema is already there.
  expect(settingsArgv(settings, "rollback")).not.toContain("--migrate");
  expect(settingsArgv(settings, "rollback")).not.toContain("--migrate-timeout");
  expect(settingsArgv(settings, "rollback")).toEqual(
    settingsArgv(settings).filter((t, i, a) => !/^--migrate/.test(t) && !/^--migrate/.test(a[i - 1] ?? "")),
  );
  expect(removeArgv("dev", settings).slice(3)).toEqual([
    "remove-release",
    "/opt/deep-calm/dev/dc-release",
    "remove",
    "--env",
    "dev",
    "--root",
    "/opt/deep-calm",
  ]);
});

describe("remove (what destroy runs), through a real sh", () => {
  const dir = mkdtempSync(join(tmpdir(), "dc-remove-"));
  const fake = { ...settings, root: dir };
  const run = (): string =>
    execFileSync(removeArgv("dev", fake)[0] as string, removeArgv("dev", fake).slice(1), {
      encoding: "utf8",
      env: { ...process.env, PATH: `${join(dir, "bin")}:${process.env.PATH ?? ""}` },
    });
  // A docker stand-in on PATH records its arguments; the real one is never called here.
  mkdirSync(join(dir, "bin"));
  writeFileSync(join(dir, "bin", "docker"), `#!/bin/sh\necho "docker $*" >>"${dir}/docker.calls"\n[ "$1" = ps ] && echo abc123\nexit 0\n`, {
    mode: 0o755,
  });

  test("runs dc-release remove when the env's script is there", () => {
    mkdirSync(join(dir, "dev"));
    writeFileSync(join(dir, "dev", "dc-release"), 'echo "dc-release $*"\n');
    expect(run().trim()).toBe(`dc-release remove --env dev --root ${dir}`);
    rmSync(join(dir, "dev"), { recursive: true });
  });

  test("with the env's directory gone, removes the env's containers by label and succeeds", () => {
    expect(run()).toContain(`${dir}/dev/dc-release is gone: removing what is left of env dev, its containers`);
    expect(readFileSync(join(dir, "docker.calls"), "utf8")).toBe("docker ps -aq --filter label=deep-calm.env=dev\ndocker rm -f abc123\n");
  });
});
