// Whole-object checks for particular resource types: rules a JSON Schema
// cannot state (a PipelineRun's task graph has no cycles, say). The API layer
// only consults them; which checks exist is decided where the server is put
// together (src/server.ts), so src/api depends on no type's package.
//
// A check runs on every write of an object's spec (create, update, patch),
// together with the schema check, and its causes join the schema's in one
// 422 Invalid. It never runs for status writes. It must be pure and fast: it
// runs inside the store's write transaction.

import type { FieldCause } from "../errors.ts";
import type { LooseObject } from "../wire.ts";

/** Checks a whole object about to be stored (`before`: the stored one it updates; none on create); returns causes, empty when fine. */
export type ObjectCheck = (object: LooseObject, before?: LooseObject) => FieldCause[];

/** Checks by type name (`plural.group`, e.g. `pipelineruns.ci.setpoint.dev`). */
export type TypeValidators = ReadonlyMap<string, ObjectCheck>;
