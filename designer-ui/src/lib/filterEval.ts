// The browser's evaluator of the filter grammar, for `visible_if` and `readonly_if`: the same
// meaning the engine gives every operator (engine/src/query/eval.rs), checked against the same
// vectors (engine/tests/vectors/filter_eval.json).
//
// A missing or null value matches nothing but `ne`, `not_in` and `is_empty`; any other
// comparison with it is unknown, which `not` leaves unknown and a filter does not keep.
import type { FilterOp } from '@/api/types'
import { dayNumber, fromDayNumber, parseDate, parseDateTime, type CalendarDate } from './dates'

export class FilterError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'FilterError'
  }
}

/** The moment a filter is judged at: today's date and the current instant with its offset. */
export interface EvalContext {
  today: CalendarDate
  /** Epoch milliseconds. */
  now: number
  /** The zone offset of `now`, in minutes east of UTC. */
  offsetMinutes: number
}

const OPS: readonly FilterOp[] = [
  'eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'not_in', 'contains', 'starts_with', 'is_empty',
  'not_empty', 'between', 'last_n_days', 'before_n_days', 'next_n_days', 'after_n_days',
  'this_week', 'this_month', 'this_quarter', 'this_year', 'birthday_in_n_days',
]
const DAY_OPS = new Set<FilterOp>(['last_n_days', 'before_n_days', 'next_n_days', 'after_n_days', 'birthday_in_n_days'])
const LIST_OPS = new Set<FilterOp>(['in', 'not_in', 'between'])
const MAX_DEPTH = 16
const DAY_MS = 86_400_000

type Tri = boolean | null
type Json = unknown

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Whether `record` matches `filter`; a malformed filter throws a `FilterError`. */
export function evaluateFilter(filter: Json, record: Record<string, Json>, ctx: EvalContext): boolean {
  return evaluateAt(filter, record, ctx, 0) ?? false
}

function hasOnly(v: Record<string, Json>, keys: string[]): boolean {
  return Object.keys(v).every((k) => keys.includes(k))
}

function evaluateAt(filter: Json, record: Record<string, Json>, ctx: EvalContext, depth: number): Tri {
  if (depth > MAX_DEPTH) throw new FilterError('the filter is nested too deeply')
  if (!isObject(filter)) throw new FilterError('a filter is an object')
  if ('and' in filter && hasOnly(filter, ['and']) && Array.isArray(filter.and)) {
    let out: Tri = true
    for (const f of filter.and) {
      const r = evaluateAt(f, record, ctx, depth + 1)
      if (r === false) return false
      if (r === null) out = null
    }
    return out
  }
  if ('or' in filter && hasOnly(filter, ['or']) && Array.isArray(filter.or)) {
    let out: Tri = false
    for (const f of filter.or) {
      const r = evaluateAt(f, record, ctx, depth + 1)
      if (r === true) return true
      if (r === null) out = null
    }
    return out
  }
  if ('not' in filter && hasOnly(filter, ['not'])) {
    const r = evaluateAt(filter.not, record, ctx, depth + 1)
    return r === null ? null : !r
  }
  if ('exists' in filter) throw new FilterError('a test on related records needs the database')
  if (typeof filter.field === 'string' && typeof filter.op === 'string' && hasOnly(filter, ['field', 'op', 'value'])) {
    const op = filter.op as FilterOp
    if (!OPS.includes(op)) throw new FilterError(`unknown filter operator ${filter.op}`)
    return condition(record[filter.field], op, filter.value ?? null, ctx)
  }
  throw new FilterError('not a filter')
}

type When = { day: number } | { instant: number }

function whenOf(v: Json): When | null {
  if (typeof v !== 'string') return null
  const d = parseDate(v)
  if (d) return { day: dayNumber(d) }
  const t = parseDateTime(v)
  return t === null ? null : { instant: t }
}

/** Orders text by code points, as the engine (UTF-8 bytes) does. */
function compareText(a: string, b: string): number {
  const x = Array.from(a)
  const y = Array.from(b)
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = (x[i]!.codePointAt(0) ?? 0) - (y[i]!.codePointAt(0) ?? 0)
    if (d !== 0) return Math.sign(d)
  }
  return Math.sign(x.length - y.length)
}

function compare(stored: Json, wanted: Json): number | null {
  if (typeof stored === 'number' && typeof wanted === 'number') return Math.sign(stored - wanted)
  if (typeof stored === 'boolean' && typeof wanted === 'boolean') return Number(stored) - Number(wanted)
  if (typeof stored === 'string' && typeof wanted === 'string') {
    const a = whenOf(stored)
    const b = whenOf(wanted)
    if (a && b && 'day' in a && 'day' in b) return Math.sign(a.day - b.day)
    if (a && b && 'instant' in a && 'instant' in b) return Math.sign(a.instant - b.instant)
    return compareText(stored, wanted)
  }
  return null
}

function equals(stored: Json, wanted: Json): boolean {
  return compare(stored, wanted) === 0
}

function listOf(value: Json, op: FilterOp): Json[] {
  if (!Array.isArray(value)) throw new FilterError(`${op} needs a list`)
  return value
}

function daysOf(value: Json): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 36_600) {
    throw new FilterError('a relative date filter needs a whole number of days (0 to 36600)')
  }
  return value
}

function isEmpty(v: Json): boolean {
  return v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0)
}

