// The streamed image pull of a compose project: POST /compose/projects/{name}/pull with
// Accept: text/event-stream sends "progress" events while the engine downloads, one
// "result" per image, then a "summary" (or an "error" when the pull cannot start).
import { formatBytes } from './format';
import type { SseEvent } from './sse';

export interface PullProgress {
  status: string | null;
  layer: string | null;
  current: number | null;
  total: number | null;
  image_current: number;
  image_total: number;
  error: string | null;
}

export interface PullResult {
  image: string;
  success: boolean;
  message: string;
}

export interface PullState {
  progress: PullProgress | null;
  results: PullResult[];
  summary: { success: boolean; total: number; failed: number } | null;
  error: string | null;
  dropped: number;
}

export const EMPTY_PULL: PullState = { progress: null, results: [], summary: null, error: null, dropped: 0 };

// Returns the state after one event of the pull stream. Unknown events change nothing.
export function applyPullEvent(state: PullState, event: SseEvent): PullState {
  const data = JSON.parse(event.data) as Record<string, unknown>;
  switch (event.event) {
    case 'progress':
      return { ...state, progress: data as unknown as PullProgress };
    case 'result':
      return { ...state, progress: null, results: [...state.results, data as unknown as PullResult] };
    case 'summary':
      return {
        ...state,
        progress: null,
        summary: { success: Boolean(data.success), total: Number(data.total), failed: Number(data.failed) },
      };
    case 'error':
      return { ...state, progress: null, error: String(data.message ?? 'the pull failed') };
    case 'dropped':
      return { ...state, dropped: state.dropped + Number(data.dropped ?? 0) };
    default:
      return state;
  }
}

// Describes the current image's progress: "Downloading 3f4a…: 1.5 MiB of 3.0 MiB".
export function pullProgressText(progress: PullProgress): string {
  const layer = progress.layer ? ` ${progress.layer.slice(0, 12)}` : '';
  const head = `${progress.status ?? 'Working'}${layer}`;
  if (progress.image_total > 0) {
    return `${head}: ${formatBytes(progress.image_current)} of ${formatBytes(progress.image_total)}`;
  }
  return head;
}
