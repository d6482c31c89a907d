// Shapes of the API answers that the UI reads. Fields the server may omit or leave
// unknown are optional or nullable.

export interface Port {
  ip?: string | null;
  private_port: number;
  public_port?: number | null;
  type: string;
}

export interface Container {
  container_id: string;
  short_id: string;
  name: string;
  image: string;
  status: string;
  state_text?: string | null;
  health?: string | null;
  created?: string | number | null;
  ports?: Port[];
  labels?: Record<string, string>;
  compose_project?: string | null;
  compose_service?: string | null;
  group_ids?: number[];
  cpu_usage?: number | null;
  memory_usage?: number | null;
  memory_limit?: number | null;
}

export interface ContainerList {
  success: boolean;
  data: { containers: Container[]; total: number; running: number; stopped: number };
}

export interface ActionResponse {
  success: boolean;
  message: string;
  container_id?: string;
}

export interface BulkResult {
  container_id: string;
  name?: string | null;
  requested?: string;
  success: boolean;
  message: string;
}

export interface BulkResponse {
  success: boolean;
  message: string;
  total: number;
  succeeded: number;
  failed: number;
  results: BulkResult[];
}

export interface SystemStats {
  cpu_usage?: number | null;
  cpu_cores?: number | null;
  memory_usage?: number | null;
  memory_total?: number | null;
  memory_used?: number | null;
  memory_available?: number | null;
  swap_usage?: number | null;
  swap_total?: number | null;
  swap_used?: number | null;
  disk_usage?: number | null;
  disk_total?: number | null;
  disk_used?: number | null;
  disk_free?: number | null;
  network_rx_rate?: number | null;
  network_tx_rate?: number | null;
  disk_read_rate?: number | null;
  disk_write_rate?: number | null;
  load_avg_1m?: number | null;
  load_avg_5m?: number | null;
  load_avg_15m?: number | null;
  uptime?: number | null;
  timestamp?: string | null;
}

export interface HistoryResponse {
  stats: Array<Record<string, number | string | null>>;
  period?: string;
  start_time?: string;
  end_time?: string;
}
