// Borderless tables in kubectl's look: a whole table at once, or a row at a
// time for `watch`; the column type every printer uses, and ages in kubectl's
// short format. One padder serves both: every cell is padded to its column's
// width plus a three-space gap, newlines become spaces, trailing spaces go.

import type { LooseObject } from "../wire.ts";
import { humanDuration } from "../human-duration.ts";

export { humanDuration };

/** One table column: its header and how to get a cell from an object. `now` is ms since the epoch. */
export interface Column {
  header: string;
  cell(o: LooseObject, now: number): string;
}

const GAP = 3;

/** One line: each cell padded to `widths[i]`, newlines flattened, trailing spaces dropped. */
function formatRow(cells: readonly string[], widths: readonly number[]): string {
  return cells
    .map((c, i) => c.replace(/\n/g, " ").padEnd(widths[i] ?? 0))
    .join("")
    .trimEnd();
}

/** Rows under a header, columns separated by three spaces, no borders (kubectl's look). */
export function renderTable(header: readonly string[], rows: readonly string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? "").replace(/\n/g, " ").length)) + GAP);
  return all.map((row) => formatRow(row, widths)).join("\n");
}

/**
 * A table printed a row at a time (for `watch`), as kubectl get -w prints
 * one (cli-runtime's tabwriter with RememberWidths): each line is aligned
 * with the ones before, a column widens to the longest cell seen and stays
 * that wide, and the header is printed once, so a row that widened a column
 * stands out of line with the header above it.
 */
export class LineTable {
  readonly #header: readonly string[];
  #widths: number[];

  constructor(header: readonly string[], firstRows: readonly string[][] = []) {
    this.#header = header;
    this.#widths = header.map((h) => h.length + GAP);
    for (const row of firstRows) this.#fit(row);
  }

  /** Widens the columns `row` needs wider. */
  #fit(row: readonly string[]): void {
    row.forEach((cell, i) => {
      this.#widths[i] = Math.max(this.#widths[i] ?? 0, cell.length + GAP);
    });
  }

  /** The header line, at the current widths. */
  header(): string {
    return this.#render(this.#header);
  }

  /** One line for `row` (no trailing newline), at the widths of every row so far and this one. */
  line(row: readonly string[]): string {
    const cells = row.map((c) => c.replace(/\n/g, " "));
    this.#fit(cells);
    return this.#render(cells);
  }

  #render(cells: readonly string[]): string {
    return formatRow(cells, this.#widths);
  }
}

/**
 * Time since an RFC 3339 timestamp, or `<unknown>`. Measured on this
 * machine's clock against the server's timestamps, so a time ahead is this
 * clock lagging: `0s`, never HumanDuration's `<invalid>` (kubectl shows the
 * server's own ages, from its Table).
 */
export function age(timestamp: string | undefined, now: number): string {
  const t = timestamp === undefined ? NaN : Date.parse(timestamp);
  return Number.isNaN(t) ? "<unknown>" : humanDuration(Math.max(0, now - t));
}

export const NAME: Column = { header: "NAME", cell: (o) => o.metadata.name ?? "" };
export const NAMESPACE: Column = { header: "NAMESPACE", cell: (o) => o.metadata.namespace ?? "" };
export const AGE: Column = { header: "AGE", cell: (o, now) => age(o.metadata.creationTimestamp, now) };
