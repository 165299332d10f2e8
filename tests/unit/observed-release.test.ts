import { observationFrom } from "../../infra/observed-release";
import { STATUS, STATUS_REFUSED, STATUS_REMOVED } from "../fixtures/release-results";

const D1 = (JSON.parse(STATUS) as { current: { digest: string } }).current.digest;
const D2 = `sha256:${"2".repeat(64)}`;
const withStatus = (fields: Record<string, unknown>): string => JSON.stringify({ ...JSON.parse(STATUS), ...fields });

test("in sync when the host serves the deployed digest and it is healthy", () => {
  expect(observationFrom(`progress\n${STATUS}\n`, D1)).toEqual({ servingTag: "v1", servingDigest: D1, healthy: true, inSync: true });
});

test("drift: another release serves, or none, or it is unhealthy", () => {
  expect(observationFrom(STATUS, D2).inSync).toBe(false);
  expect(observationFrom(STATUS_REMOVED, D2)).toEqual({ servingTag: "", servingDigest: "", healthy: false, inSync: false });
  expect(observationFrom(withStatus({ healthy: false }), D1).inSync).toBe(false);
});

test("a status that failed, or does not fit the format, is refused with its reason", () => {
  expect(() => observationFrom(STATUS_REFUSED, D1)).toThrow("dc-release status failed (exit 2): invalid --env 'BAD'");
  expect(() => observationFrom(withStatus({ healthy: "yes" }), D1)).toThrow('healthy: expected true or false, got "yes"');
});
