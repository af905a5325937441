import type { GraphEdit } from '../../graph/edits';
import type { AttributeSummary, DimSummary, NodeSummary } from '../../onnx/summary';

/** The value types an attribute can be edited as (tensor and graph attributes cannot). */
export type EditableAttrType = 'int' | 'float' | 'string' | 'ints' | 'floats' | 'strings';

type SetAttribute = Extract<GraphEdit, { kind: 'set-attribute' }>;

const editableTypes: Record<string, EditableAttrType> = {
  INT: 'int',
  FLOAT: 'float',
  STRING: 'string',
  INTS: 'ints',
  FLOATS: 'floats',
  STRINGS: 'strings',
};

/** How edits name a node: its name, or its first output when unnamed (as `editNodeKey` does). */
export function nodeRef(node: Pick<NodeSummary, 'name' | 'outputs' | 'opType'>): string {
  return node.name || node.outputs[0] || node.opType;
}

/** The edit type of an attribute as the inspector lists it, or null when it cannot be edited as a value. */
export function editableType(attribute: AttributeSummary): EditableAttrType | null {
  return editableTypes[attribute.type] ?? null;
}

/**
 * The text an attribute's edit field starts with: its value as the user would type it, or '' when
 * the inspector shows it shortened (long lists), so that nothing is silently cut off.
 */
export function attributeText(attribute: AttributeSummary): string {
  const v = attribute.value;
  if (v.includes('…')) return '';
  switch (editableType(attribute)) {
    case 'string':
      return parseJsonString(v) ?? v;
    case 'ints':
    case 'floats':
      return v.replace(/^\[|\]$/g, '');
    case 'strings': {
      const list = parseJson(v);
      return Array.isArray(list) ? list.join(', ') : v;
    }
    default:
      return v;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function parseJsonString(text: string): string | undefined {
  const v = parseJson(text);
  return typeof v === 'string' ? v : undefined;
}

function numbers(text: string): number[] | null {
  const parts = text
    .replace(/^\s*\[|\]\s*$/g, '')
    .split(/[\s,]+/)
    .filter((p) => p !== '');
  const values = parts.map(Number);
  return values.every((v) => Number.isFinite(v)) ? values : null;
}

/**
 * The set-attribute edit for `text` typed into an attribute's field, or a message saying what is
 * wrong with the text. Lists are numbers (or names) separated by commas or spaces.
 */
export function attributeEdit(
  node: string,
  name: string,
  type: EditableAttrType,
  text: string,
): { edit: SetAttribute } | { error: string } {
  const make = (value: SetAttribute['value']): { edit: SetAttribute } => ({
    edit: { kind: 'set-attribute', node, name, value, type },
  });
  const trimmed = text.trim();
  switch (type) {
    case 'int': {
      const v = Number(trimmed);
      return trimmed !== '' && Number.isInteger(v) ? make(v) : { error: `${name} takes a whole number` };
    }
    case 'float': {
      const v = Number(trimmed);
      return trimmed !== '' && Number.isFinite(v) ? make(v) : { error: `${name} takes a number` };
    }
    case 'string':
      return make(text);
    case 'ints': {
      const v = numbers(trimmed);
      return v && v.every(Number.isInteger)
        ? make(v)
        : { error: `${name} takes whole numbers separated by commas` };
    }
    case 'floats': {
      const v = numbers(trimmed);
      return v ? make(v) : { error: `${name} takes numbers separated by commas` };
    }
    case 'strings':
      return make(
        trimmed
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== ''),
      );
  }
}

/** The text a dimension's field starts with: its size, its symbolic name, or '' when unknown. */
export function dimText(dim: DimSummary): string {
  return dim === null ? '' : String(dim);
}

/**
 * Dims typed into an input's fields: a positive whole number fixes the size, a name makes the
 * dimension symbolic, an empty field leaves it unknown.
 */
export function parseDims(
  texts: readonly string[],
): { dims: (number | string | null)[] } | { error: string } {
  const dims: (number | string | null)[] = [];
  for (const [i, raw] of texts.entries()) {
    const t = raw.trim();
    if (t === '') dims.push(null);
    else if (/^\d+$/.test(t)) {
      const n = Number(t);
      if (n < 1) return { error: `dimension ${i + 1}: a size must be at least 1` };
      dims.push(n);
    } else if (/^[A-Za-z_][\w.-]*$/.test(t)) dims.push(t);
    else return { error: `dimension ${i + 1}: "${t}" is neither a size nor a name` };
  }
  return { dims };
}

/** Names as earlier edits left them: a node or tensor renamed by an edit is known by its new name. */
export interface Renames {
  node(name: string): string;
  tensor(name: string): string;
}

/** The renames made by `edits`, in order (a rename of a renamed name follows it). */
export function followRenames(edits: readonly GraphEdit[]): Renames {
  const follow = (kind: 'rename-node' | 'rename-tensor') => (name: string) => {
    let current = name;
    for (const e of edits)
      if (e.kind === kind && (e.kind === 'rename-node' ? e.node : e.from) === current) current = e.to;
    return current;
  };
  return { node: follow('rename-node'), tensor: follow('rename-tensor') };
}
