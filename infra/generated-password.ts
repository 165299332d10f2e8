/**
 * A generated password kept (encrypted) in the stack's state, made by a dynamic provider: the
 * review environments' basic auth. Unlike random.RandomPassword it needs no provider plugin, so a
 * review stack runs wherever the engine and this program run (a runner that has not downloaded
 * plugins, the local target). Letters and digits only, like test's: it goes into a netrc and htpasswd.
 */
import * as pulumi from "@pulumi/pulumi";
import { randomInt } from "node:crypto";

export interface GeneratedPasswordInputs {
  length: number;
}

const provider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: GeneratedPasswordInputs) {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let result = "";
    for (let i = 0; i < inputs.length; i++) result += alphabet[randomInt(alphabet.length)];
    return { id: `generated-${inputs.length}`, outs: { length: inputs.length, result } };
  },
  async diff(_id: string, olds: GeneratedPasswordInputs, news: GeneratedPasswordInputs) {
    return { changes: olds.length !== news.length, replaces: olds.length !== news.length ? ["length"] : [] };
  },
};

export class GeneratedPassword extends pulumi.dynamic.Resource {
  declare public readonly result: pulumi.Output<string>;

  constructor(name: string, args: { length: number }, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      { length: args.length, result: undefined },
      { ...opts, additionalSecretOutputs: ["result"] },
      "deepcalm",
      "GeneratedPassword",
    );
  }
}
