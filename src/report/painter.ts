import { LineCapStyle, type PDFDocument, type PDFPage, type RGB } from 'pdf-lib';
import { TextKit, type FontRole } from './text';
import { colors, page as pageSize } from './theme';

/** A rectangle in page coordinates: points from the top-left corner, y growing downwards. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Point {
  x: number;
  y: number;
}

export interface TextStyle {
  role?: FontRole;
  size: number;
  color?: RGB;
  /** Where `x` is: the left edge (default), the right edge or the centre of the text. */
  align?: 'left' | 'right' | 'center';
  /** Widest the text may be; longer text is cut with an ellipsis. */
  maxWidth?: number;
  ellipsis?: 'end' | 'middle';
}

/** Every text drawn, with the box it takes and the box it was meant to stay in (tests check both). */
export interface DrawnText {
  page: number;
  /** The text as drawn (after truncation and character substitution). */
  text: string;
  box: Box;
  /** The horizontal room the caller gave it (x range). */
  room: { left: number; right: number };
}

/** Top of the glyphs to the baseline, as a fraction of the font size (Helvetica's ascender is 0.718). */
const ascent = 0.78;

/**
 * Draws on the pages of a PDF with top-left coordinates, records every text it draws, and never
 * lets a text leave the width it was given (it is cut with an ellipsis instead).
 */
export class Painter {
  readonly pages: PDFPage[] = [];
  readonly texts: DrawnText[] = [];
  readonly kit: TextKit;
  readonly width = pageSize.width;
  readonly height = pageSize.height;

  constructor(readonly doc: PDFDocument) {
    this.kit = new TextKit(doc);
  }

  addPage(): number {
    this.pages.push(this.doc.addPage([this.width, this.height]));
    return this.pages.length - 1;
  }

  /** One line of text with its top at `top`; returns the width drawn. */
  text(pageIndex: number, value: string, x: number, top: number, style: TextStyle): number {
    const role = style.role ?? 'sans';
    const align = style.align ?? 'left';
    const maxWidth = style.maxWidth ?? Infinity;
    const shown = Number.isFinite(maxWidth)
      ? this.kit.fit(value, role, style.size, maxWidth, style.ellipsis)
      : value;
    const runs = this.kit.runs(shown, role);
    if (runs.length === 0) return 0;
    const width = this.kit.width(shown, role, style.size);
    const left = align === 'left' ? x : align === 'right' ? x - width : x - width / 2;
    const room =
      align === 'left'
        ? { left: x, right: x + maxWidth }
        : align === 'right'
          ? { left: x - maxWidth, right: x }
          : { left: x - maxWidth / 2, right: x + maxWidth / 2 };
    const p = this.pages[pageIndex];
    let cx = left;
    for (const r of runs) {
      p.drawText(r.text, {
        x: cx,
        y: this.height - top - ascent * style.size,
        size: style.size,
        font: r.font,
        color: style.color ?? colors.text,
      });
      cx += r.font.widthOfTextAtSize(r.text, style.size);
    }
    this.texts.push({
      page: pageIndex,
      text: runs.map((r) => r.text).join(''),
      box: { x: left, y: top, width, height: style.size },
      room,
    });
    return width;
  }

  rect(
    pageIndex: number,
    b: Box,
    style: { fill?: RGB; stroke?: RGB; lineWidth?: number; dash?: number[] },
  ): void {
    if (b.width <= 0 || b.height <= 0) return;
    this.pages[pageIndex].drawRectangle({
      x: b.x,
      y: this.height - b.y - b.height,
      width: b.width,
      height: b.height,
      color: style.fill,
      borderColor: style.stroke,
      borderWidth: style.stroke ? (style.lineWidth ?? 0.5) : 0,
      borderDashArray: style.dash,
    });
  }

  line(
    pageIndex: number,
    a: Point,
    b: Point,
    style: { color?: RGB; width?: number; dash?: number[]; round?: boolean },
  ): void {
    this.pages[pageIndex].drawLine({
      start: { x: a.x, y: this.height - a.y },
      end: { x: b.x, y: this.height - b.y },
      thickness: style.width ?? 0.5,
      color: style.color ?? colors.rule,
      dashArray: style.dash,
      lineCap: style.round ? LineCapStyle.Round : undefined,
    });
  }

  polyline(
    pageIndex: number,
    points: readonly Point[],
    style: { color?: RGB; width?: number; dash?: number[] },
  ): void {
    if (points.length < 2) return;
    const d = points.map((p, i) => `${i ? 'L' : 'M'}${p.x.toFixed(2)},${p.y.toFixed(2)}`).join(' ');
    this.pages[pageIndex].drawSvgPath(d, {
      x: 0,
      y: this.height,
      borderColor: style.color ?? colors.rule,
      borderWidth: style.width ?? 0.5,
      borderDashArray: style.dash,
      borderLineCap: LineCapStyle.Round,
    });
  }

  /** A closed filled shape (arrow heads, markers). */
  polygon(pageIndex: number, points: readonly Point[], fill: RGB, stroke?: RGB): void {
    const d = `${points.map((p, i) => `${i ? 'L' : 'M'}${p.x.toFixed(2)},${p.y.toFixed(2)}`).join(' ')} Z`;
    this.pages[pageIndex].drawSvgPath(d, {
      x: 0,
      y: this.height,
      color: fill,
      borderColor: stroke,
      borderWidth: stroke ? 0.6 : 0,
    });
  }

  circle(
    pageIndex: number,
    c: Point,
    r: number,
    style: { fill?: RGB; stroke?: RGB; lineWidth?: number },
  ): void {
    this.pages[pageIndex].drawCircle({
      x: c.x,
      y: this.height - c.y,
      size: r,
      color: style.fill,
      borderColor: style.stroke,
      borderWidth: style.stroke ? (style.lineWidth ?? 0.75) : 0,
    });
  }
}
