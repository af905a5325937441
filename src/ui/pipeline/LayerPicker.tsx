import { useMemo } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { useStudio } from '../../store';

export interface LayerPickerProps {
  /** The parameter (e.g. `exclude`). */
  param: string;
  stepKey: string;
  value: string[];
  onChange(value: string[]): void;
}

/**
 * Node names for an include/exclude list: chips for the chosen ones, a select of the model's nodes
 * (layers with weights first), and "pick from graph", after which clicking graph nodes adds them.
 */
export function LayerPicker({ param, stepKey, value, onChange }: LayerPickerProps) {
  const { graph, picking, startPicking, stopPicking } = useStudio(
    useShallow((s) => ({
      graph: s.graph,
      picking: s.picking,
      startPicking: s.startPicking,
      stopPicking: s.stopPicking,
    })),
  );
  const active = picking?.key === stepKey && picking.param === param;
  const options = useMemo(() => {
    const nodes = (graph?.nodes ?? []).map((n) => ({
      name: n.name || n.outputs[0] || n.id,
      op: n.opType,
      weighted: n.weights.length > 0,
    }));
    return nodes.sort((a, b) => Number(b.weighted) - Number(a.weighted));
  }, [graph]);
  const free = options.filter((o) => !value.includes(o.name));

  return (
    <div className="layer-picker" data-testid="layer-picker" data-param={param}>
      {value.length > 0 && (
        <ul className="layer-chips">
          {value.map((name) => (
            <li key={name} className="layer-chip" data-layer={name}>
              <span className="layer-chip-name" title={name}>
                {name}
              </span>
              <button
                type="button"
                className="chip-remove"
                aria-label={`Remove ${name}`}
                onClick={() => onChange(value.filter((v) => v !== name))}
              >
                ×
              </button>
            </li>
          ))}
        </ul>
      )}
      <div className="layer-picker-row">
        <select
          aria-label={`Add a layer to ${param}`}
          value=""
          onChange={(e) => {
            const name = e.currentTarget.value;
            if (name) onChange([...value, name]);
          }}
        >
          <option value="">{free.length ? 'Add a layer…' : 'No more layers'}</option>
          {free.map((o) => (
            <option key={o.name} value={o.name}>
              {o.op} · {o.name}
            </option>
          ))}
        </select>
        <button
          type="button"
          className={`btn btn-small ${active ? 'btn-primary' : 'btn-ghost'}`}
          data-testid="pick-from-graph"
          aria-pressed={active}
          title="Click nodes in the graph to add them"
          onClick={() => (active ? stopPicking() : startPicking(stepKey, param))}
        >
          {active ? 'Done' : 'Pick in graph'}
        </button>
      </div>
    </div>
  );
}
