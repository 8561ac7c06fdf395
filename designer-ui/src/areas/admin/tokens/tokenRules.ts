// API tokens as the page shows and makes them (engine/src/access/tokens.rs): a name of 1 to 100
// characters, an expiry at most `token_max_days` away (365 unless the deployment says otherwise;
// the API does not tell the browser, so a lower cap comes back as the server's error on the field).
import type { ApiToken } from '@/api/types'
import { parseDateTime } from '@/lib/dates'

export const TOKEN_NAME_MAX = 100
/** The server's default `token_max_days`. */
export const TOKEN_MAX_DAYS = 365
export const TOKEN_DEFAULT_DAYS = 90
const DAY_MS = 86_400_000

export type TokenStatus = 'active' | 'expired' | 'revoked'

export function tokenStatus(token: ApiToken, now: number = Date.now()): TokenStatus {
  if (token.revoked_at) return 'revoked'
  const expires = token.expires_at ? parseDateTime(token.expires_at) : null
  if (expires !== null && expires <= now) return 'expired'
  return 'active'
}

/** Rust's `char::is_control`: C0, DEL and C1. */
function isControl(c: string): boolean {
  const code = c.codePointAt(0) ?? 0
  return code < 0x20 || (code >= 0x7f && code <= 0x9f)
}

export type TokenNameProblem = 'name_required' | 'name_too_long' | 'name_control'

export function checkTokenName(name: string): TokenNameProblem | null {
  const trimmed = name.trim()
  if (trimmed === '') return 'name_required'
  if ([...trimmed].length > TOKEN_NAME_MAX) return 'name_too_long'
  if ([...trimmed].some(isControl)) return 'name_control'
  return null
}

/**
 * The `expires_at` to send for `days` from now. The longest term is sent as no expiry at all,
 * which the server turns into exactly its cap: a browser clock a second ahead would otherwise
 * ask for a moment past the cap and be refused.
 */
export function expiryFor(days: number, now: number = Date.now()): string | null {
  if (days >= TOKEN_MAX_DAYS) return null
  return new Date(now + Math.max(1, Math.round(days)) * DAY_MS).toISOString()
}

/** Active tokens first (newest first, as the server lists them), then expired, then revoked. */
export function sortTokens(tokens: readonly ApiToken[], now: number = Date.now()): ApiToken[] {
  const order: Record<TokenStatus, number> = { active: 0, expired: 1, revoked: 2 }
  return tokens
    .map((t, i) => ({ t, i }))
    .sort((a, b) => order[tokenStatus(a.t, now)] - order[tokenStatus(b.t, now)] || a.i - b.i)
    .map(({ t }) => t)
}
