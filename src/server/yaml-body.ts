// A request body in YAML (`Content-Type: application/yaml`) read into a JSON
// value. Its nesting is measured on the YAML library's concrete syntax tree,
// which is built without recursion, before the value is composed: composing
// recurses once per level, and a body nested a few thousand levels deep
// overflowed the stack, answered as "invalid YAML body: Maximum call stack
// size exceeded". Such a body now gets the same 400 as a JSON one nested too
// deeply, naming the bound (MAX_JSON_DEPTH levels). The value is composed from
// that same tree, as the library's parse() composes its own: the body is
// lexed and parsed once (it was twice, once for the depth and once in parse()).

import { type CST, Composer, type Document, LineCounter, Lexer, Parser, type YAMLError } from "yaml";
import { exactYamlNumbers } from "../api/json-numbers.ts";
import { checkDepth, MAX_JSON_DEPTH, nestedTooDeeply } from "../api/object.ts";
import { BadRequestError } from "../errors.ts";

/** The value of a YAML request body; 400 `BadRequest` for invalid YAML or one nested deeper than MAX_JSON_DEPTH. */
export function parseYamlBody(text: string): unknown {
  const lines = new LineCounter();
  const tokens = syntaxTree(text, lines);
  checkYamlDepth(tokens);
  let value: unknown;
  try {
    value = composeOne(tokens, text, lines);
  } catch (err) {
    throw invalidYaml((err as Error).message);
  }
  checkDepth(value); // before the walk below (aliases can make a cycle)
  return exactYamlNumbers(value);
}

/** 400 for a body that is not YAML, with the first line of the library's reason. */
function invalidYaml(message: string): BadRequestError {
  return new BadRequestError(`invalid YAML body: ${message.split("\n")[0]}`, {
    causes: [{ field: "body", message: "invalid YAML", reason: "FieldValueInvalid" }],
  });
}

/**
 * The value of the one document `tokens` (the syntax tree of `text`) hold,
 * as the library's parse() makes it: a second document, or any error the
 * composer found, is refused with the first error's message and where it is
 * (`at line L, column C`, as parse() tells it). Throws what toJS throws (an
 * alias expanded too often).
 */
function composeOne(tokens: CST.Token[], text: string, lines: LineCounter): unknown {
  // Integers as BigInt, so that one a number cannot hold exactly is refused rather than changed (json-numbers.ts).
  const composer = new Composer({ logLevel: "error", intAsBigInt: true }); // a client's YAML must not print warnings on the server's stderr
  let doc: Document.Parsed | undefined;
  for (const d of composer.compose(tokens, true, text.length)) {
    if (doc === undefined) doc = d;
    else throw new Error(`Source contains multiple documents; please use YAML.parseAllDocuments()${at(d.range[0], lines)}`);
  }
  const error: YAMLError | undefined = doc!.errors[0];
  if (error !== undefined) throw new Error(`${error.message}${error.pos[0] === -1 ? "" : at(error.pos[0], lines)}`);
  return doc!.toJS();
}

/** ` at line L, column C` of offset `pos`, as the library's errors tell where they are. */
function at(pos: number, lines: LineCounter): string {
  const { line, col } = lines.linePos(pos);
  return ` at line ${line}, column ${col}`;
}

/** Collections in the syntax tree: each is one level of the value (a mapping, a sequence, in block or flow style). */
const COLLECTIONS = new Set(["block-map", "block-seq", "flow-collection"]);

/**
 * Refuses YAML whose collections nest deeper than MAX_JSON_DEPTH, counted as
 * checkDepth counts a JSON value (the top collection is level 1); walks the
 * syntax tree with a stack of its own. Syntax errors are left to the parse.
 */
function checkYamlDepth(tree: CST.Token[]): void {
  const nodes: { token: CST.Token | undefined; depth: number }[] = [];
  for (const token of tree) nodes.push({ token, depth: 0 });
  while (nodes.length > 0) {
    const { token, depth } = nodes.pop()!;
    if (token === undefined) continue;
    if (token.type === "document") {
      nodes.push({ token: token.value, depth });
      continue;
    }
    if (!COLLECTIONS.has(token.type)) continue;
    const level = depth + 1;
    if (level > MAX_JSON_DEPTH) throw nestedTooDeeply("body"); // as a JSON body's
    for (const item of (token as CST.BlockMap | CST.BlockSequence | CST.FlowCollection).items) {
      const { key, value } = item as { key?: CST.Token | null; value?: CST.Token };
      if (key) nodes.push({ token: key, depth: level });
      if (value) nodes.push({ token: value, depth: level });
    }
  }
}

/**
 * The body's syntax tree (its top-level tokens), with its line starts in
 * `lines` (for the composer's error positions), refused as soon as the
 * collections the parser has open pass MAX_JSON_DEPTH: each one open is
 * inside the one below it, so the body nests at least that deep. The
 * library's lexer and parser slow down with depth (a flow body 400,000
 * levels deep, 800 KB, took 17 s of the event loop to parse, one of 3 MiB
 * over a minute) and the walk above only ran once the whole tree was built;
 * now such a body is refused after its first few hundred levels.
 */
function syntaxTree(text: string, lines: LineCounter): CST.Token[] {
  const parser = new Parser(lines.addNewLine);
  lines.addNewLine(0); // as Parser.parse() does before its first lexeme
  const tokens: CST.Token[] = [];
  for (const lexeme of new Lexer().lex(text)) {
    for (const token of parser.next(lexeme)) tokens.push(token);
    if (parser.stack.length > MAX_JSON_DEPTH && parser.stack.filter((t) => COLLECTIONS.has(t.type)).length > MAX_JSON_DEPTH) {
      throw nestedTooDeeply("body");
    }
  }
  for (const token of parser.end()) tokens.push(token);
  return tokens;
}
