// Personal API tokens as GET /api/v1/auth/tokens lists them. Only the response to the
// creation request contains the secret itself, and the list shows its first characters.

export interface ApiToken {
  id: number;
  name: string;
  prefix: string;
  created_at: string | null;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface CreatedToken extends ApiToken {
  token: string;
}

export type TokenState = 'active' | 'expired' | 'revoked';

// The server accepts an expiry of 1 to 365 days.
export const TOKEN_MAX_DAYS = 365;
export const TOKEN_EXPIRY_CHOICES = [7, 30, 90, 365];

export function tokenState(token: ApiToken, now: Date = new Date()): TokenState {
  if (token.revoked_at) {
    return 'revoked';
  }
  if (token.expires_at && new Date(token.expires_at).getTime() <= now.getTime()) {
    return 'expired';
  }
  return 'active';
}
