import { z } from 'zod';
import { applyEdits, graphEditSchema } from '../graph/edits';
import { defineStage } from './types';

/**
 * Hand edits made in the graph view (input dims, renames, attributes, bypassed or deleted nodes,
 * a cut at chosen outputs), recorded as a stage so that they replay from a recipe and can be undone.
 */
export const editGraph = defineStage({
  id: 'edit-graph',
  title: 'Edit graph',
  description: 'Apply edits made in the graph view: input dims, renames, attributes, bypass, delete, cut.',
  category: 'simplify',
  params: z.object({
    edits: z.array(graphEditSchema).default([]).describe('Edits, applied in order'),
  }),
  async run(model, params) {
    const out = model.clone();
    const { changes, notes } = applyEdits(out, params.edits);
    return { model: out, notes: notes.length ? notes : ['no edits'], changes };
  },
});
