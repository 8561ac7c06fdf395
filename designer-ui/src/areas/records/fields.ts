// What the records pages need to know about an entity's fields: labels, who sees what, which
// columns sort, and how to name a record.
import type { EntityInfo, FieldDef, FieldType, Me, RecordItem } from '@/api/types'
import { pickLabel, type Language } from '@/i18n'
import { isSensitive, sightOf, type Sight } from '@/lib/access'
import { tagBackground } from '@/lib/colors'

export function fieldLabel(field: FieldDef, language: Language): string {
  return pickLabel(field.label, language, field.name)
}

export function entityLabel(entity: EntityInfo, language: Language): string {
  return pickLabel(entity.label, language, entity.name)
}

/** The type the stored value has: a formula's result type, else the field's own. */
export function valueType(field: FieldDef): FieldType {
  if (field.type !== 'formula') return field.type
  return field.result ?? 'number'
}

export function isComputed(field: FieldDef): boolean {
  return field.type === 'autonumber' || field.type === 'formula'
}

export function isMultiValued(field: FieldDef): boolean {
  return field.type === 'multiselect' || field.type === 'tags' || field.type === 'references'
}

/** Fields with their sight for this user, hidden ones left out, in definition order. */
export function visibleFields(entity: EntityInfo, me: Me | null): { field: FieldDef; sight: Sight }[] {
  return entity.fields
    .map((field) => ({ field, sight: sightOf(me, entity.name, field) }))
    .filter((f) => f.sight !== 'hidden')
}

/** A column sorts on the server when the user sees it plainly and it has a projection column. */
export function isSortable(field: FieldDef, sight: Sight): boolean {
  return sight === 'plain' && !isMultiValued(field) && field.type !== 'textarea' && field.type !== 'attachment'
}

/** The columns a list shows before the user chooses: the first six that fit a table cell. */
export function defaultColumns(entity: EntityInfo, me: Me | null): string[] {
  return visibleFields(entity, me)
    .filter(({ field }) => field.type !== 'textarea' && field.type !== 'attachment')
    .slice(0, 6)
    .map(({ field }) => field.name)
}

/** The field that names a record: the first non-sensitive text or autonumber field. */
export function titleField(entity: EntityInfo): FieldDef | undefined {
  return (
    entity.fields.find((f) => f.type === 'text' && !isSensitive(f)) ??
    entity.fields.find((f) => f.type === 'autonumber')
  )
}

export function recordTitle(entity: EntityInfo | undefined, record: Pick<RecordItem, 'id' | 'data'>): string {
  const field = entity ? titleField(entity) : undefined
  const value = field ? record.data[field.name] : undefined
  return typeof value === 'string' && value !== '' ? value : record.id.slice(0, 8)
}

/** The option's label of a select value, or the value itself. */
export function optionLabel(field: FieldDef, value: string, language: Language): string {
  const option = field.options?.find((o) => o.value === value)
  return option ? pickLabel(option.label, language, option.value) : value
}

/** The option's colour behind white text: the definition's, darkened where too light to read. */
export function optionColor(field: FieldDef, value: string): string | undefined {
  const color = field.options?.find((o) => o.value === value)?.color
  return color ? tagBackground(color) : undefined
}
