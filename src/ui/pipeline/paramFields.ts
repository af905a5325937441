import { z } from 'zod';
import type { AnyStage } from '../../passes/types';

/** The parts of a JSON Schema property the form reads. */
interface JsonProperty {
  type?: string | string[];
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  default?: unknown;
  description?: string;
  items?: JsonProperty;
  anyOf?: JsonProperty[];
}

interface FieldBase {
  name: string;
  label: string;
  /** The schema's description, shown as a tooltip. */
  description?: string;
  /** The field may be left empty. */
  optional: boolean;
}

/** One form field, derived from a stage's parameter schema. */
export type ParamField =
  | (FieldBase & {
      kind: 'number';
      integer: boolean;
      min?: number;
      max?: number;
      /** A slider as well as the typed entry (the range is bounded and small enough to slide). */
      slider: boolean;
      step: number;
      default?: number;
    })
  | (FieldBase & { kind: 'enum'; options: string[]; default?: string })
  | (FieldBase & { kind: 'boolean'; default?: boolean })
  /** Node names (exclude/include lists): a layer picker. */
  | (FieldBase & { kind: 'layers'; default: string[] })
  | (FieldBase & { kind: 'enumList'; options: string[]; default: string[] })
  | (FieldBase & { kind: 'stringList'; default: string[] })
  /** A free-text value, e.g. the name of a file a stage reads. */
  | (FieldBase & { kind: 'text'; default?: string })
  | (FieldBase & { kind: 'json'; default?: unknown });

/** JavaScript's integer limits stand for "no bound" in zod's JSON Schema. */
const unbounded = (v: number | undefined) =>
  v === undefined || Math.abs(v) >= Number.MAX_SAFE_INTEGER ? undefined : v;

/** 'calibrationSamples' → 'Calibration samples', 'keepIO' → 'Keep IO'. */
export function fieldLabel(name: string): string {
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .split(' ');
  return words
    .map((w, i) => (i === 0 ? w[0].toUpperCase() + w.slice(1) : /^[A-Z0-9]+$/.test(w) ? w : w.toLowerCase()))
    .join(' ');
}

/** A slider step giving about a thousand positions over the range, on a round number. */
function sliderStep(min: number, max: number, integer: boolean): number {
  if (integer) return Math.max(1, 10 ** Math.floor(Math.log10(Math.max(1, max - min)) - 2));
  return 10 ** Math.floor(Math.log10(max - min) - 2);
}

function firstType(p: JsonProperty): string | undefined {
  if (Array.isArray(p.type)) return p.type.find((t) => t !== 'null');
  return p.type ?? p.anyOf?.map(firstType).find((t) => t !== undefined && t !== 'null');
}

function field(name: string, p: JsonProperty, required: boolean): ParamField {
  const base: FieldBase = {
    name,
    label: fieldLabel(name),
    ...(p.description ? { description: p.description } : {}),
    optional: !required && p.default === undefined,
  };
  const type = firstType(p);
  if (p.enum && p.enum.every((v) => typeof v === 'string'))
    return { ...base, kind: 'enum', options: p.enum as string[], default: p.default as string | undefined };
  if (type === 'boolean') return { ...base, kind: 'boolean', default: p.default as boolean | undefined };
  if (type === 'string') return { ...base, kind: 'text', default: p.default as string | undefined };
  if (type === 'number' || type === 'integer') {
    const integer = type === 'integer';
    const min = unbounded(p.minimum ?? p.exclusiveMinimum);
    const max = unbounded(p.maximum ?? p.exclusiveMaximum);
    const slider = min !== undefined && max !== undefined && (!integer || max - min <= 100_000);
    return {
      ...base,
      kind: 'number',
      integer,
      ...(min !== undefined ? { min } : {}),
      ...(max !== undefined ? { max } : {}),
      slider,
      step: slider ? sliderStep(min!, max!, integer) : integer ? 1 : 0.01,
      default: p.default as number | undefined,
    };
  }
  if (type === 'array' && p.items) {
    const fallback = Array.isArray(p.default) ? (p.default as string[]) : [];
    if (p.items.enum && p.items.enum.every((v) => typeof v === 'string'))
      return { ...base, kind: 'enumList', options: p.items.enum as string[], default: fallback };
    if (firstType(p.items) === 'string')
      return /^(exclude|include)/i.test(name)
        ? { ...base, kind: 'layers', default: fallback }
        : { ...base, kind: 'stringList', default: fallback };
  }
  return { ...base, kind: 'json', default: p.default };
}

const cache = new WeakMap<AnyStage, ParamField[]>();

/** The form fields of a stage, in schema order, from `z.toJSONSchema(params, { io: 'input' })`. */
export function paramFields(stage: AnyStage): ParamField[] {
  const known = cache.get(stage);
  if (known) return known;
  const schema = z.toJSONSchema(stage.params, { io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, JsonProperty>;
    required?: string[];
  };
  const required = new Set(schema.required ?? []);
  const fields = Object.entries(schema.properties ?? {}).map(([name, p]) =>
    field(name, p, required.has(name)),
  );
  cache.set(stage, fields);
  return fields;
}
