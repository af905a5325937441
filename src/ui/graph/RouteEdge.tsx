import { memo } from 'react';
import { BaseEdge, getSmoothStepPath, type EdgeProps } from '@xyflow/react';
import { roundedPath } from './paths';
import type { RouteFlowEdge } from './flowTypes';

/** How far (px) an end may drift from the laid-out route before the edge is re-routed (a node was dragged). */
const tolerance = 2;

/**
 * Draws an edge along the orthogonal route ELK computed, with rounded corners, an arrowhead and the
 * tensor shape as a light label; a click on it (or near it) selects its tensor. When the user drags
 * a node away from its laid-out place, the route no longer fits and the edge falls back to a
 * smooth-step path between the handles.
 */
export const RouteEdge = memo(function RouteEdge(props: EdgeProps<RouteFlowEdge>) {
  const { data, sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition, markerEnd, style } =
    props;
  const points = data?.points ?? [];
  const first = points[0];
  const last = points[points.length - 1];
  const fits =
    points.length >= 2 &&
    Math.abs(first.x - sourceX) <= tolerance &&
    Math.abs(first.y - sourceY) <= tolerance &&
    Math.abs(last.x - targetX) <= tolerance &&
    Math.abs(last.y - targetY) <= tolerance;
  const path = fits
    ? roundedPath(points)
    : getSmoothStepPath({
        sourceX,
        sourceY,
        targetX,
        targetY,
        sourcePosition,
        targetPosition,
        borderRadius: 6,
      })[0];
  const label = data?.label;
  const labelX = fits && label ? label.x : sourceX + 5;
  const labelY = fits && label ? label.y : sourceY + 2;
  return (
    <>
      <BaseEdge path={path} markerEnd={markerEnd} style={style} interactionWidth={10} />
      {label && (
        <text className="wh-edge-label" x={labelX + 3} y={labelY + label.height - 3}>
          <title>{data.title}</title>
          {label.text}
        </text>
      )}
    </>
  );
});
