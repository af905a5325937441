import { memo, type CSSProperties } from 'react';
import { Handle, Position, type NodeProps } from '@xyflow/react';
import { badgeString } from '../../layout/nodeSize';
import type { LayoutPort } from '../../layout/types';
import { categoryColor, categoryTitle } from './palette';
import { heatColor, overlayKindColor } from './overlayStyle';
import { costLabel } from './cost';
import type { OpFlowNode } from './flowTypes';

/** Invisible handles where the layout put the ports, so edges meet the node exactly there. */
export function PortHandles({ ports }: { ports: LayoutPort[] }) {
  return ports.map((p) => (
    <Handle
      key={p.id}
      id={p.id}
      type={p.side === 'top' ? 'target' : 'source'}
      position={p.side === 'top' ? Position.Top : Position.Bottom}
      isConnectable={false}
      style={{ left: p.x }}
    />
  ));
}

/** An operator: op type on a header in its category colour, the node name, its weights as badges. */
export const OpNode = memo(function OpNode({ id, data, selected }: NodeProps<OpFlowNode>) {
  const color = categoryColor[data.category];
  const hasBody = data.name.length > 0 || data.badges.length > 0;
  const overlay = data.overlay;
  const title = [
    data.name ? `${data.fullOpType} — ${data.name}` : data.fullOpType,
    categoryTitle[data.category],
    ...data.badges.flat().map((b) => (b.constant ? `${badgeString(b)} (Constant node)` : badgeString(b))),
    ...(overlay
      ? [`${overlay.kind}${overlay.label ? ` ${overlay.label}` : ''}: ${overlay.title ?? ''}`]
      : []),
  ].join('\n');
  const style: Record<string, string> = { '--wh-op-color': color };
  if (overlay?.kind === 'heat') style['--wh-op-bg'] = heatColor(overlay.heat ?? 0);
  else if (overlay) style['--wh-overlay-color'] = overlayKindColor[overlay.kind];
  const cost = data.cost;
  const costText = cost ? costLabel(cost) : null;
  return (
    <>
      <div
        className={`wh-op${selected ? ' wh-op--selected' : ''}${hasBody ? '' : ' wh-op--bare'}${
          overlay ? ` wh-op--overlay wh-op--${overlay.kind}` : ''
        }`}
        style={style as CSSProperties}
        data-overlay={overlay?.kind}
        data-testid="graph-node"
        data-op={data.opType}
        data-node-id={id}
        data-category={data.category}
        data-highlight={data.highlight}
        title={title}
      >
        <PortHandles ports={data.ports} />
        <div className="wh-op__header">
          <span className="wh-op__type">{data.opType}</span>
          {overlay && (overlay.label || overlay.kind !== 'heat') && (
            <span
              className="wh-op__overlay"
              data-testid="overlay-badge"
              data-kind={overlay.kind}
              title={overlay.title}
            >
              {overlay.label ?? overlay.kind}
            </span>
          )}
          {data.subgraphs > 0 && (
            <span
              className="wh-op__subgraphs"
              title={`${data.subgraphs} subgraph${data.subgraphs > 1 ? 's' : ''}`}
            >
              <svg viewBox="0 0 12 12" width="10" height="10" aria-hidden="true">
                <rect
                  x="0.75"
                  y="3.25"
                  width="8"
                  height="8"
                  rx="1.5"
                  fill="none"
                  stroke="currentColor"
                  strokeWidth="1.5"
                />
                <path
                  d="M3.5 1.25h6a1.5 1.5 0 0 1 1.5 1.5v6"
                  fill="none"
                  stroke="currentColor"
                  strokeWidth="1.5"
                />
              </svg>
              {data.subgraphs}
            </span>
          )}
        </div>
        {hasBody && (
          <div className="wh-op__body">
            {data.name && <div className="wh-op__name">{data.name}</div>}
            {data.badges.map((row, i) => (
              <div className="wh-op__badges" key={i}>
                {row.map((b, j) => (
                  <span className={b.constant ? 'wh-badge wh-badge--constant' : 'wh-badge'} key={j}>
                    <span className="wh-badge__label">{b.label}</span>{' '}
                    {b.dtype && (
                      <>
                        <span className="wh-badge__dtype">{b.dtype}</span>{' '}
                      </>
                    )}
                    <span className="wh-badge__shape">{b.shape}</span>
                  </span>
                ))}
              </div>
            ))}
          </div>
        )}
      </div>
      {cost && costText && (
        <div
          className="wh-cost"
          data-testid="node-cost"
          data-node-id={id}
          data-macs={cost.partial ? undefined : cost.macs}
          data-params={cost.params}
          data-highlight={data.highlight}
        >
          {costText}
        </div>
      )}
    </>
  );
});
