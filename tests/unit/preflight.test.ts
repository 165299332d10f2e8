import * as pulumi from "@pulumi/pulumi";
import { RegistryLookupError } from "../../infra/image";
import { DigestLookup, dockerDigest, dockerLookupRefusal, preflight, PreflightArgs } from "../../stacks/preflight";
import { BASE_CONFIG, DIGEST_V2, mapReader, SSH_KEY } from "./harness";

const DIGEST = `sha256:${"d".repeat(64)}`;

/** Lookups that record what they were asked and answer `answer`. */
function lookups(answer: DigestLookup = async () => DIGEST): { asked: string[]; registry: DigestLookup; docker: DigestLookup } {
  const asked: string[] = [];
  const record =
    (source: string): DigestLookup =>
    (registry, repository, tag) => {
      asked.push(`${source} ${registry}/${repository}:${tag}`);
      return answer(registry, repository, tag);
    };
  return { asked, registry: record("registry"), docker: record("docker") };
}

function args(stack: string, config: Record<string, unknown> = {}, sshPrivateKey: string | undefined = SSH_KEY): PreflightArgs {
  return {
    stack,
    read: mapReader({ ...BASE_CONFIG[stack], ...config }),
    sshPrivateKey,
    sshPrivateKeyIsSecret: true,
    plainSecrets: [],
  };
}

/** What preflight rejected with: it must be a RunError (the SDK prints it without a stack). */
async function refusal(run: Promise<unknown>): Promise<string> {
  const error = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(pulumi.RunError.isInstance(error)).toBe(true);
  return (error as Error).message;
}

describe("preflight: every refusal before a resource is declared, as a RunError", () => {
  test("the digest is looked up the way the stack's digestSource says, or taken from imageDigest", async () => {
    const found = lookups();
    expect((await preflight(args("local", { imageDigest: "" }), found)).digest).toBe(DIGEST);
    expect((await preflight(args("dev"), found)).digest).toBe(DIGEST);
    expect(found.asked).toEqual(["registry 127.0.0.1:5000/deep-calm:v1", "docker ghcr.io/vasiliy-ivanov/deep-calm:sha-0123abc"]);
    expect((await preflight(args("dev", { imageDigest: DIGEST_V2 }), found)).digest).toBe(DIGEST_V2);
    expect(found.asked).toHaveLength(2);
  });

  test("a bad app secret is refused here too, its value never shown, before any registry is asked", async () => {
    const found = lookups();
    const secret = "sk_live_never_shown";
    const message = await refusal(
      preflight({ ...args("dev"), appSecrets: { raw: JSON.stringify({ PORT: secret }), storedAsSecret: true } }, found),
    );
    expect(message).toContain("appSecrets.PORT: [secret] is not allowed");
    expect(message).not.toContain(secret);
    expect(found.asked).toEqual([]);
  });

  test("a bad tag: the rules and its own hint, and no registry is asked", async () => {
    const found = lookups();
    expect(await refusal(preflight(args("local", { imageTag: "$(id)" }), found))).toBe(
      'imageTag: "$(id)" is not allowed; use sha-<7..40 hex>, vX.Y.Z, X.Y.Z, X.Y, pr-<n>, <branch>-<7 hex> or a branch ' +
        'name (a-z 0-9 . _ -), at most 128 characters; a tag cannot contain "$", "(" or ")"',
    );
    expect(found.asked).toEqual([]);
  });

  test("a bad secret is named, never shown", async () => {
    const secret = "hunter2-not-a-key";
    const message = await refusal(preflight(args("local", {}, secret), lookups()));
    expect(message).toBe(
      "sshPrivateKey: [secret] is not allowed; use a PEM/OpenSSH private key: `pulumi config set --secret sshPrivateKey " +
        "< ~/.ssh/deploy_key`, or name its file in sshPrivateKeyPath; it has no -----BEGIN ... PRIVATE KEY----- line",
    );
    expect(message).not.toContain(secret);
  });

  test("a value the .env file refuses is refused here, not inside an apply", async () => {
    const message = await refusal(preflight(args("local", { appEnvironment: ["GREETING=$(id)"] }), lookups()));
    expect(message).toMatch(/^appEnvironment\.GREETING: .* is not allowed; values cannot contain newlines, quotes, \$/);
  });

  test("a registry miss and an unreachable registry keep their one-line message", async () => {
    const missing = lookups(() => Promise.reject(new RegistryLookupError('imageRegistry: "127.0.0.1:5999" could not be reached')));
    expect(await refusal(preflight(args("local", { imageDigest: "" }), missing))).toBe(
      'imageRegistry: "127.0.0.1:5999" could not be reached',
    );
  });

  test("anything else is a bug and keeps its stack trace", async () => {
    const bug = new TypeError("x is undefined");
    await expect(
      preflight(
        args("local", { imageDigest: "" }),
        lookups(() => Promise.reject(bug)),
      ),
    ).rejects.toBe(bug);
  });
});

describe("dockerDigest (dev, test, prod): the provider's failure as a refusal of the tag", () => {
  beforeAll(() =>
    pulumi.runtime.setMocks(
      {
        newResource: (a) => ({ id: a.name, state: a.inputs }),
        call(a) {
          if (a.inputs.name === "ghcr.io/o/deep-calm:v1") {
            return { ...a.inputs, sha256Digest: DIGEST };
          }
          throw new Error(`Error reading registry image: manifest unknown\n  at somewhere`);
        },
      },
      "deep-calm-deploy",
      "dev",
      true,
    ),
  );

  test("a tag the registry has gives its digest", async () => {
    expect(await dockerDigest("ghcr.io", "o/deep-calm", "v1")).toBe(DIGEST);
  });

  test("a tag it lacks is refused as imageTag", async () => {
    await expect(dockerDigest("ghcr.io", "o/deep-calm", "v9")).rejects.toThrow(
      'imageTag: "v9" is not allowed; use a tag that ghcr.io/o/deep-calm has: the docker provider could not read ' +
        "ghcr.io/o/deep-calm:v9; push the image first, check imageRegistry and imageRepository, or pin the digest with imageDigest",
    );
  });

  test("the provider's reason is kept, its first line only", () => {
    const failed = new Error("Invoke of 'docker:index/getRegistryImage:getRegistryImage' failed: manifest unknown (name)\n  at x");
    expect(dockerLookupRefusal("ghcr.io", "o/deep-calm", "v9", failed).message).toBe(
      'imageTag: "v9" is not allowed; use a tag that ghcr.io/o/deep-calm has: the docker provider could not read ' +
        "ghcr.io/o/deep-calm:v9 (Invoke of 'docker:index/getRegistryImage:getRegistryImage' failed: manifest unknown (name)); " +
        "push the image first, check imageRegistry and imageRepository, or pin the digest with imageDigest",
    );
  });
});
