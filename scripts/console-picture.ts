/**
 * Draws what a program wrote to its terminal (a `script` typescript) as a PNG, with the colours
 * Windows' console gives the ANSI colour codes (the Campbell scheme of Windows Terminal and
 * conhost): scripts/windows-screenshots.sh uses it for worker.exe under Wine, whose console
 * window shows those codes as text where Windows 10/11 draws colours (docs/windows.md).
 * Prints ImageMagick's arguments, NUL-separated, for `magick` to run where the fonts are:
 *   node scripts/console-picture.ts <typescript> <out.png>  |  xargs -0 magick
 */
import { readFileSync } from 'node:fs';

/** Windows' console colours for SGR 30–37 and 90–97 (Campbell). */
const CAMPBELL = [
  ['#0C0C0C', '#C50F1F', '#13A10E', '#C19C00', '#0037DA', '#881798', '#3A96DD', '#CCCCCC'],
  ['#767676', '#E74856', '#16C60C', '#F9F1A5', '#3B78FF', '#B4009E', '#61D6D6', '#F2F2F2'],
] as const;
const FOREGROUND = '#CCCCCC';
const BACKGROUND = '#0C0C0C';
/** Windows 10/11's console and Windows Terminal open 120 columns wide. */
const COLUMNS = 120;
const FONT_PX = 15;
/** DejaVu Sans Mono's advance is 0.602 of its size; a line is 1.2 of it. */
const CELL_WIDTH = FONT_PX * 0.602;
const LINE_HEIGHT = Math.round(FONT_PX * 1.25);
const PADDING = 10;

interface Cell {
  char: string;
  color: string;
}

/** The screen the bytes leave: rows of cells, after CR, LF, SGR colours and erase-to-end. */
export function screenOf(text: string): Cell[][] {
  const rows: Cell[][] = [[]];
  let row = 0;
  let column = 0;
  let color = FOREGROUND;
  const sgr = (params: string) => {
    for (const code of (params || '0').split(';').map(Number)) {
      if (code === 0 || code === 39) color = FOREGROUND;
      else if (code >= 30 && code <= 37) color = CAMPBELL[0][code - 30] ?? FOREGROUND;
      else if (code >= 90 && code <= 97) color = CAMPBELL[1][code - 90] ?? FOREGROUND;
    }
  };
  const esc = String.fromCharCode(27);
  const pattern = new RegExp(`${esc}\\[([?0-9;]*)([A-Za-z])|${esc}[^[]|\r|\n|[^${esc}\r\n]`, 'gu');
  for (const [token, params = '', final] of text.matchAll(pattern)) {
    if (token === '\r') column = 0;
    else if (token === '\n') {
      row += 1;
      rows[row] ??= [];
    } else if (final === 'm') sgr(params);
    else if (final === 'K') rows[row] = (rows[row] ?? []).slice(0, column);
    else if (final !== undefined || token.startsWith(esc))
      continue; // cursor show/hide and the like
    else {
      if (column >= COLUMNS) {
        row += 1;
        column = 0;
      }
      const line = rows[row] ?? [];
      rows[row] = line;
      while (line.length < column) line.push({ char: ' ', color: FOREGROUND });
      line[column] = { char: token, color };
      column += 1;
    }
  }
  while (rows.length > 0 && (rows.at(-1) ?? []).every((cell) => cell.char === ' ')) rows.pop();
  return rows;
}

/** ImageMagick's arguments that draw `rows`: one -annotate per run of one colour. */
export function magickArguments(rows: Cell[][], out: string): string[] {
  const width = Math.ceil(PADDING * 2 + COLUMNS * CELL_WIDTH);
  const height = PADDING * 2 + Math.max(rows.length, 1) * LINE_HEIGHT;
  const args = [
    '-size',
    `${width}x${height}`,
    `xc:${BACKGROUND}`,
    '-font',
    'DejaVu-Sans-Mono',
    '-pointsize',
    String(FONT_PX),
  ];
  rows.forEach((cells, index) => {
    const baseline = PADDING + index * LINE_HEIGHT + FONT_PX;
    let start = 0;
    while (start < cells.length) {
      const color = cells[start]?.color ?? FOREGROUND;
      let end = start;
      while (end < cells.length && cells[end]?.color === color) end += 1;
      const text = cells
        .slice(start, end)
        .map((cell) => cell.char)
        .join('');
      const indent = text.length - text.trimStart().length;
      if (text.trim() !== '') {
        // ImageMagick drops a text's leading spaces: the run starts where its first mark is.
        const x = Math.round(PADDING + (start + indent) * CELL_WIDTH);
        // ImageMagick reads % and \ in annotate text as escapes, and a leading @ as a file name.
        const literal = text
          .trimStart()
          .replaceAll('\\', '\\\\')
          .replaceAll('%', '%%')
          .replace(/^@/, '\\@');
        args.push('-fill', color, '-annotate', `+${x}+${baseline}`, literal);
      }
      start = end;
    }
  });
  return [...args, out];
}

if (import.meta.main) {
  const [input, out] = process.argv.slice(2);
  if (input === undefined || out === undefined) {
    console.error('usage: node scripts/console-picture.ts <typescript> <out.png>');
    process.exit(2);
  }
  // `script` frames the bytes with a "Script started …" and a "Script done …" line.
  const text = readFileSync(input, 'utf8')
    .split('\n')
    .filter((line) => !/^Script (started|done) on /.test(line))
    .join('\n');
  process.stdout.write(`${magickArguments(screenOf(text), out).join('\0')}\0`);
}
