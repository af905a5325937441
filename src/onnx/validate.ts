import type { Graph, Model } from './ir';
import { GraphCycleError } from './ir';

/** Default-domain opsets onnxruntime 1.30 (web and node) loads: 7 to 26 (checked with onnxruntime-node). */
export const ORT_MIN_OPSET = 7;
export const ORT_MAX_OPSET = 26;

export interface ValidationIssue {
  severity: 'error' | 'warning';
  message: string;
  /** Where: the graph path ('main', 'main/If_0:then_branch'), node name and tensor name when known. */
  graph: string;
  node?: string;
  tensor?: string;
}

/** A model that cannot be used as it is; `message` names the first problems found. */
export class ModelValidationError extends Error {
  override name = 'ModelValidationError';
  constructor(readonly issues: ValidationIssue[]) {
    const errors = issues.filter((i) => i.severity === 'error');
    super(
      errors
        .slice(0, 3)
        .map((i) => i.message)
        .join(' ') + (errors.length > 3 ? ` (and ${errors.length - 3} more problems)` : ''),
    );
  }
}

function checkGraph(graph: Graph, path: string, issues: ValidationIssue[]): void {
  const defined = new Set<string>();
  for (const v of graph.inputs) defined.add(v.name);
  for (const name of graph.initializers.keys()) defined.add(name);
  for (const n of graph.nodes) {
    for (const o of n.outputs) {
      if (!o) continue;
      if (defined.has(o) && !graph.initializers.has(o) && !graph.isGraphInput(o))
        issues.push({
          severity: 'error',
          graph: path,
          node: n.name,
          tensor: o,
          message: `Tensor "${o}" is produced by more than one node (again by ${describe(n.name, n.opType)}).`,
        });
      defined.add(o);
    }
  }
  const visible = (name: string) => defined.has(name) || (graph.parent?.sees(name) ?? false);
  for (const n of graph.nodes) {
    if (!n.opType)
      issues.push({
        severity: 'error',
        graph: path,
        node: n.name,
        message: `A node (${n.name || 'unnamed'}) has no operator type.`,
      });
    for (const i of n.inputs)
      if (i && !visible(i))
        issues.push({
          severity: 'error',
          graph: path,
          node: n.name,
          tensor: i,
          message: `${describe(n.name, n.opType)} reads tensor "${i}", which no node, input or initializer provides.`,
        });
  }
  for (const o of graph.outputs)
    if (!visible(o.name))
      issues.push({
        severity: 'error',
        graph: path,
        tensor: o.name,
        message: `Graph output "${o.name}" is not produced by any node.`,
      });
  try {
    graph.topologicalOrder();
  } catch (e) {
    if (!(e instanceof GraphCycleError)) throw e;
    issues.push({ severity: 'error', graph: path, message: e.message });
  }
  for (const n of graph.nodes)
    for (const s of n.subgraphs)
      s.graphs.forEach((g, k) =>
        checkGraph(
          g,
          `${path}/${n.name || n.opType}:${s.attribute}${s.graphs.length > 1 ? `[${k}]` : ''}`,
          issues,
        ),
      );
}

function describe(name: string, opType: string): string {
  return name ? `Node "${name}" (${opType})` : `A ${opType} node`;
}

/**
 * Structural checks that catch what would make the model unusable: missing tensors, cycles, tensors
 * produced twice, and operator sets onnxruntime cannot run.
 */
export function validateModel(model: Model): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const opset = model.opsetVersion('');
  if (opset === undefined && model.graph.nodes.some((n) => n.domain === ''))
    issues.push({
      severity: 'error',
      graph: 'main',
      message: 'The model uses ONNX operators but imports no ai.onnx opset.',
    });
  else if (opset !== undefined && opset > ORT_MAX_OPSET)
    issues.push({
      severity: 'error',
      graph: 'main',
      message: `The model uses ONNX opset ${opset}; onnxruntime-web 1.30 runs opsets ${ORT_MIN_OPSET}–${ORT_MAX_OPSET}.`,
    });
  else if (opset !== undefined && opset < ORT_MIN_OPSET)
    issues.push({
      severity: 'warning',
      graph: 'main',
      message: `The model uses ONNX opset ${opset}; onnxruntime only guarantees opsets ${ORT_MIN_OPSET} and above.`,
    });
  checkGraph(model.graph, 'main', issues);
  return issues;
}

/** Throw a {@link ModelValidationError} when the model has errors; returns the warnings. */
export function checkModel(model: Model): ValidationIssue[] {
  const issues = validateModel(model);
  if (issues.some((i) => i.severity === 'error')) throw new ModelValidationError(issues);
  return issues.filter((i) => i.severity === 'warning');
}
