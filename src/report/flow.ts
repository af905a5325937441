import type { RGB } from 'pdf-lib';
import type { Painter } from './painter';
import type { FontRole } from './text';
import { colors, page, sizes } from './theme';

/**
 * The document flow: a cursor moving down the content area of the current page, starting a new
 * page when a block does not fit. Blocks ask for their height first ({@link ensure}), so nothing is
 * drawn across the bottom margin.
 */
export class Flow {
  page = -1;
  y = 0;
  /** The section each page belongs to (for the running header). */
  readonly sectionOfPage: string[] = [];
  section = '';

  constructor(readonly painter: Painter) {}

  get left(): number {
    return page.marginX;
  }
  get right(): number {
    return this.painter.width - page.marginX;
  }
  get width(): number {
    return this.right - this.left;
  }
  get top(): number {
    return page.marginTop;
  }
  get bottom(): number {
    return this.painter.height - page.marginBottom;
  }
  /** Height of the content area of a page. */
  get pageHeight(): number {
    return this.bottom - this.top;
  }
  remaining(): number {
    return this.bottom - this.y;
  }

  newPage(): void {
    this.page = this.painter.addPage();
    this.sectionOfPage[this.page] = this.section;
    this.y = this.top;
  }

  /** Make room for `height` points: a new page when the current one has less left. */
  ensure(height: number): void {
    if (this.page < 0 || this.y + height > this.bottom + 0.01) this.newPage();
  }

  gap(height: number): void {
    this.y = Math.min(this.y + height, this.bottom);
  }

  /** A numbered section heading, kept together with at least `keep` points of what follows. */
  heading(text: string, keep = 120): void {
    this.section = text;
    this.ensure(34 + keep);
    if (this.y > this.top) this.y += 10;
    this.sectionOfPage[this.page] ||= text;
    this.painter.text(this.page, text, this.left, this.y, {
      role: 'bold',
      size: sizes.h1,
      color: colors.ink,
      maxWidth: this.width,
    });
    this.y += sizes.h1 + 5;
    this.painter.line(
      this.page,
      { x: this.left, y: this.y },
      { x: this.right, y: this.y },
      {
        color: colors.accent,
        width: 1.2,
      },
    );
    this.y += 10;
  }

  /** A smaller heading inside a section. */
  subheading(text: string, keep = 80): void {
    this.ensure(sizes.h2 + 8 + keep);
    if (this.y > this.top) this.y += 4;
    this.painter.text(this.page, text, this.left, this.y, {
      role: 'bold',
      size: sizes.h2,
      color: colors.ink,
      maxWidth: this.width,
    });
    this.y += sizes.h2 + 6;
  }

  /** Wrapped text across the content width (or `indent` in from the left). */
  paragraph(
    text: string,
    options: {
      size?: number;
      role?: FontRole;
      color?: RGB;
      indent?: number;
      lineHeight?: number;
      after?: number;
      /** Indent continuation lines (commands, code). */
      hang?: boolean;
    } = {},
  ): void {
    const size = options.size ?? sizes.body;
    const role = options.role ?? 'sans';
    const indent = options.indent ?? 0;
    const lh = size * (options.lineHeight ?? 1.35);
    for (const line of this.painter.kit.wrap(text, role, size, this.width - indent, Infinity, options.hang)) {
      this.ensure(lh);
      this.painter.text(this.page, line, this.left + indent, this.y, {
        role,
        size,
        color: options.color ?? colors.text,
        maxWidth: this.width - indent,
      });
      this.y += lh;
    }
    this.y += options.after ?? 4;
  }
}
