// The checks of a field's value the browser makes as the user leaves the field: the cheap part
// of what the server checks (engine/src/forms/checks.rs and compiled.rs), with the same codes,
// so the message under the field is the one the server would give. The server stays the judge.
import type { FieldDef } from '@/api/types'
import { dayNumber, localToday, parseDate, parseDateTime, type CalendarDate } from './dates'

export type CheckCode =
  | 'required' | 'min_length' | 'max_length' | 'pattern' | 'min' | 'max' | 'not_integer'
  | 'money_precision' | 'id_card_format' | 'id_card_checksum' | 'id_card_birth_date'
  | 'phone_format' | 'email_format' | 'date_format' | 'datetime_format' | 'invalid_option'

export interface CheckProblem {
  code: CheckCode
  /** The limit a message names (a length, a bound). */
  detail?: string
}

const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
const ID_CHECK_CHARS = '10X98765432'

/** An 18-character resident ID number (GB 11643): shape, birth date, check digit. */
export function checkIdCard(raw: string, today: CalendarDate = localToday()): CheckProblem | null {
  const s = raw.trim()
  if (!/^[1-9]\d{16}[\dXx]$/.test(s)) return { code: 'id_card_format' }
  // In the engine's order: a real birth date from 1900, the check digit, then not in the future.
  const birth = parseDate(`${s.slice(6, 10)}-${s.slice(10, 12)}-${s.slice(12, 14)}`)
  if (!birth || birth.year < 1900) return { code: 'id_card_birth_date' }
  let sum = 0
  for (let i = 0; i < 17; i++) sum += Number(s[i]) * ID_WEIGHTS[i]!
  if (ID_CHECK_CHARS[sum % 11] !== s[17]!.toUpperCase()) return { code: 'id_card_checksum' }
  if (dayNumber(birth) > dayNumber(today)) return { code: 'id_card_birth_date' }
  return null
}

function areaLength(digits: string): number {
  return digits.startsWith('010') || digits.startsWith('02') ? 3 : 4
}

/** A mainland mobile (`1[3-9]` + 9 digits, optional +86) or landline (`010-12345678[-ext]`). */
export function isPhone(raw: string): boolean {
  const s = raw.trim()
  if (s === '' || s.length > 40) return false
  const compact = s.replace(/[ -]/g, '')
  let mobile = compact
  if (compact.startsWith('+86')) mobile = compact.slice(3)
  else if (compact.startsWith('86') && compact.length === 13) mobile = compact.slice(2)
  if (/^1[3-9]\d{9}$/.test(mobile)) return true
  const parts = s.replace(/ /g, '').split('-').filter((p) => p !== '')
  if (parts.length === 0 || parts.length > 3 || !parts.every((p) => /^\d+$/.test(p))) return false
  const split = (joined: string): [string, string] | null => {
    if (!joined.startsWith('0')) return null
    const n = areaLength(joined)
    return joined.length <= n ? null : [joined.slice(0, n), joined.slice(n)]
  }
  let area: string
  let local: string
  let ext: string | undefined
  if (parts.length === 1) {
    const p = split(parts[0]!)
    if (!p) return false
    ;[area, local] = p
  } else if (parts.length === 2) {
    if (parts[0]!.length <= 4) {
      ;[area, local] = [parts[0]!, parts[1]!]
    } else {
      const p = split(parts[0]!)
      if (!p) return false
      ;[area, local] = p
      ext = parts[1]
    }
  } else {
    ;[area, local, ext] = [parts[0]!, parts[1]!, parts[2]]
  }
  const validArea = area.startsWith('0') && area.length >= 3 && area.length === areaLength(area) && !area.startsWith('00')
  if (!validArea || local.length < 7 || local.length > 8) return false
  return ext === undefined || (ext.length >= 1 && ext.length <= 6)
}

const EMAIL =
  /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/

export function isEmail(s: string): boolean {
  if (s.length > 254) return false
  const at = s.lastIndexOf('@')
  if (at < 0 || at > 64) return false
  return EMAIL.test(s)
}

/** Whether a value counts as not given: missing, null, blank text or an empty list. */
export function isBlank(v: unknown): boolean {
  return v === undefined || v === null || (typeof v === 'string' && v.trim() === '') || (Array.isArray(v) && v.length === 0)
}

function limit(x: number): string {
  return Number.isInteger(x) ? String(x) : String(x)
}

function compilePattern(pattern: string): RegExp | null {
  try {
    return new RegExp(pattern, 'u')
  } catch {
    // A pattern the browser's engine cannot read is left to the server.
    return null
  }
}

/**
 * The first problem `value` has for `field`, or null. Computed fields (autonumber, formula)
 * are the server's; masked values the user has not touched are not re-checked.
 */
export function checkField(field: FieldDef, value: unknown, today: CalendarDate = localToday()): CheckProblem | null {
  if (field.type === 'autonumber' || field.type === 'formula') return null
  if (isBlank(value)) return field.required ? { code: 'required' } : null
  switch (field.type) {
    case 'text':
    case 'textarea':
    case 'email': {
      if (typeof value !== 'string') return null
      const length = Array.from(value).length
      if (field.min_length !== undefined && length < field.min_length) return { code: 'min_length', detail: String(field.min_length) }
      if (field.max_length !== undefined && length > field.max_length) return { code: 'max_length', detail: String(field.max_length) }
      if (field.pattern !== undefined) {
        const re = compilePattern(field.pattern)
        if (re && !re.test(value)) return { code: 'pattern' }
      }
      if (field.type === 'email' && !isEmail(value)) return { code: 'email_format' }
      return null
    }
    case 'number':
    case 'integer':
    case 'money': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return null
      if (field.type === 'integer' && !Number.isInteger(value)) return { code: 'not_integer' }
      if (field.type === 'money' && Math.abs(value * 100 - Math.round(value * 100)) > 1e-4) return { code: 'money_precision' }
      if (field.min !== undefined && value < field.min) return { code: 'min', detail: limit(field.min) }
      if (field.max !== undefined && value > field.max) return { code: 'max', detail: limit(field.max) }
      return null
    }
    case 'id_card':
      return typeof value === 'string' ? checkIdCard(value, today) : null
    case 'phone':
      return typeof value === 'string' && !isPhone(value) ? { code: 'phone_format' } : null
    case 'date':
      return typeof value === 'string' && !parseDate(value) ? { code: 'date_format' } : null
    case 'datetime':
      return typeof value === 'string' && parseDateTime(value) === null ? { code: 'datetime_format' } : null
    case 'select':
      return typeof value === 'string' && !(field.options ?? []).some((o) => o.value === value)
        ? { code: 'invalid_option' }
        : null
    case 'tags': {
      if (!Array.isArray(value)) return null
      for (const tag of value) {
        if (typeof tag !== 'string') continue
        const length = Array.from(tag).length
        if (field.max_length !== undefined && length > field.max_length) return { code: 'max_length', detail: String(field.max_length) }
        if (field.min_length !== undefined && length < field.min_length) return { code: 'min_length', detail: String(field.min_length) }
      }
      return null
    }
    default:
      return null
  }
}
