import { createServer, IncomingMessage, Server } from "node:http";
import { AddressInfo } from "node:net";
import { imageReference, pinnedReference, registryBaseUrl, resolveRegistryDigest } from "../../infra/image";
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

  test("an unknown tag fails with the reference and the status", async () => {
    const { server, port } = await startRegistry({ bearer: false });
    try {
      await expect(resolveRegistryDigest(`127.0.0.1:${port}`, "o/deep-calm", "v9")).rejects.toThrow(
        `cannot resolve 127.0.0.1:${port}/o/deep-calm:v9: the registry answered 404 without a digest`,
      );
    } finally {
      server.close();
    }
  });
});

test("references", () => {
  expect(imageReference("ghcr.io", "o/deep-calm", "v1.2.3")).toBe("ghcr.io/o/deep-calm:v1.2.3");
  expect(pinnedReference("ghcr.io", "o/deep-calm", DIGEST)).toBe(`ghcr.io/o/deep-calm@${DIGEST}`);
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
