import type { GraphSummary } from '../onnx/summary';

/** A tensor and the items at its two ends: node ids, `in:<name>` for graph inputs, `out:<name>` for outputs. */
export interface TensorEnds {
  tensor: string;
  /** The producing node, `in:<name>` for a graph input, or null for a weight. */
  producer: string | null;
  consumers: string[];
}

/** Where data comes from and goes to around one node. */
export interface NodeNeighbours {
  /** One entry per input slot in use, with the producer of that input. */
  inputs: TensorEnds[];
  /** One entry per output, with its consumers. */
  outputs: TensorEnds[];
  /** Distinct producers of the inputs, in input order. */
  producers: string[];
  /** Distinct consumers of the outputs, in output order. */
  consumers: string[];
}

/** Producer/consumer lookups over a graph summary, built once per summary. */
export class NeighbourIndex {
  private readonly producerOf = new Map<string, string>();
  private readonly consumersOf = new Map<string, string[]>();
  private readonly nodes = new Map<string, GraphSummary['nodes'][number]>();

  constructor(readonly summary: GraphSummary) {
    const addConsumer = (tensor: string, id: string) => {
      const list = this.consumersOf.get(tensor);
      if (!list) this.consumersOf.set(tensor, [id]);
      else if (!list.includes(id)) list.push(id);
    };
    for (const n of summary.nodes) {
      this.nodes.set(n.id, n);
      for (const o of n.outputs) if (o) this.producerOf.set(o, n.id);
      // Weights have no edges but are read all the same.
      for (const i of n.inputs) if (i) addConsumer(i, n.id);
    }
    for (const e of summary.edges) {
      if (!this.producerOf.has(e.tensor)) this.producerOf.set(e.tensor, e.source);
      addConsumer(e.tensor, e.target);
    }
  }

  /** The producer and consumers of a tensor (consumers include `out:<name>` for a graph output). */
  tensor(name: string): TensorEnds {
    return {
      tensor: name,
      producer: this.producerOf.get(name) ?? null,
      consumers: this.consumersOf.get(name) ?? [],
    };
  }

  /** The ends of the tensors a node reads and writes. Unknown ids give empty lists. */
  node(id: string): NodeNeighbours {
    const n = this.nodes.get(id);
    if (!n) return { inputs: [], outputs: [], producers: [], consumers: [] };
    const inputs = n.inputs.filter((i) => i !== '').map((i) => this.tensor(i));
    const outputs = n.outputs.filter((o) => o !== '').map((o) => this.tensor(o));
    const producers = [...new Set(inputs.flatMap((t) => (t.producer ? [t.producer] : [])))];
    const consumers = [...new Set(outputs.flatMap((t) => t.consumers))];
    return { inputs, outputs, producers, consumers };
  }

  /**
   * Keyboard navigation: `up` goes to the first producer, `down` to the first consumer, `left` and
   * `right` to the previous or next sibling (another consumer of the same first input). Returns the
   * id to select, or null when there is nowhere to go.
   */
  step(id: string, direction: 'up' | 'down' | 'left' | 'right'): string | null {
    const around = this.node(id);
    if (direction === 'up') return around.producers[0] ?? null;
    if (direction === 'down') return around.consumers[0] ?? null;
    const first = around.inputs.find((t) => t.producer !== null) ?? around.inputs[0];
    if (!first) return null;
    const siblings = first.consumers.filter((c) => this.nodes.has(c));
    const at = siblings.indexOf(id);
    if (siblings.length < 2 || at < 0) return null;
    return siblings[(at + (direction === 'right' ? 1 : siblings.length - 1)) % siblings.length];
  }
}
