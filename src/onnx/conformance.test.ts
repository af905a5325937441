import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../test/fixtures';
import {
  type CaseResult,
  type ConformanceReport,
  formatReport,
  listConformanceCases,
  runConformanceCase,
  summarize,
} from './testing/conformance';
import { hasPythonOnnx, pythonDigests } from './testing/digest';

/**
 * ONNX's own backend test data (Debian's libonnx-testdata 1.12: 1,072 models with recorded inputs and
 * outputs). Every model must decode and re-encode byte for byte, every recorded value must decode
 * (and agree with ONNX's Python package), and the re-encoded models must keep reproducing the recorded
 * outputs in onnxruntime-node at least as often as measured, with every failure explained.
 */
const cases = listConformanceCases();

/** What this suite measured with onnxruntime-node 1.30 and libonnx-testdata 1.12.0-2 (a regression guard). */
const measured = { sessionsCreated: 1004, outputsMatch: 959 };

describe.skipIf(cases.length === 0)('ONNX conformance suite (libonnx-testdata)', () => {
  let results: CaseResult[] = [];
  let report: ConformanceReport;

  beforeAll(async () => {
    const start = performance.now();
    results = [];
    // Serially: one onnxruntime session at a time, released before the next.
    for (const c of cases) results.push(await runConformanceCase(c));
    report = summarize(results, (performance.now() - start) / 1000);
    const text = formatReport(report);
    const out = path.join(repoRoot, 'test-results');
    mkdirSync(out, { recursive: true });
    writeFileSync(path.join(out, 'conformance-summary.txt'), text);
    console.log(text);
  }, 170_000);

  const names = (rs: CaseResult[]) => rs.map((r) => `${r.case.suite}/${r.case.name}`);

  it('decodes every model with our codec', () => {
    expect(report.models).toBeGreaterThanOrEqual(1000);
    expect(names(results.filter((r) => !r.decoded))).toEqual([]);
  });

  it('re-encodes every model byte for byte, directly and through the IR', () => {
    expect(names(results.filter((r) => !r.byteIdentical))).toEqual([]);
    expect(names(results.filter((r) => !r.irByteIdentical))).toEqual([]);
  });

  // No allow-list is needed. 51 of the .pb files are not TensorProto at all: the inputs and outputs of
  // sequence- and optional-typed tests hold onnx-data.proto's SequenceProto / OptionalProto, and, like
  // ONNX's own runner, we pick the message from the declared type. (decodeTensorProto "succeeds" on
  // them too, since protobuf is not self-describing, but reads garbage that does not re-encode.)
  it('decodes every recorded input and output .pb and re-encodes it byte for byte', () => {
    expect(report.valueFiles).toBeGreaterThanOrEqual(3000);
    expect(report.valueKinds.tensor).toBeGreaterThanOrEqual(3154);
    expect(report.tensorsToOrt + report.tensorsOrtUnsupported).toBe(report.valueKinds.tensor);
    expect(report.tensorsToOrt).toBeGreaterThanOrEqual(3154);
    expect(results.flatMap((r) => r.valueFailures.map((f) => `${r.case.name}/${f}`))).toEqual([]);
    expect(report.valuesDecoded).toBe(report.valueFiles);
    expect(report.valuesByteIdentical).toBe(report.valueFiles);
  });

  it.skipIf(!hasPythonOnnx)("reads every recorded tensor exactly as ONNX's numpy_helper does", () => {
    const files = results.flatMap((r) => r.valueDigests);
    const reference = pythonDigests(files.map(({ path: p, kind }) => ({ path: p, kind })));
    const differing = files.filter((f) => JSON.stringify(reference[f.path]) !== JSON.stringify(f.digests));
    expect(files.length).toBe(report.valueFiles);
    expect(differing.map((f) => f.path)).toEqual([]);
  });

  it('runs the re-encoded models in onnxruntime-node at least as well as measured', () => {
    expect(report.sessionsCreated).toBeGreaterThanOrEqual(measured.sessionsCreated);
    expect(report.outputsMatch).toBeGreaterThanOrEqual(measured.outputsMatch);
  });

  it('explains every model that does not reproduce its outputs', () => {
    const unexplained = results.filter(
      (r) => r.outcome !== 'match' && (!r.category || /UNEXPLAINED|other onnxruntime error/.test(r.category)),
    );
    expect(unexplained.map((r) => `${r.case.name}: ${r.category} ${r.detail ?? ''}`)).toEqual([]);
  });
});
