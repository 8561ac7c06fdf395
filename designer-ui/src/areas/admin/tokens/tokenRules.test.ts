import { describe, expect, it } from 'vitest'
import type { ApiToken } from '@/api/types'
import { checkTokenName, expiryFor, sortTokens, tokenStatus, TOKEN_MAX_DAYS } from './tokenRules'

const now = Date.parse('2026-12-02T08:00:00Z')

function token(overrides: Partial<ApiToken>): ApiToken {
  return {
    id: 't',
    user_id: 'u',
    name: 'HIS',
    created_at: '2026-12-01T00:00:00Z',
    last_used_at: null,
    expires_at: '2027-03-01T00:00:00Z',
    revoked_at: null,
    ...overrides,
  }
}

describe('API tokens', () => {
  it('are active, expired or revoked', () => {
    expect(tokenStatus(token({}), now)).toBe('active')
    expect(tokenStatus(token({ expires_at: null }), now)).toBe('active')
    expect(tokenStatus(token({ expires_at: '2026-12-02T08:00:00Z' }), now)).toBe('expired')
    expect(tokenStatus(token({ revoked_at: '2026-12-01T09:00:00Z', expires_at: '2020-01-01T00:00:00Z' }), now)).toBe('revoked')
  })

  it('expire the chosen number of days from now, the longest term left to the server', () => {
    expect(expiryFor(90, now)).toBe('2027-03-02T08:00:00.000Z')
    expect(expiryFor(TOKEN_MAX_DAYS, now)).toBeNull()
    expect(expiryFor(0, now)).toBe('2026-12-03T08:00:00.000Z')
  })

  it('have names of 1 to 100 characters without control characters', () => {
    expect(checkTokenName('  ')).toBe('name_required')
    expect(checkTokenName('接'.repeat(101))).toBe('name_too_long')
    expect(checkTokenName('HIS\u0007')).toBe('name_control')
    expect(checkTokenName('HIS 患者同步')).toBeNull()
  })

  it('list the active ones first, newest first as the server gives them', () => {
    const list = [
      token({ id: 'revoked', revoked_at: '2026-12-01T09:00:00Z' }),
      token({ id: 'new' }),
      token({ id: 'expired', expires_at: '2026-11-01T00:00:00Z' }),
      token({ id: 'old' }),
    ]
    expect(sortTokens(list, now).map((t) => t.id)).toEqual(['new', 'old', 'expired', 'revoked'])
  })
})