function condition(stored: Json, op: FilterOp, value: Json, ctx: EvalContext): Tri {
  if (op === 'is_empty') return isEmpty(stored)
  if (op === 'not_empty') return !isEmpty(stored)
  if (stored === undefined || stored === null) {
    if (LIST_OPS.has(op)) listOf(value, op)
    if (DAY_OPS.has(op)) daysOf(value)
    return op === 'ne' || op === 'not_in' ? true : null
  }
  if (Array.isArray(stored)) return listCondition(stored, op, value)
  const ordered = (want: (c: number) => boolean) => {
    const c = compare(stored, value)
    return c !== null && want(c)
  }
  switch (op) {
    case 'eq':
      return equals(stored, value)
    case 'ne':
      return !equals(stored, value)
    case 'gt':
      return ordered((c) => c > 0)
    case 'gte':
      return ordered((c) => c >= 0)
    case 'lt':
      return ordered((c) => c < 0)
    case 'lte':
      return ordered((c) => c <= 0)
    case 'in':
      return listOf(value, op).some((w) => equals(stored, w))
    case 'not_in':
      return !listOf(value, op).some((w) => equals(stored, w))
    case 'between': {
      const bounds = listOf(value, op)
      if (bounds.length !== 2) throw new FilterError('between needs [low, high]')
      const low = compare(stored, bounds[0])
      const high = compare(stored, bounds[1])
      return low !== null && low >= 0 && high !== null && high <= 0
    }
    case 'contains':
    case 'starts_with': {
      if (typeof value !== 'string') throw new FilterError(`${op} needs text`)
      if (typeof stored !== 'string') return false
      const s = stored.toLowerCase()
      const w = value.toLowerCase()
      return op === 'contains' ? s.includes(w) : s.startsWith(w)
    }
    case 'last_n_days':
    case 'next_n_days':
    case 'before_n_days':
    case 'after_n_days': {
      const days = daysOf(value)
      const when = whenOf(stored)
      if (!when) return false
      return 'day' in when
        ? relative(op, when.day, dayNumber(ctx.today), days)
        : relative(op, when.instant, ctx.now, days * DAY_MS)
    }
    case 'this_week':
    case 'this_month':
    case 'this_quarter':
    case 'this_year': {
      const [start, end] = calendarPeriod(ctx.today, op)
      const when = whenOf(stored)
      if (!when) return false
      if ('day' in when) return start <= when.day && when.day < end
      const startAt = start * DAY_MS - ctx.offsetMinutes * 60_000
      const endAt = end * DAY_MS - ctx.offsetMinutes * 60_000
      return startAt <= when.instant && when.instant < endAt
    }
    case 'birthday_in_n_days': {
      const days = daysOf(value)
      const when = whenOf(stored)
      if (!when || !('day' in when)) return false
      const d = fromDayNumber(when.day)
      return birthdayKeys(ctx.today, days).has(monthDay(d.month, d.day))
    }
    default:
      return false
  }
}

function relative(op: FilterOp, x: number, now: number, span: number): boolean {
  switch (op) {
    case 'last_n_days':
      return now - span <= x && x <= now
    case 'next_n_days':
      return now <= x && x <= now + span
    case 'before_n_days':
      return x < now - span
    default:
      return x > now + span
  }
}

/** [first day, first day of the next period) as day numbers; weeks start on Monday. */
function calendarPeriod(today: CalendarDate, op: FilterOp): [number, number] {
  const first = (year: number, month: number) =>
    dayNumber({ year: year + Math.floor((month - 1) / 12), month: ((month - 1) % 12) + 1, day: 1 })
  const t = dayNumber(today)
  switch (op) {
    case 'this_week': {
      const weekday = (new Date(t * DAY_MS).getUTCDay() + 6) % 7
      return [t - weekday, t - weekday + 7]
    }
    case 'this_month':
      return [first(today.year, today.month), first(today.year, today.month + 1)]
    case 'this_quarter': {
      const qm = Math.floor((today.month - 1) / 3) * 3 + 1
      return [first(today.year, qm), first(today.year, qm + 3)]
    }
    default:
      return [first(today.year, 1), first(today.year + 1, 1)]
  }
}

function monthDay(month: number, day: number): string {
  return `${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`
}

function isLeap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
}

/** Month-day keys from today to `days` ahead; 29 February counts on the 28th in other years. */
function birthdayKeys(today: CalendarDate, days: number): Set<string> {
  const keys = new Set<string>()
  const start = dayNumber(today)
  for (let offset = 0; offset <= Math.min(days, 366); offset++) {
    const d = fromDayNumber(start + offset)
    keys.add(monthDay(d.month, d.day))
    if (d.month === 2 && d.day === 28 && !isLeap(d.year)) keys.add('02-29')
  }
  return keys
}

/** Multi-valued fields hold values: `eq`/`contains` ask for one, `in` for any of a list. */
function listCondition(items: Json[], op: FilterOp, value: Json): boolean {
  const holds = (w: Json) => items.some((i) => equals(i, w))
  switch (op) {
    case 'eq':
    case 'contains':
      return holds(value)
    case 'ne':
      return !holds(value)
    case 'in':
      return listOf(value, op).some(holds)
    case 'not_in':
      return !listOf(value, op).some(holds)
    default:
      throw new FilterError(`the operator ${op} does not apply to a list`)
  }
}

/** The context of "now" in the browser's zone. */
export function browserContext(now: Date = new Date()): EvalContext {
  return {
    today: { year: now.getFullYear(), month: now.getMonth() + 1, day: now.getDate() },
    now: now.getTime(),
    offsetMinutes: -now.getTimezoneOffset(),
  }
}
