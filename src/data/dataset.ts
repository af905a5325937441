import { z } from 'zod';
import { unzipSync } from 'fflate';
import type { ValueSummary } from '../onnx/summary';
import { DataFormatError, parseNpy, type NpyArray } from './npy';
import { dtypeInfo } from '../onnx/dtype';
import { decodeTensorProto } from '../onnx/codec';
import { tensorDims, tensorToFloat64 } from '../onnx/tensor';
import type { RtTensor } from '../runtime/types';
import { seededRandom } from '../runtime/inputs';

export { DataFormatError };

/** How each stored sample becomes exactly one model input (CONTRACT.md, "Dataset manifest"). */
export const PreprocessSchema = z.object({
  dtype: z.enum(['float32', 'uint8', 'int8', 'int32', 'int64']).default('float32'),
  /** The model input's shape with a batch of 1; symbolic dims resolved. Taken from the model when omitted. */
  shape: z.array(z.number().int().positive()).optional(),
  layout: z.enum(['NCHW', 'NHWC']).default('NCHW'),
  /** Image size [height, width] to resize to (bilinear); the model's spatial size when omitted. */
  resize: z.tuple([z.number().int().positive(), z.number().int().positive()]).optional(),
  /** Channel order of colour images fed to the model. */
  channels: z.enum(['RGB', 'BGR', 'gray']).optional(),
  /** Multiplier applied first (e.g. 1/255 to map pixels to 0–1). */
  scale: z.number().default(1),
  mean: z.array(z.number()).default([0]),
  std: z.array(z.number().refine((v) => v !== 0, 'std must not be 0')).default([1]),
});
export type Preprocess = z.output<typeof PreprocessSchema>;

export const ManifestSchema = z.object({
  'whittle-dataset': z.literal(1),
  samples: z.string().min(1),
  labels: z.string().optional(),
  input: z.string().optional(),
  preprocess: PreprocessSchema.default(PreprocessSchema.parse({})),
  split: z
    .object({
      train: z.number().int().nonnegative().default(0),
      calibration: z.number().int().nonnegative().optional(),
      evaluation: z.number().int().nonnegative().optional(),
    })
    .default({ train: 0 }),
  shuffle: z.number().int().optional(),
});
export type DatasetManifest = z.input<typeof ManifestSchema>;

/** Samples as stored, before preprocessing: `count` samples of `sampleShape`, row-major. */
export interface RawSamples {
  values: ArrayLike<number>;
  count: number;
  sampleShape: number[];
  labels?: Int32Array;
  classNames?: string[];
}

export interface Sample {
  feeds: Record<string, RtTensor>;
  label?: number;
}

export interface Splits {
  train: number[];
  calibration: number[];
  evaluation: number[];
}

/** Samples converted to a model input, with labels and disjoint splits. */
export class Dataset {
  constructor(
    readonly raw: RawSamples,
    readonly input: { name: string; elemType: number; shape: number[] },
    readonly preprocess: Preprocess,
    readonly splits: Splits,
    readonly name = 'dataset',
  ) {}

  get count(): number {
    return this.raw.count;
  }
  get hasLabels(): boolean {
    return this.raw.labels !== undefined;
  }

  label(i: number): number | undefined {
    return this.raw.labels?.[i];
  }

  /** The i-th stored sample preprocessed into the model input. */
  sample(i: number): Sample {
    const data = toModelInput(this.raw, i, this.input.shape, this.preprocess);
    const info = dtypeInfo(this.input.elemType);
    let typed: RtTensor['data'];
    if (!info.raw || info.raw === Float32Array) typed = data;
    else if (info.raw === BigInt64Array) typed = BigInt64Array.from(data, (v) => BigInt(Math.round(v)));
    else if (info.raw === BigUint64Array) typed = BigUint64Array.from(data, (v) => BigInt(Math.round(v)));
    else {
      const out = new (info.raw as Float64ArrayConstructor)(data.length);
      out.set(data);
      typed = out;
    }
    return {
      feeds: { [this.input.name]: { type: info.ort ?? 'float32', dims: this.input.shape, data: typed } },
      label: this.label(i),
    };
  }
}

