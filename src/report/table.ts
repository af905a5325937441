import type { RGB } from 'pdf-lib';
import type { Flow } from './flow';
import type { FontRole } from './text';
import { colors, sizes } from './theme';

export interface TableColumn {
  header: string;
  /** Relative width; the columns share the content width in proportion. */
  weight: number;
  align?: 'left' | 'right' | 'center';
  role?: FontRole;
  /** Wrap long text over several lines (default: one line, cut with an ellipsis). */
  wrap?: boolean;
  /** Most lines a wrapped cell takes (the last is cut with an ellipsis). */
  maxLines?: number;
  /** Where one-line text is cut: names are best cut in the middle. */
  ellipsis?: 'end' | 'middle';
}

export interface TableCell {
  text: string;
  role?: FontRole;
  color?: RGB;
  /** A second, smaller muted line (an id under a title). */
  sub?: string;
}

export type CellValue = string | TableCell;

export interface TableOptions {
  size?: number;
  /** Fill of a whole row (highlight the final stage). */
  rowFill?: (row: number) => RGB | undefined;
  /** Stripe every other row. */
  zebra?: boolean;
}

const padX = 4;
const padY = 3;

interface LaidCell {
  lines: string[];
  sub?: string[];
  role: FontRole;
  color?: RGB;
}

/**
 * A table that flows over pages: the header repeats on every page, rows never split, and every
 * cell's text stays inside its cell (one line cut with an ellipsis, or wrapped up to a line limit).
 */
export function drawTable(
  flow: Flow,
  columns: TableColumn[],
  rows: CellValue[][],
  options: TableOptions = {},
): void {
  const { painter } = flow;
  const kit = painter.kit;
  const size = options.size ?? sizes.table;
  const subSize = size - 1;
  const lh = size * 1.3;
  const total = columns.reduce((s, c) => s + c.weight, 0);
  const widths = columns.map((c) => (c.weight / total) * flow.width);
  const xs = widths.map((_, i) => flow.left + widths.slice(0, i).reduce((s, w) => s + w, 0));
  const inner = (i: number) => widths[i] - 2 * padX;

  const headerLines = columns.map((c, i) => kit.wrap(c.header, 'bold', size, inner(i), 2));
  const headerHeight = Math.max(...headerLines.map((l) => l.length)) * lh + 2 * padY;

  const lay = (value: CellValue, i: number): LaidCell => {
    const cell = typeof value === 'string' ? { text: value } : value;
    const c = columns[i];
    const role = cell.role ?? c.role ?? 'sans';
    const lines = c.wrap
      ? kit.wrap(cell.text, role, size, inner(i), c.maxLines ?? 8)
      : [kit.fit(cell.text.replace(/\s*\n\s*/g, ' '), role, size, inner(i), c.ellipsis)];
    const sub = cell.sub
      ? c.wrap
        ? kit.wrap(cell.sub, 'sans', subSize, inner(i), 3)
        : [kit.fit(cell.sub, 'sans', subSize, inner(i), c.ellipsis)]
      : undefined;
    return { lines, sub, role, color: cell.color };
  };
  const cellHeight = (c: LaidCell) => c.lines.length * lh + (c.sub ? c.sub.length * subSize * 1.3 : 0);

  const drawHeader = () => {
    painter.rect(
      flow.page,
      { x: flow.left, y: flow.y, width: flow.width, height: headerHeight },
      {
        fill: colors.headerFill,
      },
    );
    columns.forEach((c, i) => {
      headerLines[i].forEach((line, k) => {
        const x =
          c.align === 'right'
            ? xs[i] + widths[i] - padX
            : c.align === 'center'
              ? xs[i] + widths[i] / 2
              : xs[i] + padX;
        painter.text(flow.page, line, x, flow.y + padY + k * lh + (lh - size) / 2, {
          role: 'bold',
          size,
          color: colors.ink,
          align: c.align,
          maxWidth: inner(i),
        });
      });
    });
    flow.y += headerHeight;
    painter.line(
      flow.page,
      { x: flow.left, y: flow.y },
      { x: flow.right, y: flow.y },
      { color: colors.faint, width: 0.7 },
    );
  };

  const laid = rows.map((r) => r.map(lay));
  const heights = laid.map((cells) => Math.max(lh, ...cells.map(cellHeight)) + 2 * padY);
  flow.ensure(headerHeight + (heights[0] ?? 0));
  drawHeader();
  laid.forEach((cells, r) => {
    const h = heights[r];
    if (flow.y + h > flow.bottom) {
      flow.newPage();
      drawHeader();
    }
    const fill = options.rowFill?.(r) ?? (options.zebra !== false && r % 2 === 1 ? colors.zebra : undefined);
    if (fill) painter.rect(flow.page, { x: flow.left, y: flow.y, width: flow.width, height: h }, { fill });
    cells.forEach((cell, i) => {
      const c = columns[i];
      const x =
        c.align === 'right'
          ? xs[i] + widths[i] - padX
          : c.align === 'center'
            ? xs[i] + widths[i] / 2
            : xs[i] + padX;
      let y = flow.y + padY + (lh - size) / 2;
      for (const line of cell.lines) {
        painter.text(flow.page, line, x, y, {
          role: cell.role,
          size,
          color: cell.color ?? colors.text,
          align: c.align,
          maxWidth: inner(i),
        });
        y += lh;
      }
      for (const line of cell.sub ?? []) {
        painter.text(flow.page, line, x, y - (lh - size) / 2, {
          size: subSize,
          color: colors.muted,
          align: c.align,
          maxWidth: inner(i),
        });
        y += subSize * 1.3;
      }
    });
    flow.y += h;
    painter.line(
      flow.page,
      { x: flow.left, y: flow.y },
      { x: flow.right, y: flow.y },
      { color: colors.grid, width: 0.4 },
    );
  });
  flow.y += 8;
}
