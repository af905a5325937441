import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadDataset, DataFormatError, type Dataset } from '../../data/dataset';
import { createNodeRuntime } from '../../runtime/node';
import { parseRecipe, RecipeError, type Recipe } from '../../pipeline/recipe';
import { runPipeline, type StageResult } from '../../pipeline/runner';
import {
  CliError,
  UsageError,
  errorMessage,
  integerOption,
  parseCommandArgs,
  type CliCommand,
  type CliIO,
} from '../io';
import { loadModelFile, readFileBytes } from '../model-file';
import { table, toJson } from '../format';
import { exportStageModel } from '../../pipeline/provenance';
import { buildReportData } from '../../report/reportData';
import { makeReportPdf } from '../../report/pdf';
import {
  formatAbsError,
  formatBytes,
  formatCount,
  formatMs,
  formatPercent,
  formatSqnr,
} from '../../report/format';
import { whittleVersion } from '../../report/version';
import { findStage } from '../../passes/registry';
import { cliTraining, quietTensorFlow } from '../training';

const usage = `Usage: npm run whittle -- optimize <model.onnx> --recipe <recipe.json> -o <out.onnx> [--data <dataset.json>] [--report <report.pdf|report.json>]

Run a recipe stage by stage with onnxruntime-node (the same runner and stages as the studio),
print per-stage metrics, and write the last stage's model with the recipe and per-stage metrics
in its metadata (as the studio exports it). A recipe that leaves the model unchanged (an empty
one) writes the input back byte for byte.

Options:
  --recipe FILE   recipe JSON: { "whittle": 1, "stages": [ { "stage": "<id>", "params": { … } } ] }
  -o, --output F  where to write the optimized model
  --data FILE     dataset manifest (CONTRACT.md); its files are read relative to the manifest
  --report FILE   write the report: a PDF (.pdf, as the studio's) or the per-stage results as JSON (.json)
  --eval N        evaluation samples at most (default 1000)
  --runs N        timed latency runs per stage (default 20)
  --threads N     intra-op threads (default: one per logical CPU)
  -h, --help      show this help`;

