import { createServer, IncomingMessage, Server, ServerResponse } from "node:http";
import { AddressInfo } from "node:net";
import { ConfigValueError } from "../../infra/errors";
import { imageReference, RegistryLookupError, registryBaseUrl, resolveRegistryDigest } from "../../infra/image";
import { named, runStack, valueOf } from "./harness";

const DIGEST = `sha256:${"c".repeat(64)}`;

/** A registry stand-in on 127.0.0.1: answers manifest HEADs, optionally behind a bearer challenge. */
function startRegistry(options: { bearer: boolean }): Promise<{ server: Server; port: number; requests: IncomingMessage[] }> {
  const requests: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    requests.push(req);
    const port = (server.address() as AddressInfo).port;
    if (req.url?.startsWith("/token?")) {
      const url = new URL(req.url, "http://x");
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ token: `tok:${url.searchParams.get("scope")}:${url.searchParams.get("service")}` }));
      return;
    }
    if (options.bearer && req.headers.authorization !== "Bearer tok:repository:o/deep-calm:pull:reg") {
      res.writeHead(401, {
        "www-authenticate": `Bearer realm="http://127.0.0.1:${port}/token",service="reg",scope="repository:o/deep-calm:pull"`,
      });
      res.end();
      return;
    }
    if (req.method === "HEAD" && req.url === "/v2/o/deep-calm/manifests/v1") {
      res.writeHead(200, { "docker-content-digest": DIGEST });
      res.end();
      return;
    }
    res.writeHead(404);
    res.end();
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve({ server, port: (server.address() as AddressInfo).port, requests })),
  );
}

describe("resolveRegistryDigest", () => {
  test("reads Docker-Content-Digest, asking for index and manifest types", async () => {
    const { server, port, requests } = await startRegistry({ bearer: false });
    try {
      expect(await resolveRegistryDigest(`127.0.0.1:${port}`, "o/deep-calm", "v1")).toBe(DIGEST);
      expect(requests[0]?.method).toBe("HEAD");
      expect(requests[0]?.headers.accept).toContain("application/vnd.oci.image.index.v1+json");
    } finally {
      server.close();
    }
  });

  test("takes an anonymous pull token when the registry asks (as GHCR does)", async () => {
    const { server, port, requests } = await startRegistry({ bearer: true });
    try {
      expect(await resolveRegistryDigest(`127.0.0.1:${port}`, "o/deep-calm", "v1")).toBe(DIGEST);
      expect(requests.map((r) => r.url?.split("?")[0])).toEqual(["/v2/o/deep-calm/manifests/v1", "/token", "/v2/o/deep-calm/manifests/v1"]);
    } finally {
      server.close();
    }
  });

  test("a tag the registry lacks is refused as imageTag, naming the image and what to do", async () => {
    const { server, port } = await startRegistry({ bearer: false });
    try {
      const error = await resolveRegistryDigest(`127.0.0.1:${port}`, "o/deep-calm", "v9").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigValueError);
      expect((error as Error).message).toBe(
        `imageTag: "v9" is not allowed; use a tag that 127.0.0.1:${port}/o/deep-calm has: the registry has no ` +
          `127.0.0.1:${port}/o/deep-calm:v9 (404); push the image first, or check imageRepository`,
      );
    } finally {
      server.close();
    }
  });
});

/** A registry stand-in that answers every request with `answer` (or never, when it does nothing). */
function answering(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; registry: string }> {
  const server = createServer(answer);
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve({ server, registry: `127.0.0.1:${(server.address() as AddressInfo).port}` })),
  );
}

/** The one-line error a lookup of o/deep-calm:v1 fails with. */
async function lookupError(registry: string, timeoutMs = 2000): Promise<Error> {
  const error = await resolveRegistryDigest(registry, "o/deep-calm", "v1", timeoutMs).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(Error);
  return error as Error;
}

