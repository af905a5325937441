import { memo, useContext, type CSSProperties } from 'react';
import type { NodeProps } from '@xyflow/react';
import { frameTitle } from '../../layout/nodeSize';
import { FrameActionsContext } from './frameActions';
import type { FrameFlowNode } from './flowTypes';

const kindTitle: Record<FrameFlowNode['data']['kind'], string> = {
  name: 'group',
  repeat: 'repeated block',
  repetition: 'repetition',
};

/**
 * An open group: a labelled frame around its contents (laid out on their own and placed as one
 * box), with a button in its header that collapses it back to a single box.
 */
export const FrameNode = memo(function FrameNode({ id, data }: NodeProps<FrameFlowNode>) {
  const actions = useContext(FrameActionsContext);
  const title = frameTitle(data.label, data.size);
  return (
    <div
      className="wh-frame"
      data-testid="group-frame"
      data-group-id={id}
      data-kind={data.kind}
      data-depth={data.depth}
      style={{ '--wh-frame-depth': data.depth } as CSSProperties}
    >
      <div className="wh-frame__header" title={`${data.label}: ${kindTitle[data.kind]} of ${title.count}`}>
        <button
          type="button"
          className="wh-frame__collapse nodrag nopan"
          data-testid="group-frame-collapse"
          aria-label={`Collapse ${data.label}`}
          title={`Collapse ${data.label}`}
          onClick={(e) => {
            e.stopPropagation();
            actions?.collapse(id);
          }}
        >
          ▾
        </button>
        <span className="wh-frame__label">{title.label}</span>
        <span className="wh-frame__count">{title.count}</span>
      </div>
    </div>
  );
});
