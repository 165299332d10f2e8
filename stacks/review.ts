/**
 * Review environments (README: Review environments): stack `review-<n>` is pull request n of the
 * app repo, env `pr-<n>` on dev's host. Its config is dev's (`pulumi config cp -s dev -d review-<n>`)
 * and this module derives what must differ per pull request, so a copied value never leaks in:
 * the image tag, the port pair, the nginx front and the URL.
 */
import { ConfigValueError, showValue } from "../infra/errors";
import * as v from "../infra/validate";
import type { ConfigReader } from "./config";

/** Ports of one review slot: the blue/green pair and the nginx front port. */
export interface ReviewSlot {
  slot: number;
  slots: number;
  appPorts: [number, number];
  frontPort: number;
}

/** Each slot of `reviewPorts` takes three ports: two for the releases, one for nginx. */
export const PORTS_PER_SLOT = 3;

/** `reviewPorts`: [first, last], an inclusive range of at least one slot. */
export function reviewPortRange(key: string, value: unknown): [number, number] {
  const allowed = `use [first, last], a range of ports from 1024 to 65535 holding at least ${PORTS_PER_SLOT} ports (one slot: two release ports and an nginx port), e.g. [9100, 9199]`;
  if (!Array.isArray(value) || value.length !== 2) {
    throw new ConfigValueError(key, showValue(value, false), allowed);
  }
  const [first, last] = value.map((p, i) => v.integerIn(`${key}[${i}]`, p, 1024, 65535)) as [number, number];
  if (last - first + 1 < PORTS_PER_SLOT) {
    throw new ConfigValueError(key, showValue(value, false), allowed);
  }
  return [first, last];
}

/**
 * The slot of pull request n: n modulo the number of slots, so the same PR always gets the same
 * ports. Two PRs that share a slot collide: dc-release refuses the second, naming the env that
 * holds the ports (README: Review environments).
 */
export function reviewSlot(pullRequest: number, range: [number, number]): ReviewSlot {
  const slots = Math.floor((range[1] - range[0] + 1) / PORTS_PER_SLOT);
  const slot = pullRequest % slots;
  const base = range[0] + slot * PORTS_PER_SLOT;
  return { slot, slots, appPorts: [base, base + 1], frontPort: base + 2 };
}

/** The address part of an nginx listen value ("" for a bare port). */
function listenAddress(listen: string): string {
  const [address] = listen.split(" ");
  return address?.includes(":") ? address.slice(0, address.lastIndexOf(":")) : "";
}

/**
 * Reads a review stack's config: dev's copied values with the per-PR keys derived. Keys the review
 * stack must not take from dev are replaced here, whatever the copy holds.
 */
export function reviewReader(pullRequest: number, read: ConfigReader): ConfigReader {
  const domain = read("reviewDomain") ?? "";
  if (domain !== "") {
    throw new ConfigValueError(
      "reviewDomain",
      showValue(domain, false),
      "server_name review sites are not implemented yet (dc-release verifies the switch without a Host header); leave it empty for a listen port from reviewPorts",
    );
  }
  if (read("bootstrap") === true) {
    throw new ConfigValueError(
      "bootstrap",
      "true",
      "a review stack runs on dev's prepared host with dev's deploy key and never bootstraps it (a bootstrap would rotate the deploy key dev uses): set bootstrap false and sshPrivateKey to dev's deploy key",
    );
  }
  const { appPorts, frontPort } = reviewSlot(pullRequest, reviewPortRange("reviewPorts", read("reviewPorts")));
  const devListen = String(read("nginxListen") ?? "80");
  const address = listenAddress(devListen);
  const urlHost = address !== "" && address !== "0.0.0.0" ? address : String(read("host") ?? "");
  const derived: Record<string, unknown> = {
    imageTag: `pr-${pullRequest}`,
    // dev's pinned digest is another image's: the review image's is resolved from the registry.
    imageDigest: "",
    appPorts,
    nginxListen: address === "" ? String(frontPort) : `${address}:${frontPort}`,
    serverName: "_",
    publicUrl: `http://${urlHost}:${frontPort}`,
    // No accessories of its own: a PR's migrations must not touch dev's data, and a Postgres per PR
    // would not fit the host. The app gets no DATABASE_URL unless appEnvironment gives one.
    accessories: false,
    // Dev's push-to-deploy and maintenance mode are dev's own, not its pull requests'.
    pushToDeploy: false,
    maintenance: false,
  };
  return (key) => (key in derived ? derived[key] : read(key));
}
