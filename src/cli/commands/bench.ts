import { checkModel, ModelValidationError } from '../../onnx/validate';
import {
  generateInputs,
  InputGenerationError,
  symbolicDims,
  concreteShape,
  type DimDefaults,
} from '../../runtime/inputs';
import { measureLatency } from '../../runtime/latency';
import { createNodeRuntime } from '../../runtime/node';
import { fields, formatMs, toJson } from '../format';
import {
  CliError,
  UsageError,
  errorMessage,
  integerOption,
  parseCommandArgs,
  type CliCommand,
  type CliIO,
} from '../io';
import { loadModelFile } from '../model-file';

const usage = `Usage: npm run whittle -- bench <model.onnx> [--runs N] [--warmup N] [--threads N] [--dim name=value ...] [--json]

Measure the model's latency in onnxruntime-node (CPU) on generated inputs that match its input
types and shapes: median and p95 over the timed runs, after untimed warm-up runs.

Options:
  --runs N          timed runs (default 50; stops early after 30 s once 3 runs are done)
  --warmup N        untimed runs first (default 5)
  --threads N       intra-op threads (default: one per logical CPU)
  --dim name=value  size of a symbolic input dimension (default 1); "*" sets unnamed ones
  --json            print one JSON object instead of text
  -h, --help        show this help`;

function parseDims(specs: string[], known: string[]): DimDefaults {
  const dims: DimDefaults = {};
  for (const spec of specs) {
    const m = /^([^=]+)=(\d+)$/.exec(spec.trim());
    if (!m || Number(m[2]) < 1)
      throw new UsageError(`bench: --dim expects name=value with a positive integer value, got "${spec}"`);
    const [, name, value] = m;
    if (!known.includes(name))
      throw new UsageError(
        `bench: the model's inputs have no symbolic dimension "${name}" (${
          known.length ? `they have: ${known.join(', ')}` : 'all their dimensions are fixed'
        })`,
      );
    dims[name] = Number(value);
  }
  return dims;
}

/** `whittle bench <model.onnx> [--runs N]` (CONTRACT.md, "Command line"). */
export const benchCommand: CliCommand = {
  name: 'bench',
  summary: 'measure latency (median, p95) in onnxruntime-node on generated inputs',
  usage,
  async run(args: string[], io: CliIO): Promise<number> {
    const { values, positionals } = parseCommandArgs('bench', args, {
      runs: { type: 'string' },
      warmup: { type: 'string' },
      threads: { type: 'string' },
      dim: { type: 'string', multiple: true },
      json: { type: 'boolean' },
    });
    if (values.help) {
      io.stdout.write(`${usage}\n`);
      return 0;
    }
    if (positionals.length !== 1)
      throw new UsageError(
        `bench: expected one model file, got ${positionals.length} (see "npm run whittle -- help bench")`,
      );
    const runs = integerOption('bench', 'runs', values.runs) ?? 50;
    const warmup = integerOption('bench', 'warmup', values.warmup, 0) ?? 5;
    const threads = integerOption('bench', 'threads', values.threads);

    const loaded = loadModelFile(positionals[0], io.cwd);
    const { summary } = loaded;
    if (loaded.externalProblems.length)
      throw new CliError(`cannot run "${loaded.file}": ${loaded.externalProblems[0]}`);
    try {
      for (const w of checkModel(loaded.model)) io.stderr.write(`whittle: warning: ${w.message}\n`);
    } catch (e) {
      if (e instanceof ModelValidationError)
        throw new CliError(`invalid model "${loaded.file}": ${errorMessage(e)}`);
      throw e;
    }
    const dimNames = symbolicDims(summary.inputs);
    const dims = parseDims(values.dim ?? [], dimNames);
    let feeds;
    try {
      feeds = generateInputs(summary.inputs, dims);
    } catch (e) {
      if (e instanceof InputGenerationError)
        throw new CliError(`cannot generate inputs for "${loaded.file}": ${errorMessage(e)}`);
      throw e;
    }

    const runtime = createNodeRuntime({ threads });
    let session;
    try {
      session = await runtime.createSession(loaded.bytes, { externalData: loaded.external });
    } catch (e) {
      throw new CliError(
        `onnxruntime-node ${runtime.version} cannot load "${loaded.file}": ${errorMessage(e)}`,
      );
    }
    let latency;
    try {
      latency = await measureLatency(session, feeds, { runs, warmup });
    } catch (e) {
      const shapes = summary.inputs.map((v) => `${v.name}[${concreteShape(v.shape, dims).join(',')}]`);
      const hint = dimNames.length
        ? ` (generated inputs: ${shapes.join(', ')}; set symbolic dimensions with --dim name=value, "*" for unnamed ones)`
        : '';
      throw new CliError(`running "${loaded.file}" in onnxruntime-node failed: ${errorMessage(e)}${hint}`);
    } finally {
      await session.release();
    }

    const inputs = summary.inputs.map((v) => ({
      name: v.name,
      type: v.type,
      shape: concreteShape(v.shape, dims),
    }));
    if (values.json) {
      const result = {
        file: loaded.file,
        runtime: runtime.name,
        version: runtime.version,
        backend: runtime.backend,
        threads: runtime.threads,
        inputs,
        ...latency,
      };
      io.stdout.write(`${toJson(result)}\n`);
      return 0;
    }
    const stoppedEarly = latency.runs < runs ? ` (stopped early: the ${runs} runs would exceed 30 s)` : '';
    const lines = fields([
      ['model', loaded.file],
      [
        'runtime',
        `${runtime.name} ${runtime.version}, ${runtime.backend}, ${runtime.threads} thread${runtime.threads === 1 ? '' : 's'}`,
      ],
      ['inputs', inputs.map((v) => `${v.name}  ${v.type}[${v.shape.join(',')}]`)],
      ['runs', `${latency.runs} timed after ${latency.warmup} warm-up${stoppedEarly}`],
      ['median', `${formatMs(latency.medianMs)} ms`],
      ['p95', `${formatMs(latency.p95Ms)} ms`],
      ['min', `${formatMs(latency.minMs)} ms`],
      ['mean', `${formatMs(latency.meanMs)} ms`],
    ]);
    io.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  },
};
