// Writes examples/pipelines/resource-type.yaml from the PipelineRun
// ResourceType in src/pipelines/resource-type.ts (test/pipelines checks that
// they match). Run: node --import tsx scripts/gen-pipeline-type.ts

import { writeFileSync } from "node:fs";
import { stringify } from "yaml";
import { PIPELINE_RUN_RESOURCE_TYPE } from "../src/pipelines/resource-type.ts";

/** The YAML text of the example file, header comment included. */
export function pipelineTypeYaml(): string {
  return (
    "# The PipelineRun resource type. Generated from src/pipelines/resource-type.ts by\n" +
    "# scripts/gen-pipeline-type.ts: edit that file, then run\n" +
    "#   node --import tsx scripts/gen-pipeline-type.ts\n" +
    "# Apply it once per server: setpoint apply -f examples/pipelines/resource-type.yaml\n" +
    stringify(PIPELINE_RUN_RESOURCE_TYPE, { lineWidth: 0, aliasDuplicateObjects: false })
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const path = new URL("../examples/pipelines/resource-type.yaml", import.meta.url);
  writeFileSync(path, pipelineTypeYaml());
  console.log(`wrote ${path.pathname}`);
}
