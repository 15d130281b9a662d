// src/api/go-time.ts: Go's time.Parse(time.RFC3339, …), the texts it takes
// and refuses, in Go's words (read from Go's time/format.go and format_rfc3339.go).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseGoRfc3339 } from "../../src/api/go-time.ts";

const LAYOUT = '"2006-01-02T15:04:05Z07:00"';

describe("parseGoRfc3339", () => {
  it("takes what Go takes, at the same instant", () => {
    for (const [text, iso, nanos] of [
      ["2026-01-01T00:00:00Z", "2026-01-01T00:00:00.000Z", 0],
      ["2024-02-29T23:59:59Z", "2024-02-29T23:59:59.000Z", 0],
      ["2026-01-01T10:00:00+02:00", "2026-01-01T08:00:00.000Z", 0],
      ["2026-01-01T10:00:00-00:30", "2026-01-01T10:30:00.000Z", 0],
      // Lenient where the layout is: a one-digit hour, `,` before the fraction, any number of fraction digits.
      ["2026-01-01T1:02:03Z", "2026-01-01T01:02:03.000Z", 0],
      ["2026-01-01T01:02:03,5Z", "2026-01-01T01:02:03.500Z", 500_000_000],
      ["2026-01-01T01:02:03.123456789123Z", "2026-01-01T01:02:03.123Z", 123_456_789],
      // An offset of up to 24 hours and 60 minutes.
      ["2026-01-02T00:00:00+24:00", "2026-01-01T00:00:00.000Z", 0],
      ["2026-01-01T00:00:00-23:60", "2026-01-02T00:00:00.000Z", 0],
      ["0000-01-01T00:00:00Z", "0000-01-01T00:00:00.000Z", 0],
    ] as const) {
      const t = parseGoRfc3339(text);
      assert.ok(!("error" in t), `${text}: ${JSON.stringify(t)}`);
      assert.equal(new Date(t.ms).toISOString(), iso, text);
      assert.equal(t.nanos, nanos, text);
    }
  });

  it("refuses a field out of range, a day past its month's end included (Date.parse takes February 30)", () => {
    for (const [text, what] of [
      ["2026-13-45T00:00:00Z", "month"],
      ["2026-00-01T00:00:00Z", "month"],
      ["2026-02-29T00:00:00Z", "day"],
      ["2026-02-30T00:00:00Z", "day"],
      ["2026-04-31T00:00:00Z", "day"],
      ["2026-01-00T00:00:00Z", "day"],
      ["2026-01-32T00:00:00Z", "day"],
      ["2026-01-01T24:00:00Z", "hour"],
      ["2026-01-01T23:60:00Z", "minute"],
      ["2026-01-01T23:59:60Z", "second"],
      ["2026-01-01T00:00:00+25:00", "time zone offset hour"],
      ["2026-01-01T00:00:00+00:61", "time zone offset minute"],
      // The hour's range is checked before the day's, which waits for the end.
      ["2026-01-00T25:00:00Z", "hour"],
    ] as const) {
      assert.deepEqual(parseGoRfc3339(text), { error: `parsing time "${text}": ${what} out of range` }, text);
    }
  });

  it("refuses what does not fit the layout, naming the element as Go does", () => {
    for (const [text, rest, elem] of [
      ["tomorrow", "tomorrow", "2006"],
      ["", "", "2006"],
      ["26-01-01T00:00:00Z", "26-01-01T00:00:00Z", "2006"],
      ["2026-1-01T00:00:00Z", "1-01T00:00:00Z", "01"],
      ["2026-01-01", "", "T"],
      ["2026-01-01 00:00:00Z", " 00:00:00Z", "T"],
      ["2026-01-01t00:00:00Z", "t00:00:00Z", "T"],
      ["2026-01-01T00:0:00Z", "0:00Z", "04"],
      ["2026-01-01T00:00:00", "", "Z07:00"],
      ["2026-01-01T00:00:00z", "z", "Z07:00"],
      ["2026-01-01T00:00:00.Z", ".Z", "Z07:00"],
      ["2026-01-01T00:00:00+0200", "+0200", "Z07:00"],
      ["2026-01-01T00:00:00*02:00", "*02:00", "Z07:00"],
    ] as const) {
      assert.deepEqual(
        parseGoRfc3339(text),
        { error: `parsing time ${JSON.stringify(text)} as ${LAYOUT}: cannot parse ${JSON.stringify(rest)} as "${elem}"` },
        text,
      );
    }
    assert.deepEqual(parseGoRfc3339("2026-01-01T00:00:00Zx"), { error: 'parsing time "2026-01-01T00:00:00Zx": extra text: "x"' });
    // Go's quote: bytes of what is not printable ASCII as \x escapes.
    assert.deepEqual(parseGoRfc3339('ü"'), { error: `parsing time "\\xc3\\xbc\\"" as ${LAYOUT}: cannot parse "\\xc3\\xbc\\"" as "2006"` });
  });
});
