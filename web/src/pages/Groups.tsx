// Container groups: named, coloured sets of containers. Every role can read them, and
// administrators create, edit, delete and set members. Membership is kept by container name, so a member
// that is removed and created again stays in its groups.
import { useState } from 'preact/hooks';
import { ConfirmDialog, ErrorBox, Modal, notify, StateBadge, type ConfirmRequest } from '../components/common';
import { roleAtLeast } from '../lib/actions';
import { api, type Role } from '../lib/api';
import { GROUP_DEFAULT_COLOUR, membersPayload, type Group } from '../lib/groups';
import { usePoll } from '../lib/poll';
import { onLinkClick } from '../lib/router';
import type { ContainerList } from '../lib/types';
import './pages.css';

interface GroupForm {
  name: string;
  description: string;
  color: string;
}

function GroupFields({ form, onChange }: { form: GroupForm; onChange: (form: GroupForm) => void }) {
  return (
    <>
      <label>
        Name
        <input required maxLength={100} value={form.name} onInput={(e) => onChange({ ...form, name: e.currentTarget.value })} />
      </label>
      <label>
        Description
        <input maxLength={500} value={form.description} onInput={(e) => onChange({ ...form, description: e.currentTarget.value })} />
      </label>
      <label>
        Colour
        <input type="color" value={form.color} onInput={(e) => onChange({ ...form, color: e.currentTarget.value })} />
      </label>
    </>
  );
}

function CreateGroup({ onCreated }: { onCreated: () => void }) {
  const empty: GroupForm = { name: '', description: '', color: GROUP_DEFAULT_COLOUR };
  const [form, setForm] = useState(empty);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const group = await api.post<Group>('/groups', { ...form, name: form.name.trim() });
      notify('ok', `Group "${group.name}" created`);
      setForm(empty);
      onCreated();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card form-grid" onSubmit={submit} aria-labelledby="new-group-title">
      <h2 id="new-group-title">New group</h2>
      <GroupFields form={form} onChange={setForm} />
      <ErrorBox message={error} />
      <div>
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Creating…' : 'Create group'}
        </button>
      </div>
    </form>
  );
}

function EditGroup({ group, onDone }: { group: Group; onDone: (changed: boolean) => void }) {
  const [form, setForm] = useState<GroupForm>({ name: group.name, description: group.description ?? '', color: group.color ?? GROUP_DEFAULT_COLOUR });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.request<Group>('PUT', `/groups/${group.id}`, { ...form, name: form.name.trim() });
      notify('ok', `Group "${form.name.trim()}" saved`);
      onDone(true);
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };
  return (
    <Modal title={`Edit group ${group.name}`} onClose={() => onDone(false)}>
      <form class="form-grid" onSubmit={submit}>
        <GroupFields form={form} onChange={setForm} />
        <ErrorBox message={error} />
        <div class="row end wide">
          <button type="button" onClick={() => onDone(false)}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Saving…' : 'Save'}
          </button>
        </div>
      </form>
    </Modal>
  );
}

