// YAML answers for clients that ask for them (`Accept: application/yaml`), as
// kube-apiserver serves custom resources: the JSON document with its keys
// sorted (kube converts its JSON with sigs.k8s.io/yaml, which sorts them).
// Objects, lists, write answers and errors; watches stay JSON lines.

import { stringify } from "yaml";

export const YAML_TYPE = "application/yaml";

/**
 * Whether an Accept header prefers YAML: `application/yaml` comes before any
 * range JSON satisfies. Costs one substring search for every other header.
 */
export function wantsYaml(accept: string | undefined): boolean {
  if (accept === undefined || !accept.includes("yaml")) return false;
  for (const range of accept.split(",")) {
    const media = range.split(";")[0]!.trim().toLowerCase();
    if (media === YAML_TYPE) return true;
    if (media === "application/json" || media === "*/*" || media === "application/*") return false;
  }
  return false;
}

/** A JSON document as kube's YAML. */
export function asYaml(json: string): string {
  return stringify(JSON.parse(json), { version: "1.1", sortMapEntries: true, lineWidth: 0, indentSeq: false });
}
