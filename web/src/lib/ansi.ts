// ANSI SGR colours in log lines. parseAnsi splits a line into runs of text with a colour
// class and a bold flag. It drops every other escape sequence (cursor moves, titles),
// because a log view cannot act on it.

export interface AnsiRun {
  text: string;
  fg: string | null; // "red", "bright-red", ... (a CSS class suffix) or null
  bold: boolean;
}

const COLOURS = ['black', 'red', 'green', 'yellow', 'blue', 'magenta', 'cyan', 'white'];

// CSI sequences (ESC [ params final), OSC sequences (ESC ] ... BEL or ESC \), and
// two-byte escapes.
const ESCAPE = /\x1b\[([0-9;?]*)([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g;

export function parseAnsi(line: string): AnsiRun[] {
  const runs: AnsiRun[] = [];
  let fg: string | null = null;
  let bold = false;
  let last = 0;
  const push = (text: string) => {
    if (text) {
      runs.push({ text, fg, bold });
    }
  };
  for (const match of line.matchAll(ESCAPE)) {
    push(line.slice(last, match.index));
    last = (match.index ?? 0) + match[0].length;
    if (match[2] !== 'm') {
      continue;
    }
    const codes = (match[1] || '0').split(';').map((c) => Number(c || '0'));
    for (let i = 0; i < codes.length; i++) {
      const code = codes[i];
      if (code === 0) {
        fg = null;
        bold = false;
      } else if (code === 1) {
        bold = true;
      } else if (code === 22) {
        bold = false;
      } else if (code >= 30 && code <= 37) {
        fg = COLOURS[code - 30];
      } else if (code >= 90 && code <= 97) {
        fg = `bright-${COLOURS[code - 90]}`;
      } else if (code === 39) {
        fg = null;
      } else if (code === 38 || code === 48) {
        // 256-colour and true-colour forms: skip their arguments; they are not shown.
        if (codes[i + 1] === 5) {
          i += 2;
        } else if (codes[i + 1] === 2) {
          i += 4;
        }
      }
    }
  }
  push(line.slice(last));
  return runs;
}

// Removes every escape sequence, for search and downloads.
export function stripAnsi(line: string): string {
  return line.replace(ESCAPE, '');
}
