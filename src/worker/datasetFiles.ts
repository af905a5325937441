import { unzipSync } from 'fflate';
import {
  DataFormatError,
  parseCsv,
  parseManifest,
  type Dataset,
  type DatasetManifest,
  type FileReader,
  type FolderLister,
} from '../data/dataset';
import { parseNpy } from '../data/npy';
import { DataType } from '../onnx/dtype';
import type { ValueSummary } from '../onnx/summary';

/** A file of a dataset as the page hands it over: its path (relative, `/`-separated) and bytes. */
export interface DatasetFile {
  path: string;
  bytes: Uint8Array;
}

/** A decoded sample as the dataset panel previews it. */
export interface SamplePreview {
  /** Index of the sample in the stored file order. */
  index: number;
  label?: number;
  /** The label's class name, when the data names its classes. */
  className?: string;
  /** The preprocessed input drawn as a picture (image-like inputs), RGBA. */
  image?: { width: number; height: number; rgba: Uint8ClampedArray };
  /** The first preprocessed values (other inputs). */
  values?: number[];
}

const imagePattern = /\.(png|jpe?g|bmp|gif|webp)$/i;
const labelNames = ['label', 'labels', 'y', 'target', 'targets', 'class', 'classes', 'digit'];

/** 'a/./b//c' → 'a/b/c', no leading slash. */
export function normalizePath(path: string): string {
  return path
    .replace(/\\/g, '/')
    .split('/')
    .filter((p) => p !== '' && p !== '.')
    .join('/');
}

function dirOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i + 1);
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** The opened files by path; manifests name them relative to the manifest's folder. */
export class DatasetFileSet {
  private readonly byPath = new Map<string, Uint8Array>();

  constructor(files: readonly DatasetFile[]) {
    for (const f of files) this.byPath.set(normalizePath(f.path), f.bytes);
  }

  get paths(): string[] {
    return [...this.byPath.keys()];
  }

  get(path: string): Uint8Array | undefined {
    return this.byPath.get(normalizePath(path));
  }

  /** Total size in bytes. */
  get bytes(): number {
    let n = 0;
    for (const b of this.byPath.values()) n += b.byteLength;
    return n;
  }

  /** Reads files named relative to `base`; a bare file name is also found anywhere when unique. */
  reader(base: string): FileReader {
    return async (relative) => {
      const exact = this.byPath.get(normalizePath(base + relative));
      if (exact) return exact;
      const leaf = baseName(normalizePath(relative));
      const matches = this.paths.filter((p) => baseName(p) === leaf);
      if (matches.length === 1) return this.byPath.get(matches[0])!;
      throw new Error(`"${relative}" is not among the opened files; open it together with the manifest`);
    };
  }

  /** Lists the files under a folder named relative to `base`, relative to that folder. */
  lister(base: string): FolderLister {
    return async (folder) => {
      const prefix = folder === './' ? normalizePath(base) : normalizePath(base + folder);
      const start = prefix ? `${prefix}/` : '';
      return this.paths.filter((p) => p.startsWith(start)).map((p) => p.slice(start.length));
    };
  }
}

/** Column names of a CSV file (its first row). */
export function csvColumns(bytes: Uint8Array): string[] {
  const text = new TextDecoder().decode(bytes.subarray(0, 64 * 1024));
  const firstLine = text.split(/\r?\n/, 1)[0] ?? '';
  return (parseCsv(firstLine)[0] ?? []).map((c) => c.trim());
}

/** Array names inside an .npz archive (without decompressing them). */
export function npzKeys(bytes: Uint8Array): string[] {
  const keys: string[] = [];
  try {
    unzipSync(bytes, {
      filter: (f) => {
        if (f.name.endsWith('.npy')) keys.push(f.name.slice(0, -4));
        return false;
      },
    });
  } catch {
    return [];
  }
  return keys;
}

const isLabelName = (name: string) => labelNames.includes(name.trim().toLowerCase());

