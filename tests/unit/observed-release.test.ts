import { observationFrom } from "../../infra/observed-release";

const D1 = `sha256:${"1".repeat(64)}`;
const D2 = `sha256:${"2".repeat(64)}`;

test("in sync when the host serves the deployed digest and it is healthy", () => {
  expect(observationFrom(JSON.stringify({ ok: true, healthy: true, current: { tag: "v2", digest: D2 } }), D2)).toEqual({
    servingTag: "v2",
    servingDigest: D2,
    healthy: true,
    inSync: true,
  });
});

test("drift: another release serves, or none, or it is unhealthy", () => {
  expect(observationFrom(JSON.stringify({ healthy: true, current: { tag: "v1", digest: D1 } }), D2).inSync).toBe(false);
  expect(observationFrom(JSON.stringify({ healthy: false, current: null }), D2)).toEqual({
    servingTag: "",
    servingDigest: "",
    healthy: false,
    inSync: false,
  });
  expect(observationFrom(JSON.stringify({ healthy: false, current: { tag: "v2", digest: D2 } }), D2).inSync).toBe(false);
});
