import type { PickedFile } from '../../store/datasetSlice';

/** The minimal FileSystem Entry API surface (TypeScript's DOM library types it loosely). */
interface EntryLike {
  isFile: boolean;
  isDirectory: boolean;
  name: string;
  fullPath: string;
  file?(success: (f: File) => void, failure: (e: unknown) => void): void;
  createReader?(): {
    readEntries(success: (entries: EntryLike[]) => void, failure: (e: unknown) => void): void;
  };
}

function readAll(entry: EntryLike): Promise<PickedFile[]> {
  if (entry.isFile && entry.file)
    return new Promise((resolve, reject) =>
      entry.file!((file) => resolve([{ path: entry.fullPath.replace(/^\//, ''), file }]), reject),
    );
  if (!entry.isDirectory || !entry.createReader) return Promise.resolve([]);
  const reader = entry.createReader();
  // readEntries hands out a folder in batches until it returns an empty one.
  const batches: EntryLike[] = [];
  const next = (): Promise<EntryLike[]> =>
    new Promise((resolve, reject) =>
      reader.readEntries((entries) => {
        if (entries.length === 0) resolve(batches);
        else {
          batches.push(...entries);
          next().then(resolve, reject);
        }
      }, reject),
    );
  return next().then((entries) => Promise.all(entries.map(readAll)).then((lists) => lists.flat()));
}

/** Files dropped on the page, folders walked recursively, each with its path inside the drop. */
export async function droppedFiles(dataTransfer: DataTransfer): Promise<PickedFile[]> {
  const entries = Array.from(dataTransfer.items ?? [])
    .map((item) => (item.kind === 'file' ? (item.webkitGetAsEntry() as EntryLike | null) : null))
    .filter((e): e is EntryLike => e !== null);
  if (entries.length > 0) return (await Promise.all(entries.map(readAll))).flat();
  return Array.from(dataTransfer.files).map((file) => ({ path: file.name, file }));
}

/** Files from a file input; a folder input gives each file's path inside the folder. */
export function pickedFiles(files: FileList | null): PickedFile[] {
  return Array.from(files ?? []).map((file) => ({ path: file.webkitRelativePath || file.name, file }));
}