describe("a registry that cannot be asked gives one clear line, never a DOMException or a TypeError", () => {
  test("a registry that does not answer in time", async () => {
    const held: ServerResponse[] = [];
    const { server, registry } = await answering((_req, res) => held.push(res));
    try {
      const error = await lookupError(registry, 300);
      expect(error).toBeInstanceOf(RegistryLookupError);
      expect(error.message).toBe(
        `imageRegistry: "${registry}" did not answer within 0.3 s when asked for ${registry}/o/deep-calm:v1; ` +
          `check that the registry is up and that this machine reaches http://${registry}, or pin the digest with imageDigest`,
      );
    } finally {
      held.forEach((res) => res.destroy());
      server.close();
    }
  });

  test("a port where nothing listens", async () => {
    const { server, registry } = await answering(() => undefined);
    await new Promise((resolve) => server.close(resolve));
    const error = await lookupError(registry);
    expect(error).toBeInstanceOf(RegistryLookupError);
    expect(error.message).toBe(
      `imageRegistry: "${registry}" could not be reached (ECONNREFUSED) when asked for ${registry}/o/deep-calm:v1; ` +
        `check that the registry is up and that this machine reaches http://${registry}, or pin the digest with imageDigest`,
    );
  });

  test("a repository the registry refuses to anonymous pulls", async () => {
    const { server, registry } = await answering((_req, res) => res.writeHead(403).end());
    try {
      const error = await lookupError(registry);
      expect(error).toBeInstanceOf(ConfigValueError);
      expect(error.message).toBe(
        `imageRepository: "o/deep-calm" is not allowed; use a repository that ${registry} lets anyone pull: it refused ` +
          `${registry}/o/deep-calm:v1 (403); check the name, or pin the digest with imageDigest for a private image`,
      );
    } finally {
      server.close();
    }
  });

  test("a server that is not a registry", async () => {
    const { server, registry } = await answering((_req, res) => res.writeHead(200).end());
    try {
      const error = await lookupError(registry);
      expect(error.message).toBe(
        `imageRegistry: "${registry}" answered 200 without a digest when asked for ${registry}/o/deep-calm:v1; ` +
          "check that it is a Docker registry (Registry HTTP API v2) and try again, or pin the digest with imageDigest",
      );
    } finally {
      server.close();
    }
  });

  test("a token service that refuses the anonymous token", async () => {
    const { server, registry } = await answering((req, res) => {
      if (req.url?.startsWith("/token")) {
        res.writeHead(401, { "content-type": "text/html" }).end("<html>no</html>");
        return;
      }
      res.writeHead(401, { "www-authenticate": `Bearer realm="http://${req.headers.host}/token",service="reg"` }).end();
    });
    try {
      const error = await lookupError(registry);
      expect(error.message).toBe(
        `imageRegistry: "${registry}" gave no anonymous pull token for ${registry}/o/deep-calm:v1 (401); ` +
          "check imageRegistry and imageRepository, or pin the digest with imageDigest for a private image",
      );
    } finally {
      server.close();
    }
  });
});

test("references", () => {
  expect(imageReference("ghcr.io", "o/deep-calm", "v1.2.3")).toBe("ghcr.io/o/deep-calm:v1.2.3");
  expect(registryBaseUrl("127.0.0.1:5000")).toBe("http://127.0.0.1:5000");
  expect(registryBaseUrl("ghcr.io")).toBe("https://ghcr.io");
});

test("the local stack pins the digest the registry reports, before the release runs", async () => {
  const { server, port } = await startRegistry({ bearer: false });
  try {
    const run = await runStack("local", {
      config: { imageDigest: "", imageRegistry: `127.0.0.1:${port}`, imageRepository: "o/deep-calm" },
    });
    expect(await valueOf(run.environment.digest)).toBe(DIGEST);
    expect(named(run, "local-release-deploy").inputs.create).toContain(`--image 127.0.0.1:${port}/o/deep-calm:v1 --digest ${DIGEST}`);
    expect(run.calls).toEqual([]);
  } finally {
    server.close();
  }
});
