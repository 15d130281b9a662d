// How much of a task's output a PipelineRun's status keeps, and how a reader
// shows what is kept. The runner keeps the last OUTPUT_TAIL_MAX characters of
// the current attempt's stdout and stderr (PREVIOUS_OUTPUT_MAX of an earlier
// attempt's), cut wherever the bound falls, and records in `outputDropped` how
// many characters it let go, so a cut tail begins inside a line. Readers
// (`setpoint logs`, the console) drop that fragment and say that earlier
// output was not kept. No imports: the console bundles this file for the browser.

/** The most characters of a task's output kept in `status.tasks[name].output`. */
export const OUTPUT_TAIL_MAX = 8192;

/** The most characters of an earlier attempt's output kept in `previousAttempts[].output`. */
export const PREVIOUS_OUTPUT_MAX = 2048;

/**
 * `output` as a reader shows it. It is `cut` when the runner let characters
 * go before it (`outputDropped` above 0); then its first line, a fragment, is
 * dropped (unless it is all there is). A status written before the runner
 * recorded `outputDropped` (not a number here) says only that the tail held
 * at most `max` characters: one that filled them (a character less when the
 * cut fell inside a surrogate pair) is taken as cut. Output of exactly that
 * length that was never cut looks the same there; `outputDropped` tells them apart.
 */
export function wholeLines(output: string, max: number, outputDropped?: unknown): { output: string; cut: boolean } {
  const cut = typeof outputDropped === "number" ? outputDropped > 0 : output.length >= max - 1;
  if (!cut) return { output, cut: false };
  const nl = output.indexOf("\n");
  return { output: nl >= 0 && nl < output.length - 1 ? output.slice(nl + 1) : output, cut: true };
}
