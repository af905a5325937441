import { useMemo } from 'react';
import type { GraphSummary, OpCategory } from '../../onnx/summary';
import { categoryColor, categoryTitle } from './palette';

/** A collapsible key to the category colours present in the graph. */
export function Legend({ summary }: { summary: GraphSummary }) {
  const present = useMemo(() => {
    const seen = new Set<OpCategory>(summary.nodes.map((n) => n.category));
    return (Object.keys(categoryColor) as OpCategory[]).filter((c) => seen.has(c));
  }, [summary]);
  return (
    <details className="wh-legend">
      <summary>Legend</summary>
      <ul>
        {present.map((c) => (
          <li key={c}>
            <span className="wh-legend__swatch" style={{ background: categoryColor[c] }} />
            {categoryTitle[c]}
          </li>
        ))}
      </ul>
    </details>
  );
}