function isLabelFile(path: string): boolean {
  const stem = baseName(path)
    .replace(/\.npy$/i, '')
    .toLowerCase();
  return isLabelName(stem) || /(^|[-_.])(labels?|targets?|y)$/.test(stem) || /label/.test(stem);
}

/** What the dataset panel can offer for the opened files (column and array pickers). */
export interface DatasetChoices {
  csvColumns?: string[];
  npzKeys?: string[];
}

export function datasetChoices(
  files: DatasetFileSet,
  manifest: DatasetManifest,
  base: string,
): DatasetChoices {
  const bytes = files.get(base + manifest.samples);
  if (!bytes) return {};
  const lower = manifest.samples.toLowerCase();
  if (lower.endsWith('.csv')) return { csvColumns: csvColumns(bytes) };
  if (lower.endsWith('.npz')) return { npzKeys: npzKeys(bytes) };
  return {};
}

/** The model input a dataset feeds by default: the only one, else the first float input. */
export function defaultInput(inputs: readonly ValueSummary[]): ValueSummary | undefined {
  return inputs.find((v) => v.elemType === DataType.FLOAT) ?? inputs[0];
}

function guessSamples(files: DatasetFileSet): { samples: string; labels?: string; integerPixels: boolean } {
  const paths = files.paths;
  const images = paths.filter((p) => imagePattern.test(p));
  if (images.length) {
    const roots = new Set(images.map((p) => dirOf(dirOf(p).replace(/\/$/, ''))));
    if (roots.size !== 1 || images.some((p) => dirOf(p) === ''))
      throw new DataFormatError(
        'dataset manifest field "samples": images must sit in one subfolder per class, all in one folder (e.g. digits/3/a.png)',
      );
    const root = [...roots][0];
    return { samples: root === '' ? './' : root, labels: 'class folders', integerPixels: true };
  }
  const byExt = (ext: string) => paths.filter((p) => p.toLowerCase().endsWith(ext));
  const zips = byExt('.zip');
  if (zips.length) return { samples: zips[0], labels: 'class folders', integerPixels: true };
  const npz = byExt('.npz');
  if (npz.length) {
    const keys = npzKeys(files.get(npz[0])!);
    return { samples: npz[0], labels: keys.find(isLabelName), integerPixels: false };
  }
  const npy = byExt('.npy');
  if (npy.length) {
    const labels = npy.length > 1 ? npy.find(isLabelFile) : undefined;
    const rest = npy.filter((p) => p !== labels);
    const samples = rest.sort((a, b) => files.get(b)!.byteLength - files.get(a)!.byteLength)[0];
    const dtype = parseNpy(files.get(samples)!, samples).dtype;
    return { samples, labels, integerPixels: /u1|uint8/.test(dtype) };
  }
  const csv = byExt('.csv');
  if (csv.length) {
    const columns = csvColumns(files.get(csv[0])!);
    return { samples: csv[0], labels: columns.find(isLabelName), integerPixels: false };
  }
  const pb = byExt('.pb');
  if (pb.length === 1) return { samples: pb[0], integerPixels: false };
  if (pb.length > 1) {
    const dirs = new Set(pb.map(dirOf));
    if (dirs.size !== 1)
      throw new DataFormatError(
        'dataset manifest field "samples": put the TensorProto .pb files in one folder (one sample per file)',
      );
    const dir = [...dirs][0];
    return { samples: dir === '' ? './' : dir, integerPixels: false };
  }
  throw new DataFormatError(
    `dataset manifest field "samples": none of the files is a dataset (${paths.slice(0, 5).join(', ')}); open .npy/.npz, .csv, .pb, images in class folders, a .zip of them, or a manifest .json`,
  );
}

/**
 * A manifest for the opened files: the manifest among them when there is one (its folder is the
 * base of the paths it names), otherwise one guessed from the files and the model's input.
 */
