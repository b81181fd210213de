/**
 * A binary min-heap of scheduled simulator events, ordered by time and then by insertion
 * counter. The counter breaks ties so that two events at the same instant always pop in the
 * order they were scheduled: without it the heap's internal layout would decide, and a run
 * would no longer be a pure function of its seed.
 */
export interface Scheduled<T> {
  readonly timeUs: number;
  readonly order: number;
  readonly item: T;
}

export class EventHeap<T> {
  private readonly items: Scheduled<T>[] = [];
  private counter = 0;

  get size(): number {
    return this.items.length;
  }

  push(timeUs: number, item: T): void {
    const entry: Scheduled<T> = { timeUs, order: this.counter++, item };
    const items = this.items;
    items.push(entry);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(entry, items[parent]!)) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = entry;
  }

  peek(): Scheduled<T> | undefined {
    return this.items[0];
  }

  pop(): Scheduled<T> | undefined {
    const items = this.items;
    const top = items[0];
    if (top === undefined) return undefined;
    const last = items.pop()!;
    if (items.length > 0) {
      let i = 0;
      const n = items.length;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= n) break;
        const right = left + 1;
        const child = right < n && before(items[right]!, items[left]!) ? right : left;
        if (!before(items[child]!, last)) break;
        items[i] = items[child]!;
        i = child;
      }
      items[i] = last;
    }
    return top;
  }
}

function before<T>(x: Scheduled<T>, y: Scheduled<T>): boolean {
  return x.timeUs < y.timeUs || (x.timeUs === y.timeUs && x.order < y.order);
}
