import { api } from './api';
import { download } from './csv';

// Downloads /stats/export as CSV. The request carries the access token, which lives only
// in memory, so the file comes through fetch and a blob rather than a plain link. The
// server names the file inframon-<name>-<period>.csv; its times are in UTC.
export async function downloadHistoryCsv(containerId: string | null, period: string): Promise<string> {
  const params = new URLSearchParams({ format: 'csv', period });
  if (containerId) {
    params.set('stats_type', 'container');
    params.set('container_id', containerId);
  } else {
    params.set('stats_type', 'system');
  }
  const response = await api.raw(`/stats/export?${params}`, undefined, 'GET', 'text/csv');
  const disposition = response.headers.get('Content-Disposition') ?? '';
  const match = /filename="([^"]+)"/.exec(disposition);
  const filename = match ? match[1] : `inframon-${containerId ?? 'host'}-${period}.csv`;
  download(filename, await response.text(), 'text/csv');
  return filename;
}
