// Compose projects grouped from container labels: status, services with running counts,
// links to each container, and project actions for operators.
import { useEffect, useId, useState } from 'preact/hooks';
import { ConfirmDialog, ErrorBox, Modal, notify, type ConfirmRequest } from '../components/common';
import { roleAtLeast } from '../lib/actions';
import { api, type Role } from '../lib/api';
import { applyPullEvent, EMPTY_PULL, pullProgressText, type PullState } from '../lib/compose';
import { usePoll } from '../lib/poll';
import { onLinkClick } from '../lib/router';
import { readSse } from '../lib/sse';
import './pages.css';

interface Service {
  name: string;
  containers: string[];
  container_ids: string[];
  running: number;
}

interface Project {
  project_name: string;
  compose_file_path: string | null;
  working_dir: string | null;
  config_files?: string[];
  services: Service[];
  status: 'running' | 'partial' | 'stopped';
  containers_total?: number;
  containers_running?: number;
}

type ProjectAction = 'start' | 'stop' | 'restart' | 'pull';

interface ProjectResult {
  container?: string;
  service?: string;
  container_id?: string;
  image?: string;
  success: boolean;
  message: string;
}

interface ActionReply {
  success: boolean;
  message: string;
  project: string;
  action: ProjectAction;
  total: number;
  failed: number;
  results: ProjectResult[];
}

const ACTION_INFO: Record<ProjectAction, { label: string; confirm: (name: string) => string; danger: boolean }> = {
  start: { label: 'Start', confirm: (n) => `Start every container of project "${n}" in dependency order?`, danger: false },
  stop: {
    label: 'Stop',
    confirm: (n) => `Stop every container of project "${n}"? Each gets SIGTERM, then SIGKILL after 10 seconds.`,
    danger: true,
  },
  restart: { label: 'Restart', confirm: (n) => `Restart every container of project "${n}" (stop, then start in dependency order)?`, danger: true },
  pull: {
    label: 'Pull images',
    confirm: (n) => `Pull the image of every service of project "${n}" from its registry? Running containers keep their current image until they are re-created.`,
    danger: false,
  },
};

function statusBadge(status: Project['status']): string {
  if (status === 'running') {
    return 'state-running';
  }
  return status === 'partial' ? 'state-paused' : 'state-exited';
}

