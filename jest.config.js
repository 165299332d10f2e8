/**
 * Three suites:
 * - unit: no local target and no engine. Programs run under Pulumi mocks (tests/unit/harness.ts);
 *   besides, real processes run on this machine (sh/bash over scripts and host/dc-release pieces,
 *   with stand-in executables; git in temp repos; tsx scripts) and stand-in HTTP servers listen on
 *   127.0.0.1 (a registry, a health endpoint). Nothing leaves the machine.
 * - integration: the real local target (SSH, docker, nginx, Postgres; scripts/dev/local-target.sh up).
 * - e2e: real `pulumi up` with the engine (scripts/dev/install-engine.sh) against the local target.
 */
const base = {
  preset: "ts-jest",
  testEnvironment: "node",
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json" }] },
};

module.exports = {
  projects: [
    { ...base, displayName: "unit", testMatch: ["<rootDir>/tests/unit/**/*.test.ts"] },
    { ...base, displayName: "integration", testMatch: ["<rootDir>/tests/integration/**/*.test.ts"] },
    { ...base, displayName: "e2e", testMatch: ["<rootDir>/tests/e2e/**/*.test.ts"] },
  ],
};
