import { useMemo } from 'react';
import { stages } from '../../passes/registry';
import type { AnyStage, StageCategory } from '../../passes/types';
import { useStudio } from '../../store';
import { stageMime } from './dnd';
import { PlusIcon } from './icons';

/** Categories in palette order, with their headings. */
export const categoryTitles: Record<StageCategory, string> = {
  simplify: 'Simplify',
  quantize: 'Quantize',
  prune: 'Prune',
  compress: 'Compress',
  train: 'Train',
};

/**
 * Every registered stage by category, with its one-line description. Drag a stage into the
 * pipeline, or press + to append it.
 */
export function StagePalette() {
  const addStage = useStudio((s) => s.addStage);
  const groups = useMemo(() => {
    const byCategory = new Map<StageCategory, AnyStage[]>();
    for (const s of stages) byCategory.set(s.category, [...(byCategory.get(s.category) ?? []), s]);
    return (Object.keys(categoryTitles) as StageCategory[])
      .filter((c) => byCategory.has(c))
      .map((c) => ({ category: c, stages: byCategory.get(c)! }));
  }, []);

  return (
    <details className="palette" open>
      <summary className="palette-summary">
        Stages <span className="section-count">{stages.length}</span>
        <span className="palette-hint">drag into the pipeline</span>
      </summary>
      <div className="palette-groups" data-testid="stage-palette">
        {groups.map((g) => (
          <section key={g.category} className="palette-group" data-category={g.category}>
            <h3 className="palette-category">{categoryTitles[g.category]}</h3>
            <ul className="palette-list">
              {g.stages.map((s) => (
                <li
                  key={s.id}
                  className={`palette-item palette-${s.category}`}
                  draggable
                  data-stage={s.id}
                  title={s.description}
                  onDragStart={(e) => {
                    e.dataTransfer.setData(stageMime, s.id);
                    e.dataTransfer.effectAllowed = 'copy';
                  }}
                >
                  <span className="palette-grip" aria-hidden="true">
                    ⋮⋮
                  </span>
                  <span className="palette-text">
                    <span className="palette-title">{s.title}</span>
                    <span className="palette-description">{s.description}</span>
                  </span>
                  <button
                    type="button"
                    className="icon-btn"
                    aria-label={`Add ${s.title} to the pipeline`}
                    title="Add to the end of the pipeline"
                    onClick={() => addStage(s.id)}
                  >
                    <PlusIcon />
                  </button>
                </li>
              ))}
            </ul>
          </section>
        ))}
      </div>
    </details>
  );
}
