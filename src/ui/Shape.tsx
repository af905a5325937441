import type { DimSummary } from '../onnx/summary';

/** A tensor shape with symbolic dimensions set apart by style. */
export function Shape({ shape }: { shape: readonly DimSummary[] | null | undefined }) {
  if (!shape) return <span className="shape shape-unknown">unknown</span>;
  if (shape.length === 0) return <span className="shape">scalar</span>;
  return (
    <span className="shape">
      [
      {shape.map((d, i) => (
        <span key={i}>
          {i > 0 && <span className="shape-sep">×</span>}
          {typeof d === 'number' ? (
            d
          ) : (
            <span className="dim-symbolic" title="symbolic dimension">
              {d ?? '?'}
            </span>
          )}
        </span>
      ))}
      ]
    </span>
  );
}
