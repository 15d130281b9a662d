// Declares the PipelineRun type on a server: creates its ResourceType, or
// updates it when its spec differs from this build's (src/pipelines/
// resource-type.ts). Idempotent; safe when several agents start at once.

import { isDeepStrictEqual } from "node:util";
import { ApiError, ConflictError, NotFoundError, type ApiObject, type SetpointClient } from "../../agent.ts";
import { PIPELINE_RUN_RESOURCE_TYPE, PIPELINE_RUN_TYPE_NAME } from "../resource-type.ts";

const RESOURCE_TYPES = { group: "setpoint.dev", version: "v1", plural: "resourcetypes" } as const;

/** What ensurePipelineRunType did. */
export type InstallOutcome = "created" | "updated" | "unchanged";

const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v ?? null));

/** Makes the server's `pipelineruns.ci.setpoint.dev` ResourceType match this build's. */
export async function ensurePipelineRunType(client: SetpointClient, options: { signal?: AbortSignal } = {}): Promise<InstallOutcome> {
  const ref = { ...RESOURCE_TYPES, name: PIPELINE_RUN_TYPE_NAME };
  const wanted = plain(PIPELINE_RUN_RESOURCE_TYPE) as ApiObject;
  for (let attempt = 0; ; attempt++) {
    try {
      const current = await client.get(ref, { signal: options.signal });
      if (isDeepStrictEqual(plain(current.spec), wanted.spec)) return "unchanged";
      await client.update(ref, { ...current, spec: wanted.spec }, { signal: options.signal });
      return "updated";
    } catch (err) {
      if (err instanceof NotFoundError) {
        try {
          await client.create(RESOURCE_TYPES, wanted, { signal: options.signal });
          return "created";
        } catch (createErr) {
          if (!(createErr instanceof ApiError && createErr.reason === "AlreadyExists") || attempt >= 3) throw createErr;
          continue;
        }
      }
      if (!(err instanceof ConflictError) || attempt >= 3) throw err;
    }
  }
}
