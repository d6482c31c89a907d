import { FitAddon } from '@xterm/addon-fit';
import { Terminal as XTerm } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ErrorBox } from '../components/common';
import { api } from '../lib/api';

const STATE_TEXT = {
  open: 'Connected: /bin/sh in the container',
  connecting: 'Connecting…',
  closed: 'Not connected',
};

interface ShellTicket {
  exec_id: string;
  ticket: string;
}

// A shell in the container over the server's WebSocket: binary frames carry terminal bytes
// both ways, and a text frame {"type":"resize"} follows the terminal's size. This module
// is loaded only when the Terminal tab opens, so xterm stays out of the main bundle.
export default function Terminal({ id }: { id: string }) {
  const box = useRef<HTMLDivElement>(null);
  const [state, setState] = useState<'connecting' | 'open' | 'closed'>('connecting');
  const [error, setError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    const element = box.current;
    if (!element) {
      return;
    }
    // Dark in both page themes, as terminals usually are; the frame around it matches.
    const term = new XTerm({
      cursorBlink: true,
      fontSize: 13,
      theme: { background: '#0b0d11', foreground: '#e6e8ec' },
    });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(element);
    fit.fit();
    let socket: WebSocket | null = null;
    let disposed = false;
    const encoder = new TextEncoder();

    const sendSize = () => {
      if (socket?.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify({ type: 'resize', cols: term.cols, rows: term.rows }));
      }
    };
    const observer = new ResizeObserver(() => {
      fit.fit();
      sendSize();
    });
    observer.observe(element);

    const connect = async () => {
      setState('connecting');
      setError(null);
      try {
        const ticket = await api.post<ShellTicket>(`/containers/${encodeURIComponent(id)}/shell`);
        if (disposed) {
          return;
        }
        const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
        const url = `${scheme}//${location.host}/api/v1/containers/${encodeURIComponent(id)}/shell/${ticket.exec_id}?ticket=${encodeURIComponent(ticket.ticket)}`;
        socket = new WebSocket(url);
        socket.binaryType = 'arraybuffer';
        socket.onopen = () => {
          setState('open');
          sendSize();
          term.focus();
        };
        socket.onmessage = (event) => {
          term.write(typeof event.data === 'string' ? event.data : new Uint8Array(event.data as ArrayBuffer));
        };
        socket.onclose = (event) => {
          setState('closed');
          term.write(`\r\n[session closed${event.reason ? `: ${event.reason}` : ''}]\r\n`);
        };
      } catch (err) {
        setState('closed');
        setError(`Cannot open a shell: ${(err as Error).message}`);
      }
    };
    const input = term.onData((data) => {
      if (socket?.readyState === WebSocket.OPEN) {
        socket.send(encoder.encode(data));
      }
    });
    void connect();

    return () => {
      disposed = true;
      observer.disconnect();
      input.dispose();
      socket?.close();
      term.dispose();
    };
  }, [id, attempt]);

  return (
    <div>
      <div class="toolbar">
        <span class="muted" role="status">
          {STATE_TEXT[state]}
        </span>
        {state === 'closed' && (
          <button type="button" onClick={() => setAttempt((n) => n + 1)}>
            Reconnect
          </button>
        )}
      </div>
      <ErrorBox message={error} />
      <div class="terminal" ref={box} aria-label="Terminal" />
    </div>
  );
}
