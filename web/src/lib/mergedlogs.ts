// Merged logs of several containers: the query for GET /api/v1/logs and a stable colour
// per container.

// Distinct colour classes (defined in both themes); a container keeps its colour while the
// selection stays the same.
export const TAG_COLOURS = 8;

export function colourIndex(ids: string[], id: string | undefined): number {
  const index = id ? ids.indexOf(id) : -1;
  return index < 0 ? 0 : index % TAG_COLOURS;
}

// The server accepts at most 20 containers in one merged view.
export const MERGE_MAX = 20;

export function mergedQuery(ids: string[], tail: string, follow: boolean): string {
  const params = new URLSearchParams({ container_ids: ids.join(','), tail, timestamps: 'true' });
  if (follow) {
    params.set('follow', 'true');
  }
  return params.toString();
}

// Reads the container ids of a link such as /logs?containers=a,b.
export function idsFromSearch(search: string): string[] {
  const value = new URLSearchParams(search).get('containers') ?? '';
  return value
    .split(',')
    .map((id) => id.trim())
    .filter(Boolean)
    .slice(0, MERGE_MAX);
}
