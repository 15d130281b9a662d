// Reads the objects of `-f` arguments: files, directories (their .yaml, .yml
// and .json files, sorted by name) or `-` for standard input. Each source may
// hold several YAML documents (JSON is YAML too); empty documents are skipped
// and a `…List` with `items` stands for its items. Objects keep the order of
// the sources and of the documents within them.

import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments, type YAMLError } from "yaml";
import { CliError } from "./errors.ts";
import type { LooseObject } from "../wire.ts";

/** An object read from a manifest, with where it came from for messages. */
export interface Manifest {
  object: LooseObject;
  /** `file.yaml` or `-`, plus the document number when the source has several: `file.yaml#2`. */
  source: string;
}

const MANIFEST_FILE = /\.(ya?ml|json)$/i;

/**
 * Reads every object of `sources`. `readStdin` is called at most once, for `-`.
 * Throws CliError naming the file and document for unreadable files, YAML
 * syntax errors and documents that are not objects with apiVersion and kind.
 */
export async function readManifests(sources: readonly string[], readStdin: () => Promise<string>): Promise<Manifest[]> {
  const out: Manifest[] = [];
  let stdinUsed = false;
  for (const source of sources) {
    if (source === "-") {
      if (stdinUsed) throw new CliError('"-f -" may be given only once');
      stdinUsed = true;
      out.push(...parseManifests(await readStdin(), "-"));
      continue;
    }
    let files: string[];
    try {
      files = statSync(source).isDirectory()
        ? readdirSync(source)
            .filter((f) => MANIFEST_FILE.test(f))
            .sort()
            .map((f) => join(source, f))
        : [source];
    } catch (error) {
      throw new CliError(`cannot read ${source}: ${readProblem(error)}`, { cause: error });
    }
    for (const file of files) {
      let text: string;
      try {
        text = readFileSync(file, "utf8");
      } catch (error) {
        throw new CliError(`cannot read ${file}: ${readProblem(error)}`, { cause: error });
      }
      out.push(...parseManifests(text, file));
    }
  }
  return out;
}

/** The objects of one source's text. */
export function parseManifests(text: string, source: string): Manifest[] {
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  const out: Manifest[] = [];
  list.forEach((doc, i) => {
    const where = list.length > 1 ? `${source}#${i + 1}` : source;
    if (doc.errors.length > 0) throw new CliError(`${where}: ${yamlProblem(doc.errors[0]!)}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return;
    for (const object of expand(value, where)) out.push({ object, source: where });
  });
  return out;
}

function expand(value: unknown, where: string): LooseObject[] {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new CliError(`${where}: a document must be an object with apiVersion, kind and metadata`);
  }
  const o = value as Record<string, unknown>;
  if (typeof o.kind === "string" && o.kind.endsWith("List") && Array.isArray(o.items)) {
    return o.items.flatMap((item: unknown) => expand(item, where));
  }
  if (typeof o.apiVersion !== "string" || o.apiVersion === "") throw new CliError(`${where}: apiVersion is missing`);
  if (typeof o.kind !== "string" || o.kind === "") throw new CliError(`${where}: kind is missing`);
  if (o.metadata === undefined || o.metadata === null) o.metadata = {};
  if (typeof o.metadata !== "object" || Array.isArray(o.metadata)) throw new CliError(`${where}: metadata must be an object`);
  return [o as LooseObject];
}

/**
 * A YAML syntax error on one line: where, then what. The yaml library's message
 * ends with a multi-line excerpt of the source and a caret, which breaks the
 * CLI's one-line `error: …` shape; the line and column say the same.
 */
function yamlProblem(error: YAMLError): string {
  const what = error.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
  const at = error.linePos?.[0];
  return at === undefined ? `invalid YAML: ${what}` : `invalid YAML at line ${at.line}, column ${at.col}: ${what}`;
}

/** Why a file could not be read, in words (`no such file`, not `ENOENT`). */
function readProblem(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return "no such file or directory";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "EISDIR") return "it is a directory";
  return code ?? (error as Error).message;
}
