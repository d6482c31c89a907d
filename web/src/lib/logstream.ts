import { readSse } from './sse';

// A log line as the follow streams send it. Merged streams of several containers add the
// container's id and name.
export interface StreamedLine {
  stream: string; // stdout, stderr, or "system" for notes the UI adds
  timestamp: string | null;
  text: string;
  container_id?: string;
  container_name?: string;
}

// Reads a log follow stream (GET .../logs?follow=true) to its end and passes each batch of
// lines to append. A "dropped" event becomes a system line with the number of lost lines.
// Returns the status to show afterwards: the server's end reason, or that it closed.
export async function readLogStream(response: Response, append: (batch: StreamedLine[]) => void): Promise<string> {
  let endReason: string | null = null;
  await readSse(response, (events) => {
    const batch: StreamedLine[] = [];
    for (const event of events) {
      if (event.event === 'message') {
        batch.push(JSON.parse(event.data) as StreamedLine);
      } else if (event.event === 'end') {
        endReason = (JSON.parse(event.data) as { reason?: string }).reason ?? 'no reason given';
      } else if (event.event === 'dropped') {
        const dropped = (JSON.parse(event.data) as { dropped?: number }).dropped ?? 0;
        batch.push({ stream: 'system', timestamp: null, text: `[${dropped} lines dropped: the browser read too slowly]` });
      }
    }
    if (batch.length) {
      append(batch);
    }
  });
  return endReason === null ? 'The stream closed.' : `The stream ended: ${endReason}.`;
}