function EditMembers({ group, onDone }: { group: Group; onDone: (changed: boolean) => void }) {
  const list = usePoll(() => api.get<ContainerList>('/containers?all_containers=true'), 60000);
  const [chosen, setChosen] = useState<Set<string>>(new Set(group.container_ids));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const containers = list.data?.data.containers ?? [];
  // Members that no container has right now stay listed, so that saving keeps them.
  const absent = group.container_ids.filter((name) => !containers.some((c) => c.name === name));
  const toggle = (name: string) =>
    setChosen((prev) => {
      const next = new Set(prev);
      if (next.has(name)) {
        next.delete(name);
      } else {
        next.add(name);
      }
      return next;
    });
  const save = async () => {
    setBusy(true);
    setError(null);
    try {
      const saved = await api.request<Group>('PUT', `/groups/${group.id}/containers`, membersPayload(chosen));
      notify('ok', `Group "${group.name}" now has ${saved.container_ids.length} containers`);
      onDone(true);
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };
  return (
    <Modal title={`Containers in ${group.name}`} onClose={() => onDone(false)}>
      <ErrorBox message={list.error && `Cannot load containers: ${list.error}`} />
      {list.loading && !list.data ? (
        <p class="muted">Loading containers…</p>
      ) : (
        <ul class="picker" aria-label="Containers">
          {containers.map((c) => (
            <li key={c.container_id}>
              <label class="inline">
                <input type="checkbox" checked={chosen.has(c.name)} onChange={() => toggle(c.name)} /> <span class="name">{c.name}</span> <StateBadge state={c.status} />
              </label>
            </li>
          ))}
          {absent.map((name) => (
            <li key={name}>
              <label class="inline">
                <input type="checkbox" checked={chosen.has(name)} onChange={() => toggle(name)} /> {name} <span class="muted">(no such container now)</span>
              </label>
            </li>
          ))}
        </ul>
      )}
      <ErrorBox message={error} />
      <div class="row end">
        <button type="button" onClick={() => onDone(false)}>
          Cancel
        </button>
        <button type="button" class="primary" disabled={busy || !list.data} onClick={() => void save()}>
          {busy ? 'Saving…' : `Save ${chosen.size} members`}
        </button>
      </div>
    </Modal>
  );
}

function GroupCard({ group, canEdit, onEdit, onMembers, onDelete }: { group: Group; canEdit: boolean; onEdit: () => void; onMembers: () => void; onDelete: () => void }) {
  const members = group.members ?? group.container_ids.map((name) => ({ name, container_id: null, status: null }));
  const running = members.filter((m) => m.status === 'running').length;
  const logIds = members.map((m) => m.container_id ?? m.name).slice(0, 20);
  return (
    <article class="card" data-group={group.name} aria-labelledby={`group-${group.id}`}>
      <div class="project-head">
        <h2 id={`group-${group.id}`}>
          <span class="swatch" style={{ color: group.color ?? 'var(--muted)' }} aria-hidden="true" />
          {group.name}
        </h2>
        <span class="muted">
          {running} of {members.length} running
        </span>
      </div>
      {group.description && <p>{group.description}</p>}
      {canEdit && (
        <div class="toolbar" role="group" aria-label={`Actions for group ${group.name}`}>
          <button type="button" onClick={onMembers}>
            Set containers
          </button>
          <button type="button" onClick={onEdit}>
            Edit
          </button>
          <button type="button" class="danger-outline" onClick={onDelete}>
            Delete
          </button>
        </div>
      )}
      {members.length === 0 ? (
        <p class="muted">No containers yet.</p>
      ) : (
        <ul class="chips members">
          {members.map((m) => (
            <li key={m.name} data-member={m.name}>
              {m.container_id ? (
                <a href={`/containers/${encodeURIComponent(m.container_id)}`} onClick={onLinkClick}>
                  {m.name}
                </a>
              ) : (
                <span class="muted">{m.name} (no such container now)</span>
              )}{' '}
              {m.status && <StateBadge state={m.status} />}
            </li>
          ))}
        </ul>
      )}
      <p>
        <a href={`/containers?group=${group.id}`} onClick={onLinkClick}>
          Show in the container list
        </a>
        {logIds.length > 0 && (
          <>
            {' · '}
            <a href={`/logs?containers=${encodeURIComponent(logIds.join(','))}`} onClick={onLinkClick}>
              Merged logs
            </a>
          </>
        )}
      </p>
    </article>
  );
}

export default function Groups({ role }: { role: Role }) {
  const canEdit = roleAtLeast(role, 'admin');
  const list = usePoll(() => api.get<Group[]>('/groups'), 10000);
  const [editing, setEditing] = useState<Group | null>(null);
  const [members, setMembers] = useState<Group | null>(null);
  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);

  const done = (close: () => void) => (changed: boolean) => {
    close();
    if (changed) {
      list.refresh();
    }
  };
  const remove = (group: Group) =>
    setConfirm({
      title: `Delete ${group.name}`,
      message: `Delete group "${group.name}"? Its containers are not touched; only the grouping goes.`,
      confirmLabel: 'Delete',
      danger: true,
      onConfirm: async () => {
        try {
          await api.request('DELETE', `/groups/${group.id}`);
          notify('ok', `Group "${group.name}" deleted`);
        } catch (err) {
          notify('error', `Deleting group "${group.name}" failed: ${(err as Error).message}`);
        } finally {
          list.refresh();
        }
      },
    });

  const groups = list.data ?? [];
  return (
    <section aria-labelledby="groups-title">
      <div class="page-head">
        <h1 id="groups-title">Groups</h1>
        {list.data && <span class="muted">{groups.length} in all</span>}
      </div>
      <ErrorBox message={list.error && `Cannot load groups: ${list.error}`} />
      {list.loading && !list.data ? (
        <p class="muted">Loading groups…</p>
      ) : groups.length === 0 ? (
        <p class="empty">{canEdit ? 'No group yet: create one below.' : 'No group yet. An administrator can create groups.'}</p>
      ) : (
        <div class="projects">
          {groups.map((g) => (
            <GroupCard key={g.id} group={g} canEdit={canEdit} onEdit={() => setEditing(g)} onMembers={() => setMembers(g)} onDelete={() => remove(g)} />
          ))}
        </div>
      )}
      {canEdit && <CreateGroup onCreated={list.refresh} />}
      {editing && <EditGroup group={editing} onDone={done(() => setEditing(null))} />}
      {members && <EditMembers group={members} onDone={done(() => setMembers(null))} />}
      {confirm && <ConfirmDialog request={confirm} onClose={() => setConfirm(null)} />}
    </section>
  );
}
