// A first-in first-out list with O(1) push, shift and indexed reads: the
// watch hub's replay window, which drops its oldest event for every new one
// once full. An array's shift() moves every element (V8 cannot trim an array
// of 20,000 events in place: it is in large-object space), which cost the
// server 14 µs per write with the window full, twice that with two workers.
//
// Invariant: the items are `#items[#head..]`; every slot before `#head` is empty.

export class Deque<T> {
  #items: Array<T | undefined> = [];
  #head = 0;

  /** How many items it holds. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** The item at `index` from the oldest (0), or undefined outside 0..length-1. */
  at(index: number): T | undefined {
    return index >= 0 ? this.#items[this.#head + index] : undefined;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  /** Removes and returns the oldest item (undefined when empty). */
  shift(): T | undefined {
    if (this.#head === this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head === this.#items.length) this.clear();
    // Give back the emptied front once it is half the array: one copy per item shifted, at most.
    else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
}
