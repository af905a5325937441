import {
  PDFArray,
  PDFDict,
  PDFDocument,
  PDFName,
  PDFRawStream,
  PDFRef,
  StandardFonts,
  decodePDFRawStream,
  type PDFObject,
} from 'pdf-lib';

/** Text drawn on one page of a PDF, one entry per text-showing operator, in drawing order. */
export interface PageText {
  strings: string[];
}

/** code → character for a standard font, built from the font's own encoder. */
async function decoderFor(font: StandardFonts): Promise<Map<number, string>> {
  const doc = await PDFDocument.create();
  const f = doc.embedStandardFont(font);
  const map = new Map<number, string>();
  for (const cp of f.getCharacterSet()) {
    const ch = String.fromCodePoint(cp);
    const hex = f.encodeText(ch).asString();
    map.set(parseInt(hex, 16), ch);
  }
  return map;
}

function streamBytes(doc: PDFDocument, obj: PDFObject | undefined): Uint8Array[] {
  const o = obj instanceof PDFRef ? doc.context.lookup(obj) : obj;
  if (o instanceof PDFArray) return o.asArray().flatMap((x) => streamBytes(doc, x));
  if (o instanceof PDFRawStream) return [decodePDFRawStream(o).decode()];
  return [];
}

/**
 * The text a PDF shows, page by page: reads each page's content streams and decodes the strings of
 * Tj operators written by pdf-lib (hex strings in WinAnsi, or the Symbol encoding for the Symbol
 * font). Enough to check what a reader (or pdftotext) sees, without a PDF renderer.
 */
export async function extractPdfText(bytes: Uint8Array): Promise<PageText[]> {
  const doc = await PDFDocument.load(bytes);
  const winAnsi = await decoderFor(StandardFonts.Helvetica);
  const symbol = await decoderFor(StandardFonts.Symbol);
  const pages: PageText[] = [];
  for (const page of doc.getPages()) {
    const fonts = new Map<string, string>();
    const resources = page.node.Resources();
    const fontDict = resources?.lookupMaybe(PDFName.of('Font'), PDFDict);
    for (const [name, ref] of fontDict?.entries() ?? []) {
      const f = doc.context.lookup(ref);
      const base = f instanceof PDFDict ? f.lookupMaybe(PDFName.of('BaseFont'), PDFName) : undefined;
      fonts.set(name.asString(), base?.asString() ?? '');
    }
    const content = streamBytes(doc, page.node.get(PDFName.of('Contents')))
      .map((b) => new TextDecoder('latin1').decode(b))
      .join('\n');
    const strings: string[] = [];
    let decoder = winAnsi;
    const tokens = /(\/[^\s/<>[\]()]+)\s+[\d.]+\s+Tf|<([0-9A-Fa-f]*)>\s*Tj/g;
    for (const m of content.matchAll(tokens)) {
      if (m[1]) decoder = fonts.get(m[1]) === '/Symbol' ? symbol : winAnsi;
      else {
        const hex = m[2];
        let s = '';
        for (let i = 0; i + 1 < hex.length; i += 2)
          s += decoder.get(parseInt(hex.slice(i, i + 2), 16)) ?? '\uFFFD';
        strings.push(s);
      }
    }
    pages.push({ strings });
  }
  return pages;
}

/** All text of a PDF joined with spaces, whitespace collapsed (for `toContain` checks). */
export async function pdfPlainText(bytes: Uint8Array): Promise<string> {
  const pages = await extractPdfText(bytes);
  return pages
    .map((p) => p.strings.join(' '))
    .join(' ')
    .replace(/\s+/g, ' ');
}
