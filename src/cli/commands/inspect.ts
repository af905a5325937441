import { validateModel, type ValidationIssue } from '../../onnx/validate';
import { fields, formatBytes, formatCount, formatValueType, table, toJson } from '../format';
import { CliError, UsageError, parseCommandArgs, type CliCommand, type CliIO } from '../io';
import { loadModelFile, type LoadedModel } from '../model-file';

const usage = `Usage: npm run whittle -- inspect <model.onnx> [--json]

Summarize an ONNX model: producer, IR version, opsets, inputs and outputs with their types and
shapes, node count, operator histogram, initializer and parameter counts, file size, and the
problems validation finds. Weights stored as external data are read from beside the model.

Options:
  --json      print one JSON object (nodes, initializers, parameters, bytes, opsets, inputs,
              outputs, ops, ... as in CONTRACT.md) instead of text
  -h, --help  show this help`;

function issueLine(i: ValidationIssue): string {
  return `${i.severity}: ${i.message}${i.graph !== 'main' ? ` [in ${i.graph}]` : ''}`;
}

function humanReport(loaded: LoadedModel, issues: ValidationIssue[]): string[] {
  const s = loaded.summary;
  const entries: [string, string | string[]][] = [
    ['model', loaded.file],
    ['file size', formatBytes(s.bytes)],
    ['producer', [s.producer, s.producerVersion].filter(Boolean).join(' ') || '(not recorded)'],
    ['IR version', String(s.irVersion)],
    [
      'opsets',
      Object.entries(s.opsets)
        .map(([d, v]) => `${d} ${v}`)
        .join(', ') || '(none)',
    ],
  ];
  if (s.domain || s.modelVersion)
    entries.push(['domain', `${s.domain || '(none)'}, model version ${s.modelVersion}`]);
  if (s.docString) {
    const first = s.docString.split('\n')[0];
    entries.push(['description', first.length > 100 ? `${first.slice(0, 99)}…` : first]);
  }
  entries.push(['inputs', table(s.inputs.map((v) => [v.name, formatValueType(v)]))]);
  entries.push(['outputs', table(s.outputs.map((v) => [v.name, formatValueType(v)]))]);
  entries.push([
    'nodes',
    s.nodesTotal === s.nodes
      ? `${formatCount(s.nodes)}`
      : `${formatCount(s.nodes)} in the main graph, ${formatCount(s.nodesTotal)} with subgraphs`,
  ]);
  entries.push(['initializers', formatCount(s.initializers)]);
  entries.push(['parameters', formatCount(s.parameters)]);
  if (s.functions.length) entries.push(['functions', s.functions.join(', ')]);
  const metadata = Object.entries(s.metadata);
  if (metadata.length)
    entries.push([
      'metadata',
      table(metadata.map(([k, v]) => [k, v.length > 80 ? `${v.slice(0, 79)}…` : v.replace(/\s+/g, ' ')])),
    ]);
  if (s.externalFiles.length)
    entries.push([
      'external data',
      s.externalFiles.map((f) => {
        const data = loaded.external.get(f);
        return data ? `${f}  ${formatBytes(data.byteLength)}` : `${f}  (not found)`;
      }),
    ]);
  const lines = fields(entries);
  const ops = Object.entries(s.ops).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  lines.push('', 'operators (main graph)');
  lines.push(
    ...(ops.length
      ? table(
          ops.map(([op, n]) => [op, formatCount(n)]),
          '  ',
        )
      : ['  (no nodes)']),
  );
  const errors = issues.filter((i) => i.severity === 'error').length;
  const warnings = issues.length - errors;
  lines.push('');
  if (issues.length === 0) lines.push('validation    no problems found');
  else {
    lines.push(
      `validation    ${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}`,
    );
    lines.push(...issues.map((i) => `  ${issueLine(i)}`));
  }
  return lines;
}

/** `whittle inspect <model.onnx> [--json]` (CONTRACT.md, "Command line"). */
export const inspectCommand: CliCommand = {
  name: 'inspect',
  summary: 'summarize a model: shapes, node and parameter counts, operators, problems',
  usage,
  async run(args: string[], io: CliIO): Promise<number> {
    const { values, positionals } = parseCommandArgs('inspect', args, { json: { type: 'boolean' } });
    if (values.help) {
      io.stdout.write(`${usage}\n`);
      return 0;
    }
    if (positionals.length !== 1)
      throw new UsageError(
        `inspect: expected one model file, got ${positionals.length} (usage: npm run whittle -- inspect <model.onnx> [--json])`,
      );
    const loaded = loadModelFile(positionals[0], io.cwd);
    const issues: ValidationIssue[] = [
      ...loaded.externalProblems.map((message): ValidationIssue => ({
        severity: 'warning',
        graph: 'main',
        message,
      })),
      ...validateModel(loaded.model),
    ];
    if (values.json) io.stdout.write(`${toJson({ file: loaded.file, ...loaded.summary, issues })}\n`);
    else io.stdout.write(`${humanReport(loaded, issues).join('\n')}\n`);
    const errors = issues.filter((i) => i.severity === 'error');
    if (errors.length)
      throw new CliError(
        `invalid model "${loaded.file}": ${errors[0].message}${errors.length > 1 ? ` (and ${errors.length - 1} more problems)` : ''}`,
      );
    return 0;
  },
};
