import { getViewportForBounds, type Rect } from '@xyflow/react';
import { toBlob, toSvg } from 'html-to-image';

/** The image formats the graph view exports. */
export type ViewImageFormat = 'svg' | 'png';

/** How the drawn graph maps onto an exported image. */
export interface ImageFrame {
  width: number;
  height: number;
  /** CSS transform for `.react-flow__viewport` that puts the bounds into the image. */
  transform: string;
}

export interface FrameOptions {
  /** Space around the nodes, in graph pixels (default 32). */
  margin?: number;
  /** More space on the right, for labels drawn beside nodes (default 0). */
  extraRight?: number;
  /** Longest side of the image in pixels (default 8000, well inside Chromium's canvas limits). */
  maxSide?: number;
}

/**
 * The image size and viewport transform that draw `bounds` (the nodes' bounding box) at zoom 1, or
 * smaller when the graph would not fit in `maxSide` pixels.
 */
export function imageFrame(bounds: Rect, options: FrameOptions = {}): ImageFrame {
  const margin = options.margin ?? 32;
  const maxSide = options.maxSide ?? 8000;
  const framed: Rect = {
    x: bounds.x - margin,
    y: bounds.y - margin,
    width: bounds.width + 2 * margin + (options.extraRight ?? 0),
    height: bounds.height + 2 * margin,
  };
  const zoom = Math.min(1, maxSide / Math.max(framed.width, framed.height, 1));
  const width = Math.max(1, Math.ceil(framed.width * zoom));
  const height = Math.max(1, Math.ceil(framed.height * zoom));
  const v = getViewportForBounds(framed, width, height, Math.min(zoom, 1), 1, 0);
  return { width, height, transform: `translate(${v.x}px, ${v.y}px) scale(${v.zoom})` };
}

/**
 * Draw the React Flow viewport element (nodes and edges, without the minimap, controls or
 * background) into an SVG or PNG. Fonts are not embedded: the studio uses system fonts, and
 * embedding would fetch style sheets.
 */
export async function renderViewImage(
  viewport: HTMLElement,
  frame: ImageFrame,
  format: ViewImageFormat,
  background: string,
): Promise<Blob> {
  const options = {
    backgroundColor: background,
    width: frame.width,
    height: frame.height,
    pixelRatio: 1,
    skipFonts: true,
    style: { width: `${frame.width}px`, height: `${frame.height}px`, transform: frame.transform },
  };
  if (format === 'png') {
    const blob = await toBlob(viewport, options);
    if (!blob) throw new Error('The browser could not draw the image.');
    return blob;
  }
  const url = await toSvg(viewport, options);
  const svg = decodeURIComponent(url.slice(url.indexOf(',') + 1));
  return new Blob([svg], { type: 'image/svg+xml' });
}
