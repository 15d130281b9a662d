// kubectl's short rendering of a duration (apimachinery's HumanDuration),
// shared by the CLI's tables, the server's Table responses and the pipeline
// runner's recorded durations.

/**
 * kubectl's short age (apimachinery's HumanDuration): `45s`, `5m30s`, `3h`,
 * `2d4h`, `400d`, `3y20d`; `0s` for less than 2s ahead (clock skew), and
 * `<invalid>` from 2s ahead on, as kube prints a time in the future.
 */
export function humanDuration(ms: number): string {
  if (Math.trunc(ms / 1000) < -1) return "<invalid>";
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
