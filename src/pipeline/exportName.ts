/** The parts of a pipeline result the export name reads. */
export interface NamedStage {
  stage: string | null;
  params: Record<string, unknown>;
  status: string;
}

const percent = (v: unknown) =>
  typeof v === 'number' && Number.isFinite(v) ? String(Math.round(v * 100)) : '';

/** Short tags per stage id; a function reads the parameters that distinguish one run from another. */
const tagOf: Record<string, (params: Record<string, unknown>) => string> = {
  simplify: () => 'simplified',
  'fold-constants': () => 'constfolded',
  'fold-batchnorm': () => 'bnfolded',
  'quantize-static': () => 'int8',
  'quantize-dynamic': () => 'int8dyn',
  'convert-fp16': () => 'fp16',
  'quantize-int4': () => 'int4',
  'prune-magnitude': (p) => `pruned${percent(p.sparsity)}`,
  'prune-channels': (p) => `slim${percent(p.ratio)}`,
  'cluster-weights': (p) => `k${typeof p.clusters === 'number' ? p.clusters : ''}`,
  'fine-tune': () => 'finetuned',
  'quantize-aware': () => 'qat',
  distill: () => 'distilled',
};

/** Most tags a name carries; the rest are counted (`…-int8-pruned50-+3`). */
const maxTags = 6;

/** The short tag of one stage (`int8`, `pruned50`); unknown stages use their id. */
export function stageTag(stage: string, params: Record<string, unknown> = {}): string {
  const tag = tagOf[stage]?.(params) ?? stage;
  return (
    tag
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'stage'
  );
}

/** 'models/mnist-8.onnx' → 'mnist-8'; an earlier Whittle suffix is kept apart so tags can be merged. */
function splitName(fileName: string): { base: string; earlierTags: string[] } {
  const leaf = fileName.split(/[\\/]/).pop() ?? fileName;
  const stem = leaf.replace(/\.onnx$/i, '') || 'model';
  const m = /^(.*)\.whittle-([a-z0-9-]+)$/.exec(stem);
  if (m && m[1]) return { base: m[1], earlierTags: m[2].split('-').filter(Boolean) };
  return { base: stem, earlierTags: [] };
}

/**
 * The file name an exported model gets: `<model base name>.whittle-<tags>.onnx`, tags in pipeline
 * order from the stages that ran (status `done`), each once. A model no stage changed keeps its
 * original name. Exporting an already exported model appends to its tags.
 */
export function exportFileName(modelFileName: string, stages: readonly NamedStage[]): string {
  const { base, earlierTags } = splitName(modelFileName);
  const tags: string[] = [...earlierTags];
  for (const s of stages) {
    if (s.stage === null || s.status !== 'done') continue;
    const tag = stageTag(s.stage, s.params);
    if (!tags.includes(tag)) tags.push(tag);
  }
  if (tags.length === earlierTags.length) {
    return modelFileName.split(/[\\/]/).pop() || 'model.onnx';
  }
  const shown = tags.length > maxTags ? [...tags.slice(0, maxTags), `+${tags.length - maxTags}`] : tags;
  const safeBase = Array.from(base, (c) =>
    c.charCodeAt(0) < 0x20 || '<>:"/\\|?*'.includes(c) ? '_' : c,
  ).join('');
  return `${safeBase}.whittle-${shown.join('-')}.onnx`;
}
