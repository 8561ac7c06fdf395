// The condition builder's model of `visible_if` / `readonly_if`: rows of "field operator value",
// all or any of them, turned into the filter grammar the server and the browser evaluate
// (lib/filterEval.ts), and back. Anything richer (nesting, `not`) stays in JSON.
import type { FieldDef, FilterExpr, FilterOp } from '@/api/types'
import { isSensitiveField, valueTypeOf } from './fieldTypes'

export interface ConditionRow {
  field: string
  op: FilterOp
  value?: unknown
}

export interface ConditionModel {
  match: 'all' | 'any'
  rows: ConditionRow[]
}

export type ValueKind = 'none' | 'text' | 'number' | 'days' | 'date' | 'boolean' | 'option' | 'options'

const NO_VALUE: ReadonlySet<FilterOp> = new Set(['is_empty', 'not_empty', 'this_week', 'this_month', 'this_quarter', 'this_year'])

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function rowOf(v: unknown): ConditionRow | null {
  if (!isObject(v) || typeof v.field !== 'string' || typeof v.op !== 'string') return null
  if (Object.keys(v).some((k) => k !== 'field' && k !== 'op' && k !== 'value')) return null
  const row: ConditionRow = { field: v.field, op: v.op as FilterOp }
  if ('value' in v) row.value = v.value
  return row
}

/** The builder's rows for a rule, or null when the rule needs JSON (nesting, `not`, `exists`). */
export function parseCondition(rule: unknown): ConditionModel | null {
  if (rule === undefined || rule === null) return { match: 'all', rows: [] }
  const single = rowOf(rule)
  if (single) return { match: 'all', rows: [single] }
  if (!isObject(rule) || Object.keys(rule).length !== 1) return null
  const [key, list] = Object.entries(rule)[0]!
  if ((key !== 'and' && key !== 'or') || !Array.isArray(list)) return null
  const rows = list.map(rowOf)
  if (rows.some((r) => r === null)) return null
  return { match: key === 'and' ? 'all' : 'any', rows: rows as ConditionRow[] }
}

/** The filter of the builder's complete rows; undefined when there is none (no rule). */
export function buildCondition(model: ConditionModel): FilterExpr | undefined {
  const rows: FilterExpr[] = model.rows
    .filter((r) => r.field !== '')
    .map((r) => (NO_VALUE.has(r.op) || r.value === undefined ? { field: r.field, op: r.op } : { field: r.field, op: r.op, value: r.value }))
  if (rows.length === 0) return undefined
  if (rows.length === 1) return rows[0]
  return model.match === 'all' ? { and: rows } : { or: rows }
}

/**
 * Fields a rule may test: this record's own, judged by the browser as the user types. A
 * sensitive value is masked for most viewers, so a rule on it could not be judged; files and
 * links to other records have nothing to compare.
 */
export function conditionFields(fields: readonly FieldDef[], self: string | null): FieldDef[] {
  return fields.filter(
    (f) =>
      f.name !== self &&
      !isSensitiveField(f) &&
      !['attachment', 'reference', 'references', 'user', 'phone', 'id_card'].includes(f.type),
  )
}

export function operatorsFor(field: FieldDef): FilterOp[] {
  switch (valueTypeOf(field)) {
    case 'number':
    case 'integer':
    case 'money':
      return ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'is_empty', 'not_empty']
    case 'boolean':
      return ['eq', 'ne']
    case 'date':
      return ['eq', 'gt', 'lt', 'last_n_days', 'next_n_days', 'this_week', 'this_month', 'this_year', 'is_empty', 'not_empty']
    case 'datetime':
      return ['last_n_days', 'next_n_days', 'this_week', 'this_month', 'this_year', 'is_empty', 'not_empty']
    case 'select':
      return ['eq', 'ne', 'in', 'not_in', 'is_empty', 'not_empty']
    case 'multiselect':
    case 'tags':
      return ['contains', 'ne', 'in', 'is_empty', 'not_empty']
    default:
      return ['eq', 'ne', 'contains', 'starts_with', 'is_empty', 'not_empty']
  }
}

export function valueKind(field: FieldDef, op: FilterOp): ValueKind {
  if (NO_VALUE.has(op)) return 'none'
  if (op === 'last_n_days' || op === 'next_n_days') return 'days'
  const type = valueTypeOf(field)
  if (type === 'select' || type === 'multiselect') return op === 'in' || op === 'not_in' ? 'options' : 'option'
  if (type === 'tags') return 'text'
  if (type === 'number' || type === 'integer' || type === 'money') return 'number'
  if (type === 'boolean') return 'boolean'
  if (type === 'date') return 'date'
  return 'text'
}

/** The value a row starts with when its field or operator changes. */
export function initialValue(field: FieldDef, op: FilterOp): unknown {
  switch (valueKind(field, op)) {
    case 'none':
      return undefined
    case 'days':
      return 7
    case 'boolean':
      return true
    case 'options':
      return []
    case 'option':
      return field.options?.[0]?.value ?? ''
    case 'number':
      return 0
    default:
      return ''
  }
}
