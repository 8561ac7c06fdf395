import { describe, expect, it } from 'vitest'
import { formatEstimate, formatFileSize, formatMoney } from './format'
import { formatLocalDateTime } from './dates'

describe('numbers and dates as staff read them', () => {
  it('writes money as ¥1,234.50', () => {
    expect(formatMoney(1234.5)).toBe('¥1,234.50')
    expect(formatMoney(0)).toBe('¥0.00')
    expect(formatMoney(-12)).toBe('-¥12.00')
    expect(formatMoney(1234567.891)).toBe('¥1,234,567.89')
  })

  it('writes an estimated total as 10,000+', () => {
    expect(formatEstimate(10_234)).toBe('10,000+')
    expect(formatEstimate(1_001)).toBe('1,000+')
    expect(formatEstimate(1_999)).toBe('1,900+')
    expect(formatEstimate(123_456)).toBe('120,000+')
  })

  it('writes a file size as 12.3 KB', () => {
    expect(formatFileSize(812)).toBe('812 B')
    expect(formatFileSize(12_595)).toBe('12.3 KB')
    expect(formatFileSize(2_048_000)).toBe('2.0 MB')
    expect(formatFileSize(52_428_800)).toBe('50.0 MB')
    expect(formatFileSize(157_286_400)).toBe('150 MB')
  })

  it('shows an instant in the local zone as 2026-12-02 14:30', () => {
    const shown = formatLocalDateTime('2026-12-02T06:30:00.000000Z')
    const t = new Date(Date.UTC(2026, 11, 2, 6, 30))
    const pad = (n: number) => String(n).padStart(2, '0')
    expect(shown).toBe(`${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${pad(t.getHours())}:${pad(t.getMinutes())}`)
    expect(formatLocalDateTime('not a time')).toBe('not a time')
  })
})
