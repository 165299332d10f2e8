/** The recording hooks attached to a release command under Pulumi mocks. */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { recordingHooks } from "../../infra/deployment-log/recording";
import { allowResourceHooks } from "./hook-mocks";

const created: string[] = [];
let hooks: ReturnType<typeof allowResourceHooks>;

beforeAll(async () => {
  await pulumi.runtime.setMocks({
    newResource: (args) => {
      created.push(`${args.type}::${args.name}`);
      return { id: `${args.name}-id`, state: args.inputs };
    },
    call: () => {
      throw new Error("unexpected call");
    },
  });
  hooks = allowResourceHooks();
});

test("the release command carries the named success and error hooks", async () => {
  const release = new command.local.Command(
    "dev-release-deploy",
    { create: "true" },
    {
      hooks: recordingHooks({
        env: "dev",
        databaseUrl: pulumi.secret("postgres://u:p@127.0.0.1:5999/x"),
        telegramBotToken: pulumi.secret("1:x"),
      }),
    },
  );
  await new Promise((resolve) => release.urn.apply(resolve));
  expect(created).toEqual(["command:local:Command::dev-release-deploy"]);
  expect(hooks.registered.sort()).toEqual(["dev-deployment-failure-recorded", "dev-deployment-recorded"]);
  expect(hooks.bindings.get("dev-release-deploy")).toEqual({
    afterCreate: ["dev-deployment-recorded"],
    afterUpdate: ["dev-deployment-recorded"],
    onError: ["dev-deployment-failure-recorded"],
  });
});
