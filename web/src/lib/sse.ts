// An incremental parser for a text/event-stream body read with fetch (EventSource cannot
// send the Authorization header). Feed it decoded chunks; it returns the complete events.

export interface SseEvent {
  event: string; // "message" when the stream names none
  data: string;
  id: string | null;
}

export class SseParser {
  private buffer = '';

  push(chunk: string): SseEvent[] {
    this.buffer += chunk.replace(/\r\n?/g, '\n');
    const events: SseEvent[] = [];
    let end = this.buffer.indexOf('\n\n');
    while (end >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const event = parseBlock(block);
      if (event) {
        events.push(event);
      }
      end = this.buffer.indexOf('\n\n');
    }
    return events;
  }
}

function parseBlock(block: string): SseEvent | null {
  let event = 'message';
  let id: string | null = null;
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (!line || line.startsWith(':')) {
      continue; // comments keep the connection alive
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) {
      value = value.slice(1);
    }
    if (field === 'event') {
      event = value;
    } else if (field === 'data') {
      data.push(value);
    } else if (field === 'id') {
      id = value;
    }
  }
  if (!data.length) {
    return null;
  }
  return { event, data: data.join('\n'), id };
}

// Reads a text/event-stream response to its end, calling onEvents with each batch of
// complete events. Returns when the server closes the stream; an aborted fetch rejects.
export async function readSse(response: Response, onEvents: (events: SseEvent[]) => void): Promise<void> {
  if (!response.body) {
    throw new Error('the response has no body to stream');
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new SseParser();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      return;
    }
    const events = parser.push(value);
    if (events.length) {
      onEvents(events);
    }
  }
}