/** Where the stored files come from: the browser's dropped files, or the disk in the CLI. */
export type FileReader = (relativePath: string) => Promise<Uint8Array>;
/** Lists the files under a folder (`samples` ending in `/`), as paths relative to that folder. */
export type FolderLister = (folder: string) => Promise<string[]>;
/** Decodes an image file to RGBA pixels (the browser uses createImageBitmap; Node has none by default). */
export type ImageDecoder = (
  bytes: Uint8Array,
  name: string,
) => Promise<{ width: number; height: number; rgba: Uint8Array }>;

function fieldError(field: string, message: string): DataFormatError {
  return new DataFormatError(`dataset manifest field "${field}": ${message}`);
}

/** Run a parse step, naming `field` in errors that do not name a field yet. */
function inField<T>(field: string, work: () => T): T {
  try {
    return work();
  } catch (e) {
    if (e instanceof DataFormatError && e.message.startsWith('dataset manifest field')) throw e;
    throw fieldError(field, e instanceof Error ? e.message : String(e));
  }
}

/** Parse and check a manifest's JSON; errors name the field. */
export function parseManifest(json: unknown): z.output<typeof ManifestSchema> {
  const r = ManifestSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw fieldError(issue.path.join('.') || 'whittle-dataset', issue.message);
  }
  return r.data;
}

function npyToRaw(a: NpyArray): RawSamples {
  const [count, ...sampleShape] = a.shape;
  const values =
    a.data instanceof BigInt64Array || a.data instanceof BigUint64Array
      ? Float64Array.from(a.data, Number)
      : a.data;
  return { values, count: count ?? 1, sampleShape };
}

function labelsFrom(values: ArrayLike<number | bigint>, what: string): Int32Array {
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = Number(values[i]);
    if (!Number.isInteger(v) || v < 0) throw fieldError('labels', `${what} holds ${v}, not a class index`);
    out[i] = v;
  }
  return out;
}

