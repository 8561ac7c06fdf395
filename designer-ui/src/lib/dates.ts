// Calendar dates as the server writes them (`YYYY-MM-DD`) and RFC 3339 instants, without a
// date library: the filter evaluator and the form checks need exact, zone-explicit arithmetic.

/** A calendar date; `month` 1–12. */
export interface CalendarDate {
  year: number
  month: number
  day: number
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate()
}

/** `YYYY-MM-DD` exactly, and a real date; else null. */
export function parseDate(s: string): CalendarDate | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s)
  if (!m) return null
  const year = Number(m[1])
  const month = Number(m[2])
  const day = Number(m[3])
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null
  return { year, month, day }
}

/** An RFC 3339 date-time with `Z` or an offset; the instant in epoch milliseconds, or null. */
export function parseDateTime(s: string): number | null {
  const m =
    /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.exec(s)
  if (!m) return null
  const [, y, mo, d, h, mi, sec, frac, zone] = m
  if (!parseDate(`${y}-${mo}-${d}`)) return null
  if (Number(h) > 23 || Number(mi) > 59 || Number(sec) > 60) return null
  let offsetMinutes = 0
  if (zone && zone !== 'Z' && zone !== 'z') {
    const sign = zone.startsWith('-') ? -1 : 1
    offsetMinutes = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)))
    if (Number(zone.slice(1, 3)) > 23 || Number(zone.slice(4, 6)) > 59) return null
  }
  const millis = frac ? Math.floor(Number(`0${frac}`) * 1000) : 0
  const utc = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec), millis)
  return utc - offsetMinutes * 60_000
}

/** Days since 1970-01-01 of a calendar date: dates compare and add as numbers. */
export function dayNumber(d: CalendarDate): number {
  return Math.round(Date.UTC(d.year, d.month - 1, d.day) / 86_400_000)
}

export function fromDayNumber(n: number): CalendarDate {
  const t = new Date(n * 86_400_000)
  return { year: t.getUTCFullYear(), month: t.getUTCMonth() + 1, day: t.getUTCDate() }
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0')
}

export function formatDate(d: CalendarDate): string {
  return `${pad(d.year, 4)}-${pad(d.month)}-${pad(d.day)}`
}

/**
 * The server's zone (`timezone` of `GET /api/v1/me`): "today" and the times shown are the
 * hospital's, as the server judges them, even on a PC whose clock zone is set wrong. Until it is
 * known (before log-in), the browser's own zone.
 */
let serverZone: Intl.DateTimeFormat | null = null

export function useServerTimeZone(zone: string | null | undefined): void {
  serverZone = null
  if (!zone) return
  try {
    serverZone = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
    })
  } catch {
    // A zone this browser does not know: its own zone is the best left.
  }
}

interface WallClock extends CalendarDate {
  hour: number
  minute: number
}

function wallClock(t: Date): WallClock {
  if (!serverZone) {
    return { year: t.getFullYear(), month: t.getMonth() + 1, day: t.getDate(), hour: t.getHours(), minute: t.getMinutes() }
  }
  const part = (type: Intl.DateTimeFormatPartTypes) =>
    Number(serverZone!.formatToParts(t).find((p) => p.type === type)?.value ?? 0)
  return { year: part('year'), month: part('month'), day: part('day'), hour: part('hour'), minute: part('minute') }
}

/** Today in the server's zone (the browser's before log-in). */
export function localToday(now: Date = new Date()): CalendarDate {
  const { year, month, day } = wallClock(now)
  return { year, month, day }
}

/** A stored instant shown in the server's zone: `2026-12-02 14:30`. */
export function formatLocalDateTime(s: string): string {
  const millis = parseDateTime(s)
  if (millis === null) return s
  const t = wallClock(new Date(millis))
  return `${formatDate(t)} ${pad(t.hour)}:${pad(t.minute)}`
}
