import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { formatTime, formatUtc } from '../lib/format';

// A time in the browser's zone with the UTC form on hover.
export function Time({ value }: { value: string | number | null | undefined }) {
  const utc = formatUtc(value);
  return (
    <time title={utc} dateTime={utc === '—' ? undefined : new Date(typeof value === 'number' ? value * 1000 : (value ?? '')).toISOString()}>
      {formatTime(value)}
    </time>
  );
}

export function StateBadge({ state }: { state: string }) {
  return <span class={`badge state-${state}`}>{state}</span>;
}

export function ErrorBox({ message }: { message: string | null }) {
  if (!message) {
    return null;
  }
  return (
    <div class="error-box" role="alert">
      {message}
    </div>
  );
}

// ---- notifications -----------------------------------------------------------------

export interface Toast {
  id: number;
  kind: 'ok' | 'error';
  text: string;
}

let nextToast = 1;
let toasts: Toast[] = [];
const toastListeners = new Set<(list: Toast[]) => void>();

export function notify(kind: Toast['kind'], text: string): void {
  const toast = { id: nextToast++, kind, text };
  toasts = [...toasts, toast];
  toastListeners.forEach((listener) => listener(toasts));
  // Errors stay longer, because they usually say what to do next.
  window.setTimeout(() => dismiss(toast.id), kind === 'error' ? 10000 : 4000);
}

function dismiss(id: number): void {
  toasts = toasts.filter((t) => t.id !== id);
  toastListeners.forEach((listener) => listener(toasts));
}

export function Toasts() {
  const [list, setList] = useState<Toast[]>(toasts);
  useEffect(() => {
    toastListeners.add(setList);
    return () => {
      toastListeners.delete(setList);
    };
  }, []);
  return (
    <div class="toasts" aria-live="polite">
      {list.map((t) => (
        <div key={t.id} class={`toast toast-${t.kind}`} role={t.kind === 'error' ? 'alert' : 'status'}>
          <span>{t.text}</span>
          <button type="button" class="link" aria-label="Dismiss" onClick={() => dismiss(t.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}

// ---- modal dialog ------------------------------------------------------------------

// A modal built on <dialog>, so the browser traps focus and Esc closes it.
export function Modal({
  title,
  onClose,
  children,
}: {
  title: string;
  onClose: () => void;
  children: ComponentChildren;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) {
      dialog.showModal();
    }
  }, []);
  return (
    <dialog ref={ref} class="modal" aria-label={title} onClose={onClose}>
      <h2>{title}</h2>
      {children}
    </dialog>
  );
}

export interface ConfirmRequest {
  title: string;
  message: string;
  confirmLabel: string;
  danger?: boolean;
  onConfirm: () => void;
}

export function ConfirmDialog({ request, onClose }: { request: ConfirmRequest; onClose: () => void }) {
  return (
    <Modal title={request.title} onClose={onClose}>
      <p>{request.message}</p>
      <div class="row end">
        <button type="button" onClick={onClose} autofocus>
          Cancel
        </button>
        <button
          type="button"
          class={request.danger ? 'danger' : 'primary'}
          onClick={() => {
            onClose();
            request.onConfirm();
          }}
        >
          {request.confirmLabel}
        </button>
      </div>
    </Modal>
  );
}
