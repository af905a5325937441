import { memo, useEffect, useRef } from 'react';
import type { SamplePreview as Preview } from '../../worker/pipelineService';
import { formatStat } from '../format';

function Thumbnail({ image }: { image: NonNullable<Preview['image']> }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const context = canvas.current?.getContext('2d');
    if (!context) return;
    context.putImageData(new ImageData(new Uint8ClampedArray(image.rgba), image.width, image.height), 0, 0);
  }, [image]);
  return <canvas ref={canvas} className="sample-thumb" width={image.width} height={image.height} />;
}

function SampleTile({ sample }: { sample: Preview }) {
  const label = sample.className ?? (sample.label !== undefined ? String(sample.label) : null);
  return (
    <li
      className="sample-tile"
      data-testid="dataset-sample"
      data-label={sample.label ?? ''}
      title={`sample ${sample.index}`}
    >
      {sample.image ? (
        <Thumbnail image={sample.image} />
      ) : (
        <span className="sample-values mono">{(sample.values ?? []).map(formatStat).join(' ')}</span>
      )}
      <span className="sample-label">{label ?? 'no label'}</span>
    </li>
  );
}

/** A few decoded samples as the model will see them (after preprocessing), with their labels. */
export const SamplePreview = memo(function SamplePreview({ samples }: { samples: Preview[] }) {
  if (samples.length === 0) return null;
  const images = samples.some((s) => s.image);
  return (
    <ul className={`sample-grid${images ? '' : ' sample-grid-values'}`} data-testid="dataset-preview">
      {samples.map((s) => (
        <SampleTile key={s.index} sample={s} />
      ))}
    </ul>
  );
});
