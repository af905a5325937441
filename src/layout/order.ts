/** A binary min-heap of ids keyed by a number. */
class MinHeap {
  private keys: number[] = [];
  private ids: string[] = [];

  get size(): number {
    return this.ids.length;
  }

  push(id: string, key: number): void {
    let i = this.ids.length;
    this.ids.push(id);
    this.keys.push(key);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.keys[parent] <= key) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): string {
    const top = this.ids[0];
    const lastId = this.ids.pop()!;
    const lastKey = this.keys.pop()!;
    if (this.ids.length > 0) {
      this.ids[0] = lastId;
      this.keys[0] = lastKey;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.keys.length && this.keys[l] < this.keys[m]) m = l;
        if (r < this.keys.length && this.keys[r] < this.keys[m]) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }

  private swap(a: number, b: number): void {
    [this.keys[a], this.keys[b]] = [this.keys[b], this.keys[a]];
    [this.ids[a], this.ids[b]] = [this.ids[b], this.ids[a]];
  }
}

/**
 * A topological order that stays as close as possible to the given priorities (the model's node
 * order): among the nodes whose predecessors are placed, the one with the lowest priority comes next.
 * Nodes on a cycle (invalid models) follow at the end in priority order.
 */
export function topologicalOrder(
  priorities: ReadonlyMap<string, number>,
  edges: readonly { source: string; target: string }[],
): string[] {
  const indegree = new Map<string, number>();
  const successors = new Map<string, string[]>();
  for (const id of priorities.keys()) indegree.set(id, 0);
  for (const e of edges) {
    if (!indegree.has(e.source) || !indegree.has(e.target) || e.source === e.target) continue;
    indegree.set(e.target, indegree.get(e.target)! + 1);
    let list = successors.get(e.source);
    if (!list) successors.set(e.source, (list = []));
    list.push(e.target);
  }
  const ready = new MinHeap();
  for (const [id, d] of indegree) if (d === 0) ready.push(id, priorities.get(id)!);
  const order: string[] = [];
  while (ready.size > 0) {
    const id = ready.pop();
    order.push(id);
    for (const next of successors.get(id) ?? []) {
      const d = indegree.get(next)! - 1;
      indegree.set(next, d);
      if (d === 0) ready.push(next, priorities.get(next)!);
    }
  }
  if (order.length < indegree.size) {
    const placed = new Set(order);
    const rest = [...indegree.keys()].filter((id) => !placed.has(id));
    rest.sort((a, b) => priorities.get(a)! - priorities.get(b)!);
    order.push(...rest);
  }
  return order;
}