/** Parse CSV text into rows of cells (quoted fields supported). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      cell = '';
      if (row.some((x) => x.trim() !== '')) rows.push(row);
      row = [];
    } else cell += c;
  }
  row.push(cell);
  if (row.some((x) => x.trim() !== '')) rows.push(row);
  return rows;
}

function csvToRaw(text: string, labelColumn: string | undefined, file: string): RawSamples {
  const rows = parseCsv(text);
  if (rows.length < 2) throw fieldError('samples', `${file} has no data rows`);
  const header = rows[0].map((h) => h.trim());
  const labelIndex = labelColumn === undefined ? -1 : header.indexOf(labelColumn);
  if (labelColumn !== undefined && labelIndex < 0)
    throw fieldError('labels', `${file} has no column "${labelColumn}" (columns: ${header.join(', ')})`);
  const width = header.length - (labelIndex >= 0 ? 1 : 0);
  const values = new Float32Array((rows.length - 1) * width);
  const labels = labelIndex >= 0 ? new Int32Array(rows.length - 1) : undefined;
  const classNames: string[] = [];
  for (let r = 1; r < rows.length; r++) {
    const row = rows[r];
    if (row.length !== header.length)
      throw fieldError(
        'samples',
        `${file} row ${r + 1} has ${row.length} columns, the header has ${header.length}`,
      );
    let k = 0;
    row.forEach((cell, c) => {
      if (c === labelIndex) {
        const num = Number(cell);
        if (cell.trim() !== '' && Number.isInteger(num) && num >= 0) labels![r - 1] = num;
        else {
          let idx = classNames.indexOf(cell.trim());
          if (idx < 0) idx = classNames.push(cell.trim()) - 1;
          labels![r - 1] = idx;
        }
        return;
      }
      const v = Number(cell);
      if (cell.trim() === '' || Number.isNaN(v))
        throw fieldError('samples', `${file} row ${r + 1}, column "${header[c]}": "${cell}" is not a number`);
      values[(r - 1) * width + k++] = v;
    });
  }
  return {
    values,
    count: rows.length - 1,
    sampleShape: [width],
    labels,
    classNames: classNames.length ? classNames : undefined,
  };
}

function pbToRaw(files: Uint8Array[]): RawSamples {
  const tensors = files.map((b) => decodeTensorProto(b));
  const shape = tensorDims(tensors[0]);
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size * tensors.length);
  tensors.forEach((t, i) => {
    const v = tensorToFloat64(t);
    if (v.length !== size)
      throw fieldError('samples', `TensorProto ${i} has ${v.length} elements, the first has ${size}`);
    values.set(v, i * size);
  });
  return { values, count: tensors.length, sampleShape: shape[0] === 1 ? shape.slice(1) : shape };
}

async function imagesToRaw(
  entries: { path: string; bytes: Uint8Array }[],
  decode: ImageDecoder | undefined,
  size: [number, number],
  channels: number,
): Promise<RawSamples> {
  if (!decode) throw fieldError('samples', 'image folders need an image decoder (open them in the studio)');
  const images = entries.filter((e) => /\.(png|jpe?g|bmp|gif|webp)$/i.test(e.path));
  const classOf = (p: string) => p.split('/').filter(Boolean).slice(-2, -1)[0];
  const classNames = [...new Set(images.map((e) => classOf(e.path)).filter((c): c is string => !!c))].sort();
  if (images.length === 0) throw fieldError('samples', 'no images found (png, jpeg, bmp, gif, webp)');
  if (classNames.length === 0 || images.some((e) => !classOf(e.path)))
    throw fieldError('samples', 'images must sit in one subfolder per class (e.g. cat/1.png, dog/2.png)');
  images.sort((a, b) => a.path.localeCompare(b.path));
  const [h, w] = size;
  const values = new Float32Array(images.length * h * w * channels);
  const labels = new Int32Array(images.length);
  for (let i = 0; i < images.length; i++) {
    const img = await decode(images[i].bytes, images[i].path);
    const hwc = resizeBilinear(img.rgba, img.height, img.width, 4, h, w);
    for (let p = 0; p < h * w; p++) {
      if (channels === 1)
        values[(i * h * w + p) * channels] =
          0.299 * hwc[p * 4] + 0.587 * hwc[p * 4 + 1] + 0.114 * hwc[p * 4 + 2];
      else for (let c = 0; c < channels; c++) values[(i * h * w + p) * channels + c] = hwc[p * 4 + c];
    }
    labels[i] = classNames.indexOf(classOf(images[i].path)!);
  }
  return { values, count: images.length, sampleShape: [h, w, channels], labels, classNames };
}

/** Bilinear resize of an HWC image (align_corners = false, as most training pipelines do). */
export function resizeBilinear(
  src: ArrayLike<number>,
  h: number,
  w: number,
  c: number,
  oh: number,
  ow: number,
): Float32Array {
  const out = new Float32Array(oh * ow * c);
  const sy = h / oh;
  const sx = w / ow;
  for (let y = 0; y < oh; y++) {
    const fy = Math.min(h - 1, Math.max(0, (y + 0.5) * sy - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(h - 1, y0 + 1);
    const dy = fy - y0;
    for (let x = 0; x < ow; x++) {
      const fx = Math.min(w - 1, Math.max(0, (x + 0.5) * sx - 0.5));
      const x0 = Math.floor(fx);
      const x1 = Math.min(w - 1, x0 + 1);
      const dx = fx - x0;
      for (let k = 0; k < c; k++) {
        const a = src[(y0 * w + x0) * c + k] * (1 - dx) + src[(y0 * w + x1) * c + k] * dx;
        const b = src[(y1 * w + x0) * c + k] * (1 - dx) + src[(y1 * w + x1) * c + k] * dx;
        out[(y * ow + x) * c + k] = a * (1 - dy) + b * dy;
      }
    }
  }
  return out;
}

/** Image geometry of a model input shape (batch first) in the given layout, or undefined when not an image. */
function imageGeometry(
  shape: number[],
  layout: 'NCHW' | 'NHWC',
): { c: number; h: number; w: number } | undefined {
  if (shape.length !== 4) return undefined;
  return layout === 'NCHW'
    ? { c: shape[1], h: shape[2], w: shape[3] }
    : { c: shape[3], h: shape[1], w: shape[2] };
}

/** Interpret a stored sample shape as an image: [H,W], [H,W,C] (C ≤ 4) or [C,H,W]. */
function storedGeometry(s: number[]): { c: number; h: number; w: number; chw: boolean } | undefined {
  if (s.length === 2) return { h: s[0], w: s[1], c: 1, chw: false };
  if (s.length === 3 && s[2] <= 4) return { h: s[0], w: s[1], c: s[2], chw: false };
  if (s.length === 3 && s[0] <= 4) return { c: s[0], h: s[1], w: s[2], chw: true };
  return undefined;
}

/** Convert stored sample i to the model input (scale, mean/std, resize, layout). */
export function toModelInput(raw: RawSamples, i: number, shape: number[], p: Preprocess): Float32Array {
  const size = raw.sampleShape.reduce((a, b) => a * b, 1);
  const total = shape.reduce((a, b) => a * b, 1);
  const src = Array.prototype.slice.call(raw.values, i * size, (i + 1) * size) as number[];
  const norm = (v: number, c: number) => (v * p.scale - p.mean[c % p.mean.length]) / p.std[c % p.std.length];
  const target = imageGeometry(shape, p.layout);
  const stored = storedGeometry(raw.sampleShape);
  if (
    target &&
    stored &&
    (stored.h !== target.h ||
      stored.w !== target.w ||
      stored.c !== target.c ||
      stored.chw !== (p.layout === 'NCHW'))
  ) {
    let hwc: ArrayLike<number> = src;
    if (stored.chw) {
      const t = new Float32Array(size);
      for (let c = 0; c < stored.c; c++)
        for (let q = 0; q < stored.h * stored.w; q++) t[q * stored.c + c] = src[c * stored.h * stored.w + q];
      hwc = t;
    }
    if (stored.h !== target.h || stored.w !== target.w)
      hwc = resizeBilinear(hwc, stored.h, stored.w, stored.c, target.h, target.w);
    const out = new Float32Array(total);
    const plane = target.h * target.w;
    for (let q = 0; q < plane; q++)
      for (let c = 0; c < target.c; c++) {
        const from =
          stored.c === 1
            ? hwc[q]
            : target.c === 1 && stored.c >= 3
              ? 0.299 * hwc[q * stored.c] + 0.587 * hwc[q * stored.c + 1] + 0.114 * hwc[q * stored.c + 2]
              : hwc[q * stored.c + (p.channels === 'BGR' ? stored.c - 1 - c : c)];
        out[p.layout === 'NCHW' ? c * plane + q : q * target.c + c] = norm(from, c);
      }
    return out;
  }
  if (size !== total)
    throw fieldError(
      'preprocess.shape',
      `a stored sample has shape [${raw.sampleShape.join(', ')}] (${size} values) but the model input needs [${shape.join(', ')}] (${total})`,
    );
  const out = new Float32Array(total);
  const channelStride = target ? (p.layout === 'NCHW' ? target.h * target.w : 1) : total;
  const channels = target?.c ?? 1;
  for (let k = 0; k < total; k++) {
    const c = target ? (p.layout === 'NCHW' ? Math.floor(k / channelStride) % channels : k % channels) : 0;
    out[k] = norm(src[k], c);
  }
  return out;
}

/** The model input the dataset feeds, with a batch of 1 and other symbolic dims from `preprocess.shape`. */
function resolveInput(inputs: readonly ValueSummary[], wanted: string | undefined, p: Preprocess) {
  if (wanted !== undefined && !inputs.some((v) => v.name === wanted))
    throw fieldError(
      'input',
      `the model has no input "${wanted}" (inputs: ${inputs.map((v) => v.name).join(', ')})`,
    );
  if (wanted === undefined && inputs.length !== 1)
    throw fieldError(
      'input',
      `the model has ${inputs.length} inputs (${inputs.map((v) => v.name).join(', ')}); name one`,
    );
  const v = inputs.find((x) => x.name === (wanted ?? inputs[0].name))!;
  const modelShape = v.shape ?? [];
  let shape: number[];
  if (p.shape) {
    if (p.shape.length !== modelShape.length)
      throw fieldError(
        'preprocess.shape',
        `[${p.shape.join(', ')}] has rank ${p.shape.length}; input "${v.name}" has rank ${modelShape.length}`,
      );
    p.shape.forEach((d, k) => {
      const m = modelShape[k];
      if (typeof m === 'number' && m !== d)
        throw fieldError('preprocess.shape', `dimension ${k} is ${d} but input "${v.name}" fixes it at ${m}`);
    });
    shape = p.shape;
  } else shape = modelShape.map((d, k) => (typeof d === 'number' ? d : k === 0 ? 1 : NaN));
  if (shape.some((d) => !Number.isFinite(d)))
    throw fieldError('preprocess.shape', `input "${v.name}" has symbolic dimensions; give the full shape`);
  if (p.resize && imageGeometry(shape, p.layout)) {
    const g = imageGeometry(shape, p.layout)!;
    if (g.h !== p.resize[0] || g.w !== p.resize[1])
      throw fieldError(
        'preprocess.resize',
        `[${p.resize.join(', ')}] differs from the input's ${g.h}×${g.w}`,
      );
  }
  return { name: v.name, elemType: v.elemType ?? 1, shape };
}

/** Disjoint splits in file order (train, calibration, evaluation), or shuffled with a seed. */
export function makeSplits(
  count: number,
  split: { train: number; calibration?: number; evaluation?: number },
  shuffle?: number,
): Splits {
  const order = Array.from({ length: count }, (_, i) => i);
  if (shuffle !== undefined) {
    const rand = seededRandom(shuffle);
    for (let i = count - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
  }
  const train = split.train;
  const rest = count - train;
  const calibration = split.calibration ?? Math.min(rest, Math.max(0, Math.floor(rest / 2)));
  const evaluation = split.evaluation ?? count - train - calibration;
  if (train + calibration + evaluation > count)
    throw fieldError(
      'split',
      `train ${train} + calibration ${calibration} + evaluation ${evaluation} = ${train + calibration + evaluation} exceeds the ${count} samples`,
    );
  return {
    train: order.slice(0, train),
    calibration: order.slice(train, train + calibration),
    evaluation: order.slice(train + calibration, train + calibration + evaluation),
  };
}

/**
 * Load a dataset described by a manifest for a model's inputs. `read` fetches files named relative to
 * the manifest; errors name the manifest field at fault.
 */
export async function loadDataset(
  manifestJson: unknown,
  read: FileReader,
  inputs: readonly ValueSummary[],
  options: { decodeImage?: ImageDecoder; name?: string; list?: FolderLister } = {},
): Promise<Dataset> {
  const m = parseManifest(manifestJson);
  const input = resolveInput(inputs, m.input, m.preprocess);
  const readField = async (field: string, path: string) => {
    try {
      return await read(path);
    } catch (e) {
      throw fieldError(field, `cannot read "${path}": ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  const listFolder = async (folder: string) => {
    if (!options.list) throw fieldError('samples', `cannot list the folder "${folder}" here`);
    const paths = await options.list(folder);
    if (paths.length === 0) throw fieldError('samples', `the folder "${folder}" is empty`);
    return paths;
  };
  const samplesPath = m.samples;
  let raw: RawSamples;
  const lower = samplesPath.toLowerCase();
  if (lower.endsWith('.npy')) {
    const bytes = await readField('samples', samplesPath);
    raw = npyToRaw(inField('samples', () => parseNpy(bytes, samplesPath)));
  } else if (lower.endsWith('.npz')) {
    const npz = await readField('samples', samplesPath);
    const entries = inField('samples', () => unzipNpz(npz, samplesPath));
    const key = [...entries.keys()].find((k) => k !== m.labels) ?? '';
    raw = npyToRaw(entries.get(key)!);
    if (m.labels !== undefined) {
      const l = entries.get(m.labels);
      if (!l)
        throw fieldError(
          'labels',
          `${samplesPath} has no array "${m.labels}" (arrays: ${[...entries.keys()].join(', ')})`,
        );
      raw.labels = labelsFrom(l.data, `${samplesPath}:${m.labels}`);
    }
  } else if (lower.endsWith('.csv')) {
    raw = csvToRaw(new TextDecoder().decode(await readField('samples', samplesPath)), m.labels, samplesPath);
  } else if (lower.endsWith('.pb')) {
    const pb = await readField('samples', samplesPath);
    raw = inField('samples', () => pbToRaw([pb]));
  } else if (lower.endsWith('/') && (await listFolder(samplesPath)).some((p) => /\.pb$/i.test(p))) {
    const pbs = (await listFolder(samplesPath)).filter((p) => /\.pb$/i.test(p)).sort();
    const files = await Promise.all(pbs.map((p) => readField('samples', samplesPath + p)));
    raw = inField('samples', () => pbToRaw(files));
  } else if (lower.endsWith('.zip') || lower.endsWith('/')) {
    const g = imageGeometry(input.shape, m.preprocess.layout);
    if (!g)
      throw fieldError(
        'samples',
        `image folders need a 4-D image input; "${input.name}" is [${input.shape.join(', ')}]`,
      );
    const zip = lower.endsWith('.zip') ? await readField('samples', samplesPath) : undefined;
    const entries = zip
      ? Object.entries(inField('samples', () => unzipSync(zip))).map(([path, bytes]) => ({ path, bytes }))
      : await Promise.all(
          (await listFolder(samplesPath)).map(async (path) => ({
            path,
            bytes: await readField('samples', samplesPath + path),
          })),
        );
    raw = await imagesToRaw(entries, options.decodeImage, [g.h, g.w], g.c);
  } else
    throw fieldError(
      'samples',
      `"${samplesPath}" is not a supported format (.npy, .npz, .csv, .pb, a folder or .zip of class folders, a folder of .pb files)`,
    );

  if (m.labels !== undefined && !raw.labels) {
    const lp = m.labels;
    if (!lp.toLowerCase().endsWith('.npy'))
      throw fieldError('labels', `"${lp}" must be an .npy file for these samples`);
    const labelBytes = await readField('labels', lp);
    const l = inField('labels', () => parseNpy(labelBytes, lp));
    raw.labels = labelsFrom(l.data, lp);
  }
  if (raw.labels && raw.labels.length !== raw.count)
    throw fieldError('labels', `${raw.labels.length} labels for ${raw.count} samples`);
  const splits = makeSplits(raw.count, m.split, m.shuffle);
  const dataset = new Dataset(raw, input, m.preprocess, splits, options.name ?? samplesPath);
  if (raw.count > 0) dataset.sample(0); // surfaces shape mismatches now, naming the field
  return dataset;
}

function unzipNpz(bytes: Uint8Array, file: string): Map<string, NpyArray> {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes);
  } catch {
    throw fieldError('samples', `${file} is not a valid .npz (zip) archive`);
  }
  const out = new Map<string, NpyArray>();
  for (const [name, data] of Object.entries(files))
    if (name.endsWith('.npy')) out.set(name.slice(0, -4), parseNpy(data, `${file}:${name}`));
  if (out.size === 0) throw fieldError('samples', `${file} holds no .npy arrays`);
  return out;
}