function ProjectCard({ project, canAct, busy, onAction }: { project: Project; canAct: boolean; busy: ProjectAction | null; onAction: (a: ProjectAction) => void }) {
  const ids = project.services.flatMap((s) => s.container_ids);
  const total = project.containers_total ?? ids.length;
  const running = project.containers_running ?? project.services.reduce((n, s) => n + s.running, 0);
  // The name comes from a container label and may hold spaces, which would split an
  // aria-labelledby reference built from it, so the heading gets a generated id.
  const headingId = useId();
  return (
    <article class="card" aria-labelledby={headingId} data-project={project.project_name}>
      <div class="project-head">
        <h2 id={headingId}>
          {project.project_name} <span class={`badge ${statusBadge(project.status)}`}>{project.status}</span>
        </h2>
        <span class="muted">
          {running} of {total} containers running
        </span>
      </div>
      <p class="muted small mono">{project.compose_file_path ?? project.working_dir ?? 'compose file unknown'}</p>
      {canAct && (
        <div class="toolbar" role="group" aria-label={`Actions for ${project.project_name}`}>
          {(Object.keys(ACTION_INFO) as ProjectAction[]).map((a) => (
            <button key={a} type="button" class={ACTION_INFO[a].danger ? 'danger-outline' : ''} disabled={busy !== null} onClick={() => onAction(a)}>
              {busy === a ? `${ACTION_INFO[a].label}…` : ACTION_INFO[a].label}
            </button>
          ))}
        </div>
      )}
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Service</th>
              <th scope="col">Running</th>
              <th scope="col">Containers</th>
            </tr>
          </thead>
          <tbody>
            {project.services.map((s) => (
              <tr key={s.name} data-service={s.name}>
                <td>{s.name}</td>
                <td class="num">
                  {s.running} / {s.containers.length}
                </td>
                <td>
                  {s.containers.map((name, i) => (
                    <a key={s.container_ids[i] ?? name} class="port" href={`/containers/${encodeURIComponent(s.container_ids[i] ?? name)}`} onClick={onLinkClick}>
                      {name}
                    </a>
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p>
        <a href={`/logs?containers=${encodeURIComponent(ids.slice(0, 20).join(','))}`} onClick={onLinkClick}>
          Merged logs of this project
        </a>
      </p>
    </article>
  );
}

// Pulls the project's images with live progress. Closing the dialog before the end
// disconnects, and the server then cancels the pull.
function PullDialog({ project, onClose }: { project: string; onClose: () => void }) {
  const [state, setState] = useState<PullState>(EMPTY_PULL);
  const [failure, setFailure] = useState<string | null>(null);
  useEffect(() => {
    const controller = new AbortController();
    const run = async () => {
      const response = await api.raw(`/compose/projects/${encodeURIComponent(project)}/pull`, controller.signal, 'POST', 'text/event-stream');
      await readSse(response, (events) => setState((prev) => events.reduce(applyPullEvent, prev)));
    };
    run().catch((err: Error) => {
      if (!controller.signal.aborted) {
        setFailure(`Pull of project ${project} failed: ${err.message}`);
      }
    });
    return () => controller.abort();
  }, [project]);

  const finished = state.summary !== null || state.error !== null || failure !== null;
  let title = `Pulling the images of ${project}…`;
  if (state.summary) {
    title = `${project}: pull ${state.summary.failed ? 'finished with failures' : 'done'} (${state.summary.total - state.summary.failed} of ${state.summary.total} images pulled)`;
  }
  return (
    <Modal title={title} onClose={onClose}>
      <ErrorBox message={failure ?? state.error} />
      {state.progress && (
        <p role="status">
          {pullProgressText(state.progress)}
          {state.progress.error && <span class="error-text"> {state.progress.error}</span>}
        </p>
      )}
      {!finished && !state.progress && <p class="muted">Waiting for the engine…</p>}
      {state.dropped > 0 && <p class="muted small">{state.dropped} progress updates were skipped because the browser read too slowly.</p>}
      <ul class="results">
        {state.results.map((r) => (
          <li key={r.image} class={r.success ? 'ok' : 'fail'}>
            <strong>{r.image}</strong>: {r.message}
          </li>
        ))}
      </ul>
      <div class="row end">
        <button type="button" class={finished ? 'primary' : 'danger-outline'} autofocus onClick={onClose}>
          {finished ? 'Close' : 'Cancel the pull'}
        </button>
      </div>
    </Modal>
  );
}

export default function ComposeProjects({ role }: { role: Role }) {
  const canAct = roleAtLeast(role, 'operator');
  const list = usePoll(() => api.get<Project[]>('/compose/projects'), 5000);
  const [busy, setBusy] = useState<{ project: string; action: ProjectAction } | null>(null);
  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);
  const [result, setResult] = useState<ActionReply | null>(null);
  const [pulling, setPulling] = useState<string | null>(null);

  const act = (project: Project, action: ProjectAction) => {
    const name = project.project_name;
    setConfirm({
      title: `${ACTION_INFO[action].label}: ${name}`,
      message: ACTION_INFO[action].confirm(name),
      confirmLabel: ACTION_INFO[action].label,
      danger: ACTION_INFO[action].danger,
      onConfirm: async () => {
        if (action === 'pull') {
          setPulling(name);
          return;
        }
        setBusy({ project: name, action });
        try {
          setResult(await api.post<ActionReply>(`/compose/projects/${encodeURIComponent(name)}/${action}`));
        } catch (err) {
          notify('error', `${ACTION_INFO[action].label} of project ${name} failed: ${(err as Error).message}`);
        } finally {
          setBusy(null);
          list.refresh();
        }
      },
    });
  };

  const busyAction = (name: string): ProjectAction | null => {
    if (pulling === name) {
      return 'pull';
    }
    return busy?.project === name ? busy.action : null;
  };

  const projects = list.data ?? [];
  return (
    <section aria-labelledby="compose-title">
      <div class="page-head">
        <h1 id="compose-title">Compose projects</h1>
        <span class="live" title="The list refreshes every 5 seconds">
          <span class="dot" aria-hidden="true" /> live
        </span>
      </div>
      <p class="muted">Grouped from the com.docker.compose.* labels of the engine's containers.</p>
      <ErrorBox message={list.error && `Cannot load compose projects: ${list.error}`} />
      {list.loading && !list.data ? (
        <p class="muted">Loading projects…</p>
      ) : projects.length === 0 ? (
        <p class="empty">No container carries compose labels, so there is no project to show.</p>
      ) : (
        <div class="projects">
          {projects.map((p) => (
            <ProjectCard
              key={p.project_name}
              project={p}
              canAct={canAct}
              busy={busyAction(p.project_name)}
              onAction={(a) => act(p, a)}
            />
          ))}
        </div>
      )}
      {confirm && <ConfirmDialog request={confirm} onClose={() => setConfirm(null)} />}
      {pulling && (
        <PullDialog
          project={pulling}
          onClose={() => {
            setPulling(null);
            list.refresh();
          }}
        />
      )}
      {result && (
        <Modal title={`${result.project}: ${result.message} (${result.total - result.failed} of ${result.total} succeeded)`} onClose={() => setResult(null)}>
          {result.results.length === 0 ? (
            <p>There was nothing to do.</p>
          ) : (
            <ul class="results">
              {result.results.map((r, i) => (
                <li key={i} class={r.success ? 'ok' : 'fail'}>
                  <strong>{r.container ?? r.image}</strong>
                  {r.service ? ` (${r.service})` : ''}: {r.message}
                </li>
              ))}
            </ul>
          )}
          <div class="row end">
            <button type="button" class="primary" autofocus onClick={() => setResult(null)}>
              Close
            </button>
          </div>
        </Modal>
      )}
    </section>
  );
}
