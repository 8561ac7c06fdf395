import { afterEach, describe, expect, it } from 'vitest'
import { formatLocalDateTime, localToday, useServerTimeZone } from './dates'

describe("dates in the server's zone", () => {
  afterEach(() => useServerTimeZone(null))

  it('shows an instant and judges today in the zone the server names', () => {
    // 16:30 UTC is already the next day in Shanghai, and still the morning in New York.
    const instant = '2026-12-02T16:30:00Z'
    useServerTimeZone('Asia/Shanghai')
    expect(formatLocalDateTime(instant)).toBe('2026-12-03 00:30')
    expect(localToday(new Date(instant))).toEqual({ year: 2026, month: 12, day: 3 })
    useServerTimeZone('America/New_York')
    expect(formatLocalDateTime(instant)).toBe('2026-12-02 11:30')
    expect(localToday(new Date(instant))).toEqual({ year: 2026, month: 12, day: 2 })
  })

  it('keeps midnight as 00, not 24', () => {
    useServerTimeZone('Asia/Shanghai')
    expect(formatLocalDateTime('2026-12-02T16:00:00+00:00')).toBe('2026-12-03 00:00')
  })

  it("falls back to the browser's zone for a zone it does not know, or none", () => {
    const t = new Date('2026-06-01T08:00:00Z')
    const browser = { year: t.getFullYear(), month: t.getMonth() + 1, day: t.getDate() }
    useServerTimeZone('Mars/Olympus_Mons')
    expect(localToday(t)).toEqual(browser)
    useServerTimeZone(null)
    expect(localToday(t)).toEqual(browser)
  })
})
