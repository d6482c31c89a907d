// Settings as GET /api/v1/settings lists them, sorted into the sections the settings page
// shows.

export interface Setting {
  name: string;
  value: string;
  redacted: boolean;
}

export const SETTING_SECTIONS = ['Server', 'Security', 'Engine', 'Collection and retention', 'Host paths', 'Backups', 'Other'] as const;

export type SettingSection = (typeof SETTING_SECTIONS)[number];

// The first matching rule wins: HOST_PROC and the like are paths, not the listen address.
const RULES: [RegExp, SettingSection][] = [
  [/^HOST_/, 'Host paths'],
  [/^(HOST|PORT|DEBUG|LOG_|HTTP_THREADS|WEB_DIR|DATABASE_URL|MAX_REQUEST_SIZE|MAX_JSON_DEPTH)/, 'Server'],
  [/^(SECRET_KEY|ADMIN_|ACCESS_TOKEN|REFRESH_TOKEN|RATE_LIMIT|TRUSTED_PROXIES|CORS_|METRICS_PUBLIC)/, 'Security'],
  [/^DOCKER_/, 'Engine'],
  [/^(COLLECT_|RETENTION_|AUDIT_RETENTION)/, 'Collection and retention'],
  [/^BACKUP_/, 'Backups'],
];

// Returns the section of a setting by its name. Unknown names go to "Other", so that a
// setting added to the server is still shown.
export function settingSection(name: string): SettingSection {
  for (const [pattern, section] of RULES) {
    if (pattern.test(name)) {
      return section;
    }
  }
  return 'Other';
}
