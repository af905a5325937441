import type { Dim, Graph } from './ir';

/** What is known about a value: element type and shape (either may be unknown). */
export interface ValueFacts {
  elemType?: number;
  shape?: Dim[];
}

/**
 * Types and shapes of every value in a graph: declared ones (inputs, outputs, value_info,
 * initializers) first, then inferred through the operators we understand, in topological order.
 */
export function inferShapes(graph: Graph): Map<string, ValueFacts> {
  const facts = new Map<string, ValueFacts>();
  const declare = (name: string) => {
    const shape = graph.valueShape(name);
    const elemType = graph.valueElemType(name);
    if (shape || elemType !== undefined) facts.set(name, { elemType, shape });
  };
  for (const v of [...graph.inputs, ...graph.outputs, ...graph.valueInfo]) declare(v.name);
  for (const name of graph.initializers.keys()) declare(name);
  return facts;
}
