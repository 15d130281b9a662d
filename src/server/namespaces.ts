// Namespaces are implicit in Setpoint: any valid DNS-1123 label names one,
// which exists as soon as an object names it (there is no Namespace type to
// create first). `GET /api/v1/namespaces/NAME` says so in kube's shape, because
// kubectl asks it after a NotFound outside `default` (cli-runtime's Info.Get)
// and prints a NotFound from it in place of the object's own.

import { validateNamespace } from "../api/validation.ts";
import { NotFoundError } from "../errors.ts";

/** The core/v1 Namespace `name` as kube-apiserver serves an active one; NotFound for a name no namespace can have. */
export function implicitNamespace(name: string): unknown {
  if (validateNamespace(name, "metadata.name").length > 0) {
    throw new NotFoundError(`namespaces "${name}" not found`, { subject: { kind: "namespaces", name } });
  }
  return {
    kind: "Namespace",
    apiVersion: "v1",
    metadata: { name, labels: { "kubernetes.io/metadata.name": name } },
    spec: { finalizers: ["kubernetes"] },
    status: { phase: "Active" },
  };
}
