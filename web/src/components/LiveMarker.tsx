import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { liveStatus, type PollHealth } from '../lib/poll';

function useVisible(): boolean {
  const [visible, setVisible] = useState(document.visibilityState === 'visible');
  useEffect(() => {
    const update = () => setVisible(document.visibilityState === 'visible');
    document.addEventListener('visibilitychange', update);
    return () => document.removeEventListener('visibilitychange', update);
  }, []);
  return visible;
}

// The page's "live" marker: green while every poller's latest call succeeded, and a
// "paused" text with the reason (and the seconds left of a Retry-After) when the shown
// data is stale. refreshNote describes what refreshes and how often, for the tooltip.
export function LiveMarker({ polls, refreshNote, children }: { polls: PollHealth[]; refreshNote: string; children?: ComponentChildren }) {
  const visible = useVisible();
  const [now, setNow] = useState(Date.now());
  const waiting = polls.some((p) => p.error !== null && p.retryAt !== null);
  // The countdown of a Retry-After needs a render each second.
  useEffect(() => {
    if (!waiting) {
      return;
    }
    setNow(Date.now());
    const timer = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(timer);
  }, [waiting]);

  const status = liveStatus(polls, waiting ? now : Date.now(), visible);
  const title = status.detail ? `${refreshNote}. The last refresh failed: ${status.detail}` : refreshNote;
  return (
    <span class={`live live-${status.state}`} title={title} role="status" data-state={status.state}>
      <span class="dot" aria-hidden="true" /> {status.text}
      {children}
    </span>
  );
}
