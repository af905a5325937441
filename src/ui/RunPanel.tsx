import { useShallow } from 'zustand/react/shallow';
import type { WebBackend } from '../runtime/web';
import { useStudio } from '../store';
import { formatMs, formatStat } from './format';

function clampInt(value: string, min: number, max: number, fallback: number): number {
  const n = Math.round(Number(value));
  return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : fallback;
}

/** Run the open model in onnxruntime-web on generated inputs and show its latency. */
export function RunPanel() {
  const s = useStudio(
    useShallow((st) => ({
      hasModel: st.summary !== null,
      modelLoading: st.status === 'loading',
      capabilities: st.capabilities,
      backend: st.backend,
      dims: st.dims,
      runs: st.runs,
      warmup: st.warmup,
      running: st.running,
      result: st.result,
      setBackend: st.setBackend,
      setDim: st.setDim,
      setRuns: st.setRuns,
      setWarmup: st.setWarmup,
      runModel: st.runModel,
    })),
  );
  const gpu = s.capabilities?.webgpu;
  const threads = s.capabilities?.threads ?? 1;
  const dimNames = Object.keys(s.dims);
  const r = s.result;

  return (
    <section className="panel run-panel" data-testid="run-panel">
      <header className="panel-header">
        <h2 className="panel-title">Run</h2>
        <span className="panel-subtitle">onnxruntime-web · generated inputs</span>
      </header>
      <div className="panel-body">
        <label className="field">
          <span className="field-label">Backend</span>
          <select
            data-testid="run-backend"
            value={s.backend}
            onChange={(e) => s.setBackend(e.currentTarget.value as WebBackend)}
          >
            <option value="wasm">
              WASM · {threads} thread{threads > 1 ? 's' : ''}
            </option>
            <option value="webgpu" disabled={!gpu?.available}>
              WebGPU{gpu && !gpu.available ? ' (unavailable)' : ''}
            </option>
          </select>
        </label>
        <div className="field-grid">
          {dimNames.map((name) => (
            <DimInput key={name} name={name} value={s.dims[name]} onChange={(v) => s.setDim(name, v)} />
          ))}
          <label className="field">
            <span className="field-label">Runs</span>
            <input
              data-testid="run-count"
              type="number"
              min={1}
              max={1000}
              value={s.runs}
              onChange={(e) => s.setRuns(clampInt(e.currentTarget.value, 1, 1000, s.runs))}
            />
          </label>
          <label className="field">
            <span className="field-label">Warm-up</span>
            <input
              type="number"
              min={0}
              max={100}
              value={s.warmup}
              onChange={(e) => s.setWarmup(clampInt(e.currentTarget.value, 0, 100, s.warmup))}
            />
          </label>
        </div>
        {gpu && !gpu.available && (
          <p className="note" data-testid="webgpu-reason">
            WebGPU: {gpu.reason}
          </p>
        )}
        {gpu?.available && gpu.adapter && <p className="hint">WebGPU adapter: {gpu.adapter}</p>}
        {s.capabilities && !s.capabilities.crossOriginIsolated && (
          <p className="note">The page is not cross-origin isolated, so WASM runs on one thread.</p>
        )}
        <button
          type="button"
          className="btn btn-primary btn-block"
          data-testid="run-model"
          disabled={!s.hasModel || s.modelLoading || s.running}
          onClick={() => void s.runModel()}
        >
          {s.running ? (
            <>
              <span className="spinner spinner-light" aria-hidden="true" /> Running…
            </>
          ) : (
            'Run'
          )}
        </button>
        {r && (
          <div
            className="run-result"
            data-testid="run-result"
            data-median-ms={r.latency.medianMs}
            data-p95-ms={r.latency.p95Ms}
            data-runs={r.latency.runs}
            data-backend={r.backend}
            data-threads={r.threads}
          >
            <div className="metric-row">
              <div className="metric">
                <span className="metric-value">{formatMs(r.latency.medianMs)}</span>
                <span className="metric-label">median</span>
              </div>
              <div className="metric">
                <span className="metric-value">{formatMs(r.latency.p95Ms)}</span>
                <span className="metric-label">p95</span>
              </div>
            </div>
            <p className="run-meta">
              {r.latency.runs} runs after {r.latency.warmup} warm-up ·{' '}
              {r.backend === 'webgpu' ? 'WebGPU' : 'WASM'} · {r.threads} thread{r.threads > 1 ? 's' : ''}
              {r.sessionMs > 0 && <> · session {formatMs(r.sessionMs)}</>}
            </p>
            <details className="outputs">
              <summary>
                Outputs <span className="section-count">{r.outputs.length}</span>
              </summary>
              <ul className="output-list">
                {r.outputs.map((o) => (
                  <li key={o.name}>
                    <span className="value-name">{o.name}</span>{' '}
                    <span className="value-type">
                      {o.type}[{o.dims.join('×')}]
                    </span>
                    <div className="output-preview mono">
                      {o.preview.map(formatStat).join(', ')}
                      {o.dims.reduce((a, b) => a * b, 1) > o.preview.length ? ', …' : ''}
                    </div>
                  </li>
                ))}
              </ul>
            </details>
          </div>
        )}
      </div>
    </section>
  );
}

function DimInput({ name, value, onChange }: { name: string; value: number; onChange: (v: number) => void }) {
  return (
    <label className="field" title="Size of a symbolic dimension">
      <span className="field-label dim-symbolic">{name === '*' ? 'unnamed dims' : name}</span>
      <input
        type="number"
        min={1}
        max={4096}
        data-testid="run-dim"
        data-dim={name}
        value={value}
        onChange={(e) => onChange(clampInt(e.currentTarget.value, 1, 4096, value))}
      />
    </label>
  );
}
