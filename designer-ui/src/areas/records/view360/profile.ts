// The header card of a 360° view, for any entity: the record's name and the first character of
// it for the avatar, the ID number and phone as the server sent them (masked unless unmasked),
// the age from a birth date, the single-choice fields as badges (tier, department), the tags,
// and the key dates. Only fields the user may see; values exactly as the server answered.
import type { EntityInfo, FieldDef, Me, RecordItem } from '@/api/types'
import type { Sight } from '@/lib/access'
import { dayNumber, localToday, parseDate, type CalendarDate } from '@/lib/dates'
import { recordTitle, titleField, valueType, visibleFields } from '../fields'

export interface ProfileValue {
  field: FieldDef
  sight: Sight
  value: unknown
}

export interface RecordProfile {
  name: string
  /** The avatar's character: the name's first. */
  initial: string
  /** The ID number and phone fields, first of each type, when filled. */
  identity: ProfileValue[]
  age: number | null
  /** Filled single-choice fields (tier, department, sex), at most four. */
  badges: ProfileValue[]
  /** Tag values of every filled tags or multi-choice field. */
  tags: ProfileValue[]
  /** Filled date and date-time fields, the birth date first, at most four. */
  dates: ProfileValue[]
}

function filled(v: unknown): boolean {
  return v !== undefined && v !== null && v !== '' && !(Array.isArray(v) && v.length === 0)
}

/** A date field that holds a birth date, by its name or label. */
export function isBirthDate(field: FieldDef): boolean {
  if (valueType(field) !== 'date') return false
  return /birth|dob/i.test(field.name) || /出生|生日/.test(field.label?.zh ?? '') || /birth/i.test(field.label?.en ?? '')
}

/** Whole years from a birth date to today; null for a date in the future or not a date. */
export function ageOn(birth: string, today: CalendarDate = localToday()): number | null {
  const born = parseDate(birth)
  if (!born || dayNumber(born) > dayNumber(today)) return null
  const birthdayPassed = today.month > born.month || (today.month === born.month && today.day >= born.day)
  return today.year - born.year - (birthdayPassed ? 0 : 1)
}

export function firstCharacter(text: string): string {
  return Array.from(text.trim())[0] ?? ''
}

export function recordProfile(entity: EntityInfo, record: RecordItem, me: Me | null, today: CalendarDate = localToday()): RecordProfile {
  const seen = visibleFields(entity, me)
  const title = titleField(entity)
  const name = recordTitle(entity, record)
  const value = (f: { field: FieldDef; sight: Sight }): ProfileValue => ({ ...f, value: record.data[f.field.name] })
  const withValue = seen.filter((f) => filled(record.data[f.field.name]) && f.field.name !== title?.name)
  const ofType = (...types: string[]) => withValue.filter((f) => types.includes(valueType(f.field)))

  const identity = ['id_card', 'phone'].flatMap((type) => ofType(type).slice(0, 1)).map(value)
  const birth = ofType('date').find((f) => isBirthDate(f.field))
  // A masked birth date is not a date: no age from it.
  const birthValue = birth && birth.sight === 'plain' ? record.data[birth.field.name] : undefined
  return {
    name,
    initial: firstCharacter(title && filled(record.data[title.name]) ? name : entity.label?.zh ?? entity.name),
    identity,
    age: typeof birthValue === 'string' ? ageOn(birthValue, today) : null,
    badges: ofType('select', 'boolean').filter((f) => valueType(f.field) === 'select' || record.data[f.field.name] === true).slice(0, 4).map(value),
    tags: ofType('tags', 'multiselect').map(value),
    dates: [...(birth ? [birth] : []), ...ofType('date', 'datetime').filter((f) => f !== birth)].slice(0, 4).map(value),
  }
}
