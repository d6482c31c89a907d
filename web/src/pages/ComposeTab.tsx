// The Compose tab of a container: its project and service, the project's other services,
// and the compose file when the server can read it under HOST_FS_ROOT.
import { ErrorBox } from '../components/common';
import { api } from '../lib/api';
import { usePoll } from '../lib/poll';
import { onLinkClick } from '../lib/router';
import './pages.css';

interface ComposeInfo {
  container_id: string;
  compose_file_path: string | null;
  project_name: string;
  service: string | null;
  services: string[];
}

interface ComposeFile {
  path: string;
  content: string;
  parse_error?: string;
}

function FileView({ id }: { id: string }) {
  const file = usePoll(() => api.get<ComposeFile>(`/containers/${encodeURIComponent(id)}/compose/file`), 300000, [id]);
  if (file.loading && !file.data) {
    return <p class="muted">Loading the compose file…</p>;
  }
  return (
    <>
      <ErrorBox message={file.error && `The compose file cannot be shown: ${file.error}`} />
      {file.data && (
        <>
          <p class="muted small">
            <code>{file.data.path}</code>
            {file.data.parse_error && ` (not parsed: ${file.data.parse_error})`}
          </p>
          <pre class="json" tabIndex={0} aria-label="Compose file">
            {file.data.content}
          </pre>
        </>
      )}
    </>
  );
}

export default function ComposeTab({ id }: { id: string }) {
  const info = usePoll(() => api.get<ComposeInfo>(`/containers/${encodeURIComponent(id)}/compose/info`), 60000, [id]);
  const data = info.data;
  return (
    <div class="stack">
      <ErrorBox message={info.error} />
      {info.loading && !data && <p class="muted">Loading…</p>}
      {data && (
        <dl class="card kv">
          <div>
            <dt>Project</dt>
            <dd>
              <a href="/compose" onClick={onLinkClick}>
                {data.project_name}
              </a>
            </dd>
          </div>
          <div>
            <dt>Service</dt>
            <dd>{data.service ?? 'unknown'}</dd>
          </div>
          <div>
            <dt>Services of the project</dt>
            <dd>{data.services.join(', ')}</dd>
          </div>
          <div>
            <dt>Compose file</dt>
            <dd>{data.compose_file_path ? <code>{data.compose_file_path}</code> : 'not recorded in the container labels'}</dd>
          </div>
        </dl>
      )}
      {data?.compose_file_path && <FileView id={id} />}
    </div>
  );
}
