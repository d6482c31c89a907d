// Container groups as GET /api/v1/groups lists them. container_ids contains member names,
// which the server keeps across a container's re-creation. members adds each one's current
// id and state, null for a name that no container has right now.

export interface GroupMember {
  name: string;
  container_id: string | null;
  status: string | null;
}

export interface Group {
  id: number;
  name: string;
  description: string | null;
  color: string | null;
  container_ids: string[];
  members?: GroupMember[];
  created_at: string | null;
  updated_at: string | null;
}

// A new group's colour until the user picks one; the server accepts #RRGGBB.
export const GROUP_DEFAULT_COLOUR = '#1d4ed8';

// Returns the body of PUT /groups/{id}/containers: the chosen names, sorted so that the
// request is the same whatever order they were ticked in.
export function membersPayload(chosen: Iterable<string>): { container_ids: string[] } {
  return { container_ids: [...new Set(chosen)].sort((a, b) => a.localeCompare(b)) };
}

// Returns the container list's API path, narrowed to a group when groupId is set.
export function containerListPath(groupId: number | null): string {
  return groupId ? `/containers?all_containers=true&group_id=${groupId}` : '/containers?all_containers=true';
}

// Reads the group of a link such as /containers?group=3; null when absent or invalid.
export function groupFromSearch(search: string): number | null {
  const value = Number(new URLSearchParams(search).get('group'));
  return Number.isInteger(value) && value > 0 ? value : null;
}
