// Schema defaults, as kube-apiserver applies a CRD's structural schema
// `default`s (its defaulting algorithm): a property that is missing, or null
// where the schema does not allow null, takes a copy of its schema's
// `default`; then every value is defaulted by its property's schema, an
// array's items by `items`, other keys by an `additionalProperties` schema.
// Pure apart from filling in the value it is given; combinators (`anyOf`,
// `$ref`, …) are not followed, as kube allows no defaults under them.

type Schema = Record<string, unknown>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Whether a schema lets a value be null (JSON Schema `type: "null"`, or OpenAPI's `nullable: true`). */
function allowsNull(s: Schema): boolean {
  return s.nullable === true || s.type === "null" || (Array.isArray(s.type) && s.type.includes("null"));
}

/** A value that takes the schema's default: missing, or null where null is not allowed. */
const takesDefault = (value: unknown, s: Schema): boolean => s.default !== undefined && (value === undefined || (value === null && !allowsNull(s)));

/**
 * Fills in `schema`'s defaults in `value` (objects and arrays are changed in
 * place) and returns it; a missing or null `value` with a root `default`
 * returns a copy of that default.
 * @example
 * o.spec = applyDefaults(type.specSchema, o.spec);
 */
export function applyDefaults(schema: unknown, value: unknown): unknown {
  if (!isObject(schema)) return value;
  const v = takesDefault(value, schema) ? structuredClone(schema.default) : value;
  fill(schema, v);
  return v;
}

function fill(s: Schema, value: unknown): void {
  if (Array.isArray(value)) {
    if (isObject(s.items)) for (const item of value) fill(s.items, item);
    return;
  }
  if (!isObject(value)) return;
  const props = isObject(s.properties) ? s.properties : {};
  for (const [key, prop] of Object.entries(props)) {
    if (isObject(prop) && takesDefault(value[key], prop)) value[key] = structuredClone(prop.default);
  }
  for (const [key, child] of Object.entries(value)) {
    const prop = Object.hasOwn(props, key) ? props[key] : s.additionalProperties;
    if (isObject(prop)) fill(prop, child);
  }
}
