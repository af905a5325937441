import { useMemo } from 'react';
import type { GraphSummary, OpCategory } from '../../onnx/summary';
import type { GraphOverlay, GraphOverlayEntry } from '../../graph/overlayView';
import { categoryColor, categoryTitle } from './palette';
import { heatColor, overlayKindColor, overlayKindTitle } from './overlayStyle';

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

/** One line under the legend: what the overlay shows, and the kinds (or heat scale) it uses. */
export function OverlayLegend({ overlay }: { overlay: GraphOverlay }) {
  const kinds = useMemo(() => {
    const seen = new Set(Object.values(overlay.entries).map((e) => e.kind));
    return (Object.keys(overlayKindColor) as GraphOverlayEntry['kind'][]).filter((k) => seen.has(k));
  }, [overlay]);
  return (
    <div className="wh-overlay-legend" data-testid="overlay-legend">
      <strong>{overlay.caption}</strong>
      {kinds.map((k) =>
        k === 'heat' ? (
          <span key={k} className="wh-overlay-legend__item">
            <span
              className="wh-overlay-legend__scale"
              style={{
                background: `linear-gradient(to right, ${heatColor(0)}, ${heatColor(0.5)}, ${heatColor(1)})`,
              }}
            />
            low → high
          </span>
        ) : (
          <span key={k} className="wh-overlay-legend__item">
            <span className="wh-legend__swatch" style={{ border: `2px solid ${overlayKindColor[k]}` }} />
            {overlayKindTitle[k]}
          </span>
        ),
      )}
      {kinds.length === 0 && <span className="wh-overlay-legend__item">no node changed</span>}
    </div>
  );
}
