import { zipSync, type Zippable } from 'fflate';
import { Model } from '../onnx/ir';
import { externalInfo, isExternal } from '../onnx/tensor';

/** Locations of the external-data files a model's tensors (in every graph) refer to. */
export function externalLocations(model: Model): string[] {
  const locations = new Set<string>();
  for (const g of model.graph.allGraphs())
    for (const t of g.initializers.values()) if (isExternal(t)) locations.add(externalInfo(t).location);
  return [...locations];
}

/**
 * What a download of a model should be: the .onnx itself, or — when its weights live in external-data
 * files — one .zip holding the .onnx (unchanged bytes) and those files, so the download is complete.
 */
export function bundleWithExternalData(
  fileName: string,
  bytes: Uint8Array,
  external: ReadonlyMap<string, Uint8Array>,
): { fileName: string; bytes: Uint8Array; bundled: boolean } {
  const locations = externalLocations(Model.decode(bytes, external));
  if (locations.length === 0) return { fileName, bytes, bundled: false };
  const files: Zippable = { [fileName]: [bytes, { level: 0 }] };
  for (const location of locations) {
    const data = external.get(location) ?? external.get(location.split('/').pop() ?? location);
    if (!data)
      throw new Error(
        `the model's data file "${location}" is not open, so it cannot be exported with the model`,
      );
    files[location] = [data, { level: 0 }];
  }
  return { fileName: `${fileName.replace(/\.onnx$/i, '')}.zip`, bytes: zipSync(files), bundled: true };
}
