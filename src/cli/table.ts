// Borderless tables in kubectl's look (cli-table3): a whole table at once, or
// a row at a time for `watch`; the column type every printer uses, and ages
// in kubectl's short format.

import Table from "cli-table3";
import type { ApiObject } from "./client.ts";

/** One table column: its header and how to get a cell from an object. `now` is ms since the epoch. */
export interface Column {
  header: string;
  cell(o: ApiObject, now: number): string;
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

/** kubectl's short age (HumanDuration): `45s`, `5m30s`, `3h`, `2d4h`, `400d`, `3y20d`. */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 0) return "0s";
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (h < 24 * 8) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (d < 365 * 2) return `${d}d`;
  const y = Math.floor(d / 365);
  if (y < 8) return d % 365 === 0 ? `${y}y` : `${y}y${d % 365}d`;
  return `${y}y`;
}

/** Time since an RFC 3339 timestamp, or `<unknown>`. */
export function age(timestamp: string | undefined, now: number): string {
  const t = timestamp === undefined ? NaN : Date.parse(timestamp);
  return Number.isNaN(t) ? "<unknown>" : humanDuration(now - t);
}

export const NAME: Column = { header: "NAME", cell: (o) => o.metadata.name ?? "" };
export const NAMESPACE: Column = { header: "NAMESPACE", cell: (o) => o.metadata.namespace ?? "" };
export const AGE: Column = { header: "AGE", cell: (o, now) => age(o.metadata.creationTimestamp, now) };
