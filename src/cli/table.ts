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
 * A table printed a row at a time (for `watch`): each line is aligned with
 * the ones before; a column widens to the longest cell seen, and when one
 * widens after the header was printed the header is printed again, so the
 * lines that follow line up under it.
 */
export class LineTable {
  readonly #header: readonly string[];
  #widths: number[];
  #headerShown = false;

  constructor(header: readonly string[], firstRows: readonly string[][] = []) {
    this.#header = header;
    this.#widths = header.map((h) => h.length + GAP);
    for (const row of firstRows) this.#fit(row);
  }

  /** Whether a column but the last had to widen for `row`. */
  #fit(row: readonly string[]): boolean {
    let widened = false;
    row.forEach((cell, i) => {
      const need = cell.length + GAP;
      if (need > (this.#widths[i] ?? 0)) {
        if (i < this.#header.length - 1 && this.#widths[i] !== undefined) widened = true;
        this.#widths[i] = need;
      }
    });
    return widened;
  }

  /** The header line, at the current widths. */
  header(): string {
    this.#headerShown = true;
    return this.#render(this.#header);
  }

  /** One line for `row` (no trailing newline); preceded by the header again when a column had to widen. */
  line(row: readonly string[]): string {
    const cells = row.map((c) => c.replace(/\n/g, " "));
    const widened = this.#fit(cells);
    const text = this.#render(cells);
    return widened && this.#headerShown ? `${this.header()}\n${text}` : text;
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
