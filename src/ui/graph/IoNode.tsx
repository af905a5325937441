import { memo } from 'react';
import type { NodeProps } from '@xyflow/react';
import { PortHandles } from './OpNode';
import type { IoFlowNode } from './flowTypes';

/** A graph input or output, drawn as a small pill. */
export const IoNode = memo(function IoNode({ data }: NodeProps<IoFlowNode>) {
  return (
    <div
      className={`wh-io wh-io--${data.kind}`}
      data-io={data.kind}
      data-io-name={data.name}
      data-highlight={data.highlight}
      title={`${data.kind === 'input' ? 'Input' : 'Output'} ${data.name}${data.typeText ? `: ${data.typeText}` : ''}`}
    >
      <PortHandles ports={data.ports} />
      <span className="wh-io__name">{data.name}</span>
    </div>
  );
});
