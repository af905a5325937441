/** A React Flow viewport: screen = flow × zoom + (x, y). */
export interface ViewportXYZ {
  x: number;
  y: number;
  zoom: number;
}

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Below this zoom node text is too small to read (12px type at 0.7 is 8.4px). */
export const readableZoom = 0.7;
const maxFitZoom = 1.1;
const padding = 24;

/**
 * The first view of a freshly laid-out graph: the whole graph when it fits at a readable zoom;
 * otherwise its top (where the inputs are) at a readable zoom, centred on `anchorX` (the middle of
 * the top nodes); or, when a node is already selected, that node at full size.
 */
export function initialViewport(
  bounds: Box,
  width: number,
  height: number,
  anchorX: number,
  focus?: Box,
): ViewportXYZ {
  if (focus) {
    const zoom = 1;
    return {
      x: width / 2 - (focus.x + focus.width / 2) * zoom,
      y: height / 2 - (focus.y + focus.height / 2) * zoom,
      zoom,
    };
  }
  const fit = Math.min(
    (width - 2 * padding) / bounds.width,
    (height - 2 * padding) / bounds.height,
    maxFitZoom,
  );
  if (fit >= readableZoom)
    return {
      x: width / 2 - (bounds.x + bounds.width / 2) * fit,
      y: height / 2 - (bounds.y + bounds.height / 2) * fit,
      zoom: fit,
    };
  const zoom = Math.min(1, Math.max(readableZoom, (width - 2 * padding) / bounds.width));
  const fitsAcross = bounds.width * zoom <= width - 2 * padding;
  const centreX = fitsAcross ? bounds.x + bounds.width / 2 : anchorX;
  return { x: width / 2 - centreX * zoom, y: padding - bounds.y * zoom, zoom };
}
