// Borderless tables in kubectl's look (cli-table3): a whole table at once, or
// a row at a time for `watch`; the column type every printer uses, and ages
// in kubectl's short format.

import Table from "cli-table3";
import type { ObjectInput } from "../wire.ts";
import { humanDuration } from "../human-duration.ts";

export { humanDuration };

/** One table column: its header and how to get a cell from an object. `now` is ms since the epoch. */
export interface Column {
  header: string;
  cell(o: ObjectInput, now: number): string;
}

const NO_BORDER = {
  top: "", "top-mid": "", "top-left": "", "top-right": "",
  bottom: "", "bottom-mid": "", "bottom-left": "", "bottom-right": "",
  left: "", "left-mid": "", mid: "", "mid-mid": "", right: "", "right-mid": "", middle: "",
};
const GAP = 3;
const STYLE = { head: [], border: [], "padding-left": 0, "padding-right": GAP, compact: true };

/** Rows under a header, columns separated by three spaces, no borders (kubectl's look). */
export function renderTable(header: readonly string[], rows: readonly string[][]): string {
  const table = new Table({ head: [...header], chars: NO_BORDER, style: STYLE });
  for (const row of rows) table.push(row.map((c) => c.replace(/\n/g, " ")));
  return trimLines(table.toString());
}

/**
 * A table printed a row at a time (for `watch`): each line is aligned with
 * the ones before; a column widens when a cell needs it.
 */
export class LineTable {
  #widths: number[];

  constructor(header: readonly string[], firstRows: readonly string[][] = []) {
    this.#widths = header.map((h) => h.length + GAP);
    for (const row of firstRows) this.#fit(row);
  }

  #fit(row: readonly string[]): void {
    row.forEach((cell, i) => (this.#widths[i] = Math.max(this.#widths[i] ?? 0, cell.length + GAP)));
  }

  /** One line for `row` (no trailing newline). */
  line(row: readonly string[]): string {
    const cells = row.map((c) => c.replace(/\n/g, " "));
    this.#fit(cells);
    const table = new Table({ chars: NO_BORDER, style: STYLE, colWidths: this.#widths.slice(0, cells.length) });
    table.push(cells);
    return trimLines(table.toString());
  }
}

const trimLines = (s: string): string => s.split("\n").map((l) => l.trimEnd()).join("\n");

/** Time since an RFC 3339 timestamp, or `<unknown>`. */
export function age(timestamp: string | undefined, now: number): string {
  const t = timestamp === undefined ? NaN : Date.parse(timestamp);
  return Number.isNaN(t) ? "<unknown>" : humanDuration(now - t);
}

export const NAME: Column = { header: "NAME", cell: (o) => o.metadata.name ?? "" };
export const NAMESPACE: Column = { header: "NAMESPACE", cell: (o) => o.metadata.namespace ?? "" };
export const AGE: Column = { header: "AGE", cell: (o, now) => age(o.metadata.creationTimestamp, now) };
