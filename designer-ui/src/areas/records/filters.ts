// The per-column filters of a record list, built from field types: a select becomes a choice of
// its options, a date a date range, a number or money a range, text a "contains" box, and a
// sensitive value an exact lookup (the only filter the server allows on it).
import type { FieldDef, FilterExpr } from '@/api/types'
import type { Sight } from '@/lib/access'
import { isMultiValued, valueType } from './fields'

export type FilterKind = 'contains' | 'options' | 'range' | 'dates' | 'datetimes' | 'boolean' | 'exact'

/** A column's filter as the user set it; blank parts filter nothing. */
export interface ColumnFilter {
  text?: string
  options?: string[]
  min?: number | null
  max?: number | null
  /** `[from, to]` as `YYYY-MM-DD`. */
  dates?: [string, string] | null
  flag?: boolean | null
}

export type FilterState = Record<string, ColumnFilter>

const EXACT_ONLY_TYPES = new Set<string>(['text', 'phone', 'id_card', 'email', 'autonumber', 'select'])

export function filterKindOf(field: FieldDef, sight: Sight): FilterKind | null {
  if (sight === 'hidden') return null
  // A sensitive or masked value is found only by its exact value.
  if (sight !== 'plain') return EXACT_ONLY_TYPES.has(valueType(field)) ? 'exact' : null
  switch (valueType(field)) {
    case 'select':
    case 'multiselect':
      return 'options'
    case 'date':
      return 'dates'
    case 'datetime':
      return 'datetimes'
    case 'number':
    case 'integer':
    case 'money':
      return 'range'
    case 'boolean':
      return 'boolean'
    case 'tags':
      return 'exact'
    case 'text':
    case 'textarea':
    case 'email':
    case 'phone':
    case 'id_card':
    case 'autonumber':
      return 'contains'
    default:
      return null
  }
}

/** The start or end of a local day as an RFC 3339 instant with the browser's offset. */
export function localDayBound(date: string, end: boolean, offsetMinutes = -new Date().getTimezoneOffset()): string {
  const sign = offsetMinutes < 0 ? '-' : '+'
  const abs = Math.abs(offsetMinutes)
  const zone = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`
  return `${date}T${end ? '23:59:59.999' : '00:00:00'}${zone}`
}

function isSet(v: number | null | undefined): v is number {
  return typeof v === 'number' && Number.isFinite(v)
}

/** The conditions one column's filter stands for. */
export function columnConditions(field: FieldDef, kind: FilterKind, filter: ColumnFilter): FilterExpr[] {
  const name = field.name
  switch (kind) {
    case 'contains': {
      const text = filter.text?.trim()
      return text ? [{ field: name, op: 'contains', value: text }] : []
    }
    case 'exact': {
      const text = filter.text?.trim()
      return text ? [{ field: name, op: 'eq', value: text }] : []
    }
    case 'options': {
      const values = filter.options ?? []
      if (values.length === 0) return []
      // On a multiselect, `in` keeps records holding any of the values.
      return values.length === 1 && !isMultiValued(field)
        ? [{ field: name, op: 'eq', value: values[0] }]
        : [{ field: name, op: 'in', value: values }]
    }
    case 'range': {
      const out: FilterExpr[] = []
      if (isSet(filter.min)) out.push({ field: name, op: 'gte', value: filter.min })
      if (isSet(filter.max)) out.push({ field: name, op: 'lte', value: filter.max })
      return out
    }
    case 'dates':
      return filter.dates ? [{ field: name, op: 'between', value: [filter.dates[0], filter.dates[1]] }] : []
    case 'datetimes':
      return filter.dates
        ? [
            { field: name, op: 'gte', value: localDayBound(filter.dates[0], false) },
            { field: name, op: 'lte', value: localDayBound(filter.dates[1], true) },
          ]
        : []
    case 'boolean':
      return typeof filter.flag === 'boolean' ? [{ field: name, op: 'eq', value: filter.flag }] : []
  }
}

/** The list's filter: every column's conditions, all of which must hold; null when none. */
export function buildFilter(
  columns: { field: FieldDef; sight: Sight }[],
  state: FilterState,
): FilterExpr | null {
  const conditions: FilterExpr[] = []
  for (const { field, sight } of columns) {
    const kind = filterKindOf(field, sight)
    const filter = state[field.name]
    if (kind && filter) conditions.push(...columnConditions(field, kind, filter))
  }
  if (conditions.length === 0) return null
  return conditions.length === 1 ? conditions[0]! : { and: conditions }
}

export function isFilterActive(state: FilterState): boolean {
  return Object.values(state).some(
    (f) =>
      (f.text?.trim() ?? '') !== '' ||
      (f.options?.length ?? 0) > 0 ||
      isSet(f.min) ||
      isSet(f.max) ||
      !!f.dates ||
      typeof f.flag === 'boolean',
  )
}
