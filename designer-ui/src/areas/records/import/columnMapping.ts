// Which field each column of an imported file fills. The server proposes the exact matches (a
// header that is a field's name or label); for the columns it leaves out, the browser proposes a
// field whose label is close (spaces, case, full-width letters, or one name holding the other:
// "患者姓名" for 姓名), and the user decides. The mapping sent back names every column.
import type { EntityInfo, FieldDef, ImportColumn, Me } from '@/api/types'
import { can, fieldRule } from '@/lib/access'
import { isComputed } from '../fields'

/** How a column came to its field. */
export type ChoiceSource =
  /** The server matched the header to a field's name or label. */
  | 'exact'
  /** The browser found a field whose label is close to the header. */
  | 'similar'
  /** The header names a field the engine fills itself (an exported 编号): not imported. */
  | 'computed'
  /** The header names a field the user may not write: not imported. */
  | 'locked'
  /** The user chose. */
  | 'user'
  /** Nothing matched. */
  | 'none'

export interface ColumnChoice {
  /** The header as written in the file. */
  column: string
  /** The field the column fills; null to ignore the column. */
  field: string | null
  source: ChoiceSource
}

/** The server's default match (engine/src/records/transfer.rs, `label_matches`). */
export function headerMatches(field: FieldDef, header: string): boolean {
  const h = header.trim()
  return field.name === h || field.label?.zh === h || (!!field.label?.en && field.label.en.toLowerCase() === h.toLowerCase())
}

/** The field the server fills from a column with this header, when no mapping names it. */
export function defaultFieldFor(fields: FieldDef[], header: string): FieldDef | undefined {
  return fields.find((f) => headerMatches(f, header))
}

/**
 * The fields a file may fill for this user, as the engine decides (`require_importable`): none
 * it computes or that hold files, none hidden, and no read-only one for a user who may update
 * (creating is all an import does, so a create-only user fills what they read).
 */
export function importableFields(entity: EntityInfo, me: Me | null): FieldDef[] {
  const mayUpdate = can(me, entity.name, 'update')
  return entity.fields.filter((field) => {
    if (isComputed(field) || field.type === 'attachment') return false
    const rule = fieldRule(me, entity.name, field.name)
    return rule === 'write' || (rule !== 'hidden' && !mayUpdate)
  })
}

/** Lower case, no spaces or punctuation, full-width letters and digits as ASCII. */
export function normalizeHeader(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[\s_\-–—·•.,，。:：;；/\\|()（）[\]【】<>《》"'“”‘’*＊]+/g, '')
}

function namesOf(field: FieldDef): string[] {
  return [field.name, field.label?.zh, field.label?.en].filter((n): n is string => !!n).map(normalizeHeader).filter((n) => n !== '')
}

/** The one field whose name or label is close to the header; none when several are. */
export function similarField(fields: FieldDef[], header: string): FieldDef | undefined {
  const h = normalizeHeader(header)
  if (h === '') return undefined
  const same = fields.filter((f) => namesOf(f).includes(h))
  if (same.length === 1) return same[0]
  if (same.length > 1) return undefined
  // One holds the other: "患者姓名" and 姓名, "手机" and 手机号. Two characters at least, so a
  // one-letter label does not match every header.
  const holding = fields.filter((f) => namesOf(f).some((n) => n.length >= 2 && h.length >= 2 && (h.includes(n) || n.includes(h))))
  return holding.length === 1 ? holding[0] : undefined
}

/** Why a column that names a field exactly is not imported, or null when nothing stops it. */
function excluded(def: FieldDef | undefined, importableNames: Set<string>): 'computed' | 'locked' | null {
  if (!def || importableNames.has(def.name)) return null
  return isComputed(def) ? 'computed' : 'locked'
}

/**
 * The proposal for each column of the file: the server's match where it made one (among the
 * fields the user may import), else a close field not taken by another column, else ignored; a
 * column naming a field that cannot be imported says why.
 */
export function proposeColumns(columns: ImportColumn[], entityFields: FieldDef[], importable: FieldDef[]): ColumnChoice[] {
  const importableNames = new Set(importable.map((f) => f.name))
  const taken = new Set(columns.map((c) => c.field).filter((f): f is string => !!f && importableNames.has(f)))
  return columns.map(({ column, field }) => {
    const named = excluded(entityFields.find((f) => f.name === field) ?? defaultFieldFor(entityFields, column), importableNames)
    if (named) return { column, field: null, source: named }
    if (field && importableNames.has(field)) return { column, field, source: 'exact' as const }
    const close = similarField(
      importable.filter((f) => !taken.has(f.name)),
      column,
    )
    if (!close) return { column, field: null, source: 'none' as const }
    taken.add(close.name)
    return { column, field: close.name, source: 'similar' as const }
  })
}

/** What the server is sent: every column with its field, `''` for an ignored one. */
export function mappingOf(choices: ColumnChoice[]): Record<string, string> {
  return Object.fromEntries(choices.map((c) => [c.column, c.field ?? '']))
}

/**
 * The choices of a new file under the mapping the user made for the last one: a column with the
 * same header keeps the user's field; new columns take the server's proposal.
 */
export function carryOver(previous: ColumnChoice[], proposed: ColumnChoice[]): ColumnChoice[] {
  const before = new Map(previous.map((c) => [c.column, c]))
  return proposed.map((c) => before.get(c.column) ?? c)
}

export interface MappingProblems {
  /** Fields that two or more columns fill, with those columns. */
  duplicates: { field: string; columns: string[] }[]
  /** Required fields no column fills (every row would fail). */
  missingRequired: FieldDef[]
  /** Whether any column is imported at all. */
  nothingMapped: boolean
}

export function mappingProblems(choices: ColumnChoice[], importable: FieldDef[]): MappingProblems {
  const byField = new Map<string, string[]>()
  for (const c of choices) {
    if (c.field) byField.set(c.field, [...(byField.get(c.field) ?? []), c.column])
  }
  return {
    duplicates: [...byField].filter(([, cols]) => cols.length > 1).map(([field, columns]) => ({ field, columns })),
    missingRequired: importable.filter((f) => f.required && f.default === undefined && !byField.has(f.name)),
    nothingMapped: byField.size === 0,
  }
}

/** Whether the mapping can be checked: no field filled twice and something imported. */
export function isMappingUsable(problems: MappingProblems): boolean {
  return problems.duplicates.length === 0 && !problems.nothingMapped
}
