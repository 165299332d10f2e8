import * as pulumi from "@pulumi/pulumi";
import { ConfigValueError } from "./errors";

/** Runs a validation and turns its failure into a ResourceError attached to `resource`. */
export function validateFor<T>(resource: pulumi.Resource | undefined, check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof ConfigValueError) {
      // The message says everything; a stack trace would only bury it.
      throw new pulumi.ResourceError(err.message, resource, true);
    }
    throw err;
  }
}
