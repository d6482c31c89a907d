import { describe, expect, it } from 'vitest';
import { parseAnsi, stripAnsi } from './ansi';
import { readSse, SseParser } from './sse';

describe('parseAnsi', () => {
  it('splits coloured runs and resets', () => {
    expect(parseAnsi('\x1b[32mgreen\x1b[0m line 5')).toEqual([
      { text: 'green', fg: 'green', bold: false },
      { text: ' line 5', fg: null, bold: false },
    ]);
  });
  it('handles bold, bright colours and combined codes', () => {
    expect(parseAnsi('\x1b[1;91mERROR\x1b[22m x')).toEqual([
      { text: 'ERROR', fg: 'bright-red', bold: true },
      { text: ' x', fg: 'bright-red', bold: false },
    ]);
  });
  it('skips 256-colour arguments without misreading them', () => {
    // 38;5;31 is a 256-colour foreground; "31" must not turn the text red.
    expect(parseAnsi('\x1b[38;5;31mx')).toEqual([{ text: 'x', fg: null, bold: false }]);
  });
  it('drops cursor and title sequences', () => {
    expect(parseAnsi('a\x1b[2Kb\x1b]0;title\x07c')).toEqual([
      { text: 'a', fg: null, bold: false },
      { text: 'b', fg: null, bold: false },
      { text: 'c', fg: null, bold: false },
    ]);
    expect(stripAnsi('\x1b[31mred\x1b[0m')).toBe('red');
  });
  it('keeps plain text whole', () => {
    expect(parseAnsi('plain <b>text</b>')).toEqual([{ text: 'plain <b>text</b>', fg: null, bold: false }]);
    expect(parseAnsi('')).toEqual([]);
  });
});

describe('SseParser', () => {
  it('returns events split across chunks', () => {
    const parser = new SseParser();
    expect(parser.push(': stream open\n\nid: 1\ndata: {"text"')).toEqual([]);
    expect(parser.push(':"a"}\n\nevent: end\ndata: {"reason":"stopped"}\n\n')).toEqual([
      { event: 'message', data: '{"text":"a"}', id: '1' },
      { event: 'end', data: '{"reason":"stopped"}', id: null },
    ]);
  });
  it('joins multi-line data and accepts CRLF', () => {
    const parser = new SseParser();
    expect(parser.push('data: a\r\ndata: b\r\n\r\n')).toEqual([{ event: 'message', data: 'a\nb', id: null }]);
  });
});

describe('readSse', () => {
  it('joins events split across chunks and returns at the end of the body', async () => {
    const chunks = ['event: container\ndata: {"a"', ':1}\n\n: keepalive\n\ndata: x\n', '\n'];
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of chunks) {
          controller.enqueue(new TextEncoder().encode(chunk));
        }
        controller.close();
      },
    });
    const seen: string[] = [];
    await readSse(new Response(body), (events) => seen.push(...events.map((e) => `${e.event}:${e.data}`)));
    expect(seen).toEqual(['container:{"a":1}', 'message:x']);
  });
});
