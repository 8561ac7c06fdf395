// The record form's logic, apart from its looks: which sections and fields show, which are
// read-only, the values a form starts with, and what a save sends.
import type { EntityInfo, FieldDef, Label, LayoutSection, Me, RecordData } from '@/api/types'
import { pickLabel, type Language } from '@/i18n'
import { fieldRule, sightOf, type Sight } from '@/lib/access'
import { parseDateTime } from '@/lib/dates'
import { evaluateFilter, type EvalContext } from '@/lib/filterEval'
import { isComputed } from './fields'

export interface FormField {
  field: FieldDef
  sight: Sight
  /** The user's roles let them change it (rule `write`) and the engine does not compute it. */
  writable: boolean
}

export interface FormSection {
  title: string
  columns: number
  /** Sections with the same tab show under one tab (lib/layoutTabs.ts). */
  tab: Label | null
  fields: FormField[]
}

/**
 * The definition's layout sections with the fields the user may see; fields in no section
 * follow in one more section, so nothing the user may fill is left out.
 */
export function formSections(entity: EntityInfo, me: Me | null, language: Language, otherTitle: string): FormSection[] {
  const byName = new Map(entity.fields.map((f) => [f.name, f]))
  const placed = new Set<string>()
  const formField = (field: FieldDef): FormField | null => {
    const sight = sightOf(me, entity.name, field)
    if (sight === 'hidden') return null
    return { field, sight, writable: fieldRule(me, entity.name, field.name) === 'write' && !isComputed(field) }
  }
  const sections: FormSection[] = []
  for (const section of entity.layout ?? []) {
    const fields = sectionFields(section, byName, placed).map(formField).filter((f): f is FormField => f !== null)
    if (fields.length > 0) {
      sections.push({
        title: pickLabel(section.section, language, ''),
        columns: clampColumns(section.columns),
        tab: section.tab ?? null,
        fields,
      })
    }
  }
  const rest = entity.fields.filter((f) => !placed.has(f.name)).map(formField).filter((f): f is FormField => f !== null)
  if (rest.length > 0) {
    sections.push({
      title: sections.length > 0 ? otherTitle : '',
      columns: sections.length > 0 ? sections[0]!.columns : 2,
      tab: null,
      fields: rest,
    })
  }
  return sections
}

function sectionFields(section: LayoutSection, byName: Map<string, FieldDef>, placed: Set<string>): FieldDef[] {
  const out: FieldDef[] = []
  for (const name of section.fields) {
    const field = byName.get(name)
    if (field && !placed.has(name)) {
      placed.add(name)
      out.push(field)
    }
  }
  return out
}

function clampColumns(columns: number | undefined): number {
  const n = columns ?? 1
  return n >= 1 && n <= 4 ? n : 1
}

/** Datetimes in one spelling (the browser's offset), so an untouched one compares equal. */
export function normalizeDateTime(value: string): string {
  const millis = parseDateTime(value)
  if (millis === null) return value
  const t = new Date(millis)
  const offset = -t.getTimezoneOffset()
  const sign = offset < 0 ? '-' : '+'
  const abs = Math.abs(offset)
  const pad = (n: number) => String(n).padStart(2, '0')
  return (
    `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())}T${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}` +
    `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
  )
}

/** A deep copy of JSON data (record values may be reactive proxies, which structuredClone refuses). */
export function cloneJson<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T)
}

/** The values a form starts with: the record's, or the definition's defaults for a new one. */
export function initialValues(entity: EntityInfo, data: RecordData | null): RecordData {
  const values: RecordData = {}
  for (const field of entity.fields) {
    let v = data ? data[field.name] : field.default
    if (v === undefined && !data && isComputed(field)) continue
    if (field.type === 'datetime' && typeof v === 'string') v = normalizeDateTime(v)
    values[field.name] = v === undefined ? null : cloneJson(v)
  }
  return values
}

function same(a: unknown, b: unknown): boolean {
  const blank = (v: unknown) => v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0)
  if (blank(a) && blank(b)) return true
  return JSON.stringify(a) === JSON.stringify(b)
}

/** The fields whose value differs from where the form started. */
export function changedFields(initial: RecordData, values: RecordData): string[] {
  return Object.keys(values).filter((k) => !same(initial[k], values[k]))
}

function cleaned(v: unknown): unknown {
  if (typeof v === 'string') return v.trim() === '' ? null : v
  if (Array.isArray(v) && v.length === 0) return null
  return v
}

/**
 * What a save sends: on create every filled field the user may write and sees; on update only
 * the fields changed, a cleared one as null.
 */
export function savePayload(
  fields: FormField[],
  initial: RecordData,
  values: RecordData,
  mode: 'create' | 'update',
  visible: (name: string) => boolean,
): RecordData {
  const payload: RecordData = {}
  const writable = new Set(fields.filter((f) => f.writable).map((f) => f.field.name))
  if (mode === 'create') {
    for (const name of writable) {
      const v = cleaned(values[name])
      if (v !== null && v !== undefined && visible(name)) payload[name] = v
    }
  } else {
    for (const name of changedFields(initial, values)) {
      if (writable.has(name)) payload[name] = cleaned(values[name]) ?? null
    }
  }
  return payload
}

/** `visible_if` on the values as they stand; a rule the browser cannot judge shows the field. */
export function isShown(field: FieldDef, values: RecordData, ctx: EvalContext): boolean {
  if (field.visible_if === undefined || field.visible_if === null) return true
  try {
    return evaluateFilter(field.visible_if, values, ctx)
  } catch {
    return true
  }
}

/**
 * `readonly_if`, judged as the server judges it: on the stored record (on create, on the record
 * being created). A rule the browser cannot judge leaves the field to the server.
 */
export function isLockedByRule(field: FieldDef, judged: RecordData, ctx: EvalContext): boolean {
  if (field.readonly_if === undefined || field.readonly_if === null) return false
  try {
    return evaluateFilter(field.readonly_if, judged, ctx)
  } catch {
    return false
  }
}