function readJson(file: string, what: string, cwd: string): { value: unknown; dir: string } {
  const abs = path.resolve(cwd, file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read ${what} "${file}": ${errorMessage(e)}`);
  }
  try {
    return { value: JSON.parse(text) as unknown, dir: path.dirname(abs) };
  } catch (e) {
    throw new CliError(`${what} "${file}" is not valid JSON: ${errorMessage(e)}`);
  }
}

/** The per-stage table the CLI prints. */
export function resultTable(results: StageResult[]): string[] {
  const rows = [
    [
      '#',
      'stage',
      'status',
      'size',
      'gzip',
      'params',
      'sparsity',
      'MACs',
      'peak act.',
      'median',
      'p95',
      'accuracy',
      'top-1 agr.',
      'SQNR',
      'max err',
    ],
  ];
  for (const r of results) {
    const m = r.metrics;
    rows.push([
      String(r.index),
      r.stage ?? 'original',
      r.status + (r.cached ? ' (cached)' : ''),
      formatBytes(m?.bytes),
      formatBytes(m?.gzipBytes),
      formatCount(m?.parameters),
      formatPercent(m?.sparsity),
      formatCount(m?.macs),
      formatBytes(m?.peakActivationBytes),
      formatMs(m?.latency.medianMs),
      formatMs(m?.latency.p95Ms),
      formatPercent(m?.accuracy),
      formatPercent(m?.agreement),
      formatSqnr(m?.sqnrDb),
      formatAbsError(m?.maxAbsError),
    ]);
  }
  return table(rows);
}

/** `whittle optimize` (CONTRACT.md, "Command line"). */
export const optimizeCommand: CliCommand = {
  name: 'optimize',
  summary: 'run a recipe on a model, print per-stage metrics, write the optimized model',
  usage,
  async run(args: string[], io: CliIO): Promise<number> {
    const { values, positionals } = parseCommandArgs('optimize', args, {
      recipe: { type: 'string' },
      output: { type: 'string', short: 'o' },
      data: { type: 'string' },
      report: { type: 'string' },
      eval: { type: 'string' },
      runs: { type: 'string' },
      threads: { type: 'string' },
    });
    if (values.help) {
      io.stdout.write(`${usage}\n`);
      return 0;
    }
    if (positionals.length !== 1)
      throw new UsageError(`optimize: expected one model file, got ${positionals.length}`);
    if (!values.recipe) throw new UsageError('optimize: --recipe <recipe.json> is required');
    if (!values.output) throw new UsageError('optimize: -o <out.onnx> is required');
    const reportKind = values.report ? path.extname(values.report).toLowerCase() : undefined;
    if (values.report && reportKind !== '.json' && reportKind !== '.pdf')
      throw new UsageError(
        `optimize: --report writes a PDF (.pdf) or JSON (.json) report, not "${values.report}"`,
      );
    const maxEval = integerOption('optimize', 'eval', values.eval) ?? 1000;
    const runs = integerOption('optimize', 'runs', values.runs) ?? 20;
    const threads = integerOption('optimize', 'threads', values.threads);

    const loaded = loadModelFile(positionals[0], io.cwd);
    if (loaded.externalProblems.length)
      throw new CliError(`cannot run "${loaded.file}": ${loaded.externalProblems[0]}`);
    let recipe: Recipe;
    try {
      recipe = parseRecipe(readJson(values.recipe, 'recipe', io.cwd).value);
    } catch (e) {
      if (e instanceof RecipeError)
        throw new CliError(`invalid recipe "${values.recipe}": ${errorMessage(e)}`);
      throw e;
    }
    let dataset: Dataset | undefined;
    if (values.data) {
      const { value, dir } = readJson(values.data, 'dataset manifest', io.cwd);
      try {
        dataset = await loadDataset(
          value,
          async (p) => readFileBytes(path.resolve(dir, p)),
          loaded.summary.inputs,
          {
            name: values.data,
          },
        );
      } catch (e) {
        if (e instanceof DataFormatError)
          throw new CliError(`invalid dataset "${values.data}": ${errorMessage(e)}`);
        throw e;
      }
    }
    const runtime = createNodeRuntime({ threads });
    const tty = (io.stderr as { isTTY?: boolean }).isTTY === true;
    const trains = recipe.stages.some((s) => {
      const stage = findStage(s.stage);
      return s.enabled !== false && (stage?.category === 'train' || stage?.trains === true);
    });
    if (trains) await quietTensorFlow();
    const results = await runPipeline({
      modelBytes: loaded.bytes,
      external: loaded.external,
      recipe,
      runtime,
      dataset,
      maxEvalSamples: maxEval,
      latencyRuns: runs,
      onProgress: (index, done, total, note) => {
        if (tty) io.stderr.write(`\r  stage ${index}: ${note ?? ''} ${done}/${total}        `);
      },
      training: cliTraining(io, tty),
      onResult: (r) => {
        if (tty) io.stderr.write('\r');
        io.stderr.write(
          `  ${r.index} ${r.stage ?? 'original'}: ${r.status}${r.error ? ` — ${r.error}` : ''}\n`,
        );
      },
    });
    io.stdout.write(`${resultTable(results).join('\n')}\n`);
    for (const r of results) for (const n of r.notes) io.stdout.write(`  ${r.index} ${r.stage}: ${n}\n`);
    const failed = results.find((r) => r.status === 'error' || r.status === 'cancelled');
    const last = [...results].reverse().find((r) => r.status === 'done' && r.modelBytes);
    const exported = last
      ? await exportStageModel({
          modelFileName: loaded.file,
          results,
          upTo: last.index,
          recipe,
          version: whittleVersion,
          external: loaded.external,
        })
      : undefined;
    if (values.report && reportKind === '.json') {
      const report = {
        whittle: 1,
        model: loaded.file,
        recipe,
        runtime: {
          name: runtime.name,
          version: runtime.version,
          backend: runtime.backend,
          threads: runtime.threads,
        },
        dataset: values.data ?? null,
        stages: results.map(({ modelBytes: _bytes, ...rest }) => rest),
      };
      writeFileSync(path.resolve(io.cwd, values.report), `${toJson(report)}\n`);
    } else if (values.report) {
      const evaluated = results[0]?.metrics?.evaluatedSamples;
      const data = await buildReportData({
        modelName: path.basename(loaded.file),
        results,
        recipe,
        version: whittleVersion,
        external: loaded.external,
        exported,
        environment: {
          runtime: runtime.name,
          runtimeVersion: runtime.version,
          backend: runtime.backend,
          threads: runtime.threads,
          agent: `Node ${process.version} (${process.platform} ${process.arch})`,
          evaluation:
            dataset && evaluated !== undefined
              ? `${formatCount(evaluated)} samples of ${values.data} (evaluation split)`
              : undefined,
        },
      });
      writeFileSync(path.resolve(io.cwd, values.report), await makeReportPdf(data));
    }
    if (failed)
      throw new CliError(
        `stage ${failed.index} (${failed.stage ?? 'original'}) failed: ${failed.error ?? failed.status}; no model written`,
      );
    writeFileSync(path.resolve(io.cwd, values.output), exported!.bytes);
    return 0;
  },
};
