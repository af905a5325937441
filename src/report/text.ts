import { StandardFonts, type PDFDocument, type PDFFont } from 'pdf-lib';

/** The report's type faces: the PDF standard fonts (always available, nothing embedded). */
export type FontRole = 'sans' | 'bold' | 'italic' | 'mono' | 'monoBold';

/** A piece of text in one font: standard fonts hold WinAnsi (Latin-1 and a few more) or Symbol glyphs. */
export interface TextRun {
  font: PDFFont;
  text: string;
}

const roleFonts: Record<FontRole, StandardFonts> = {
  sans: StandardFonts.Helvetica,
  bold: StandardFonts.HelveticaBold,
  italic: StandardFonts.HelveticaOblique,
  mono: StandardFonts.Courier,
  monoBold: StandardFonts.CourierBold,
};

/** Shown for a character no standard font has (CJK layer names, emoji). */
export const replacementChar = '?';
export const ellipsis = '…';

const isControl = (cp: number) => cp < 0x20 || (cp >= 0x7f && cp < 0xa0);

/**
 * Text in the PDF standard fonts: splits strings into runs of the role's font and the Symbol font
 * (for ∞, →, Δ, ≤, Greek letters), maps what neither has to a close Latin letter (ā → a) or to
 * '?', measures, truncates with an ellipsis and wraps. Everything drawn goes through here, so no
 * character turns into garbage and widths are exact.
 */
export class TextKit {
  private readonly fonts: Record<FontRole, PDFFont>;
  private readonly symbol: PDFFont;
  private readonly charsets = new Map<PDFFont, Set<number>>();
  private readonly runCache = new Map<string, TextRun[]>();

  constructor(doc: PDFDocument) {
    this.fonts = Object.fromEntries(
      Object.entries(roleFonts).map(([role, name]) => [role, doc.embedStandardFont(name)]),
    ) as Record<FontRole, PDFFont>;
    this.symbol = doc.embedStandardFont(StandardFonts.Symbol);
  }

  font(role: FontRole): PDFFont {
    return this.fonts[role];
  }

  private has(font: PDFFont, cp: number): boolean {
    let set = this.charsets.get(font);
    if (!set) this.charsets.set(font, (set = new Set(font.getCharacterSet())));
    return set.has(cp);
  }

  /** One character as the role's font can draw it: itself, a Symbol glyph, a transliteration or '?'. */
  private mapChar(ch: string, role: FontRole): { font: PDFFont; text: string } {
    const main = this.fonts[role];
    const cp = ch.codePointAt(0)!;
    if (cp === 0x09) return { font: main, text: ' ' };
    if (isControl(cp)) return { font: main, text: '' };
    if (this.has(main, cp)) return { font: main, text: ch };
    if (this.has(this.symbol, cp)) return { font: this.symbol, text: ch };
    const base = ch.normalize('NFKD').replace(/[\u0300-\u036f]/g, '');
    if (base && base !== ch && Array.from(base).every((c) => this.has(main, c.codePointAt(0)!)))
      return { font: main, text: base };
    return { font: main, text: replacementChar };
  }

  /** The text as runs of drawable characters. */
  runs(text: string, role: FontRole): TextRun[] {
    const key = `${role}\u0000${text}`;
    const hit = this.runCache.get(key);
    if (hit) return hit;
    const runs: TextRun[] = [];
    for (const ch of text.normalize('NFC')) {
      const m = this.mapChar(ch, role);
      if (!m.text) continue;
      const last = runs[runs.length - 1];
      if (last && last.font === m.font) last.text += m.text;
      else runs.push({ font: m.font, text: m.text });
    }
    if (this.runCache.size > 20_000) this.runCache.clear();
    this.runCache.set(key, runs);
    return runs;
  }

  /** The text exactly as it will be drawn (with substitutions), for tests and logs. */
  drawable(text: string, role: FontRole): string {
    return this.runs(text, role)
      .map((r) => r.text)
      .join('');
  }

  width(text: string, role: FontRole, size: number): number {
    let w = 0;
    for (const r of this.runs(text, role)) w += r.font.widthOfTextAtSize(r.text, size);
    return w;
  }

  /**
   * The longest form of `text` that fits `maxWidth`: itself, or cut with an ellipsis at the end
   * or (for names whose ends tell them apart) in the middle.
   */
  fit(text: string, role: FontRole, size: number, maxWidth: number, where: 'end' | 'middle' = 'end'): string {
    if (this.width(text, role, size) <= maxWidth) return text;
    const chars = Array.from(text);
    const cut = (k: number) =>
      where === 'middle'
        ? `${chars.slice(0, Math.ceil(k / 2)).join('')}${ellipsis}${chars.slice(chars.length - Math.floor(k / 2)).join('')}`
        : `${chars.slice(0, k).join('').trimEnd()}${ellipsis}`;
    let lo = 0;
    let hi = chars.length - 1;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (this.width(cut(mid), role, size) <= maxWidth) lo = mid;
      else hi = mid - 1;
    }
    const best = cut(lo);
    return this.width(best, role, size) <= maxWidth ? best : '';
  }

  /**
   * Word-wrap into lines no wider than `maxWidth`. Newlines start new lines; leading spaces of a
   * line (JSON indentation) are kept, and with `hang` continuation lines are indented two spaces
   * more; words longer than a line are broken. At most `maxLines` lines, the last ending in an
   * ellipsis when cut.
   */
  wrap(
    text: string,
    role: FontRole,
    size: number,
    maxWidth: number,
    maxLines = Infinity,
    hang = false,
  ): string[] {
    const lines: string[] = [];
    const fits = (s: string) => this.width(s, role, size) <= maxWidth;
    for (const paragraph of text.split('\n')) {
      const indentText = /^ */.exec(paragraph)![0];
      const indent = fits(`${indentText}  xxxxxxxx`) ? indentText : '';
      const more = hang ? `${indent}  ` : indent;
      let line = indent;
      let lineHasWord = false;
      const before = lines.length;
      const push = () => {
        lines.push(line.trimEnd());
        line = more;
        lineHasWord = false;
      };
      for (const token of paragraph.slice(indentText.length).split(/(\s+)/)) {
        if (!token) continue;
        const isSpace = /^\s+$/.test(token);
        if (isSpace) {
          if (lineHasWord) line += token;
          continue;
        }
        if (fits(line + token)) {
          line += token;
          lineHasWord = true;
          continue;
        }
        if (lineHasWord) push();
        let rest = token;
        while (!fits(line + rest)) {
          const chars = Array.from(rest);
          let k = 1;
          while (k < chars.length && fits(line + chars.slice(0, k + 1).join(''))) k++;
          line += chars.slice(0, k).join('');
          lineHasWord = true;
          rest = chars.slice(k).join('');
          push();
        }
        line += rest;
        lineHasWord = rest.length > 0;
      }
      if (lineHasWord || lines.length === before) lines.push(lineHasWord ? line.trimEnd() : '');
    }
    if (lines.length <= maxLines) return lines;
    const kept = lines.slice(0, maxLines);
    const last = kept[kept.length - 1];
    kept[kept.length - 1] = fits(`${last}${ellipsis}`)
      ? `${last}${ellipsis}`
      : this.fit(`${last}${ellipsis}${ellipsis}`, role, size, maxWidth);
    return kept;
  }
}
