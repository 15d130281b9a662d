// test/helpers/ports.ts: ports for listeners a test starts on fixed numbers.

import assert from "node:assert/strict";
import { it } from "node:test";
import { freePorts } from "./ports.ts";

it("freePorts gives as many ports as asked, all different, even when the random picks repeat", async (t) => {
  // The first picks all land on one port (as two of twelve independent picks can).
  let calls = 0;
  const random = Math.random;
  t.mock.method(Math, "random", () => (++calls <= 6 ? 0.5 : random()));
  const ports = await freePorts(4);
  assert.equal(ports.length, 4);
  assert.equal(new Set(ports).size, 4, `${ports}`);
  assert.ok(calls > 6, "the repeated picks were tried");
});