export function manifestFor(
  files: DatasetFileSet,
  inputs: readonly ValueSummary[],
): { manifest: DatasetManifest; base: string; imported: boolean } {
  const json = files.paths.filter((p) => p.toLowerCase().endsWith('.json'));
  if (json.length) {
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder().decode(files.get(json[0])!));
    } catch (e) {
      throw new DataFormatError(
        `dataset manifest field "whittle-dataset": ${baseName(json[0])} is not valid JSON (${e instanceof Error ? e.message : String(e)})`,
      );
    }
    parseManifest(value);
    return { manifest: value as DatasetManifest, base: dirOf(json[0]), imported: true };
  }
  const guess = guessSamples(files);
  const input = defaultInput(inputs);
  const shape = input?.shape ?? [];
  const layout =
    shape.length === 4 && (shape[3] === 1 || shape[3] === 3) && shape[1] !== 1 && shape[1] !== 3
      ? 'NHWC'
      : 'NCHW';
  const manifest: DatasetManifest = {
    'whittle-dataset': 1,
    samples: guess.samples,
    ...(guess.labels && guess.labels !== 'class folders' ? { labels: guess.labels } : {}),
    ...(input ? { input: input.name } : {}),
    preprocess: {
      layout,
      scale: guess.integerPixels ? 1 / 255 : 1,
      mean: [0],
      std: [1],
    },
    split: { train: 0 },
  };
  return { manifest, base: '', imported: false };
}

/** Default split sizes for a dataset of `count` samples: a calibration third (≤ 500), the rest evaluated (≤ 1000). */
export function defaultSplit(count: number): { train: number; calibration: number; evaluation: number } {
  const calibration = Math.min(500, Math.floor(count / 3));
  return { train: 0, calibration, evaluation: Math.min(1000, count - calibration) };
}

const thumbMax = 64;

/** Draw a preprocessed image input (batch 1) as RGBA, each sample stretched to its own value range. */
function thumbnail(
  data: ArrayLike<number>,
  shape: readonly number[],
  layout: 'NCHW' | 'NHWC',
): SamplePreview['image'] | undefined {
  if (shape.length !== 4) return undefined;
  const [c, h, w] = layout === 'NCHW' ? [shape[1], shape[2], shape[3]] : [shape[3], shape[1], shape[2]];
  if (!(c === 1 || c === 3 || c === 4) || h < 2 || w < 2) return undefined;
  const step = Math.max(1, Math.ceil(Math.max(h, w) / thumbMax));
  const oh = Math.ceil(h / step);
  const ow = Math.ceil(w / step);
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = Number(data[i]);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const range = hi > lo ? hi - lo : 1;
  const at = (ch: number, y: number, x: number) =>
    Number(data[layout === 'NCHW' ? (ch * h + y) * w + x : (y * w + x) * c + ch]);
  const rgba = new Uint8ClampedArray(oh * ow * 4);
  for (let y = 0; y < oh; y++)
    for (let x = 0; x < ow; x++) {
      const o = (y * ow + x) * 4;
      for (let k = 0; k < 3; k++)
        rgba[o + k] = ((at(c === 1 ? 0 : k, y * step, x * step) - lo) / range) * 255;
      rgba[o + 3] = 255;
    }
  return { width: ow, height: oh, rgba };
}

/** The first `n` samples of the evaluation split (or of the whole set), preprocessed, as previews. */
export function previewSamples(dataset: Dataset, n = 8): SamplePreview[] {
  const order = dataset.splits.evaluation.length
    ? dataset.splits.evaluation
    : Array.from({ length: dataset.count }, (_, i) => i);
  return order.slice(0, n).map((index) => {
    const sample = dataset.sample(index);
    const t = sample.feeds[dataset.input.name];
    const data = Array.isArray(t.data) ? [] : (t.data as ArrayLike<number | bigint>);
    const numbers = Array.from({ length: data.length }, (_, i) => Number(data[i]));
    const image = thumbnail(numbers, dataset.input.shape, dataset.preprocess.layout);
    const label = sample.label;
    return {
      index,
      ...(label !== undefined ? { label } : {}),
      ...(label !== undefined && dataset.raw.classNames?.[label]
        ? { className: dataset.raw.classNames[label] }
        : {}),
      ...(image ? { image } : { values: numbers.slice(0, 8) }),
    };
  });
}
