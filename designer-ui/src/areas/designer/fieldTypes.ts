// The field types the server knows (the `type` enum of `Field` in openapi.json), as the palette
// groups them, and the options each type takes: the engine's definition rules
// (engine/src/forms/compiled.rs, `CompiledEntity::compile`), so the property panel offers only
// what the server accepts and a saved definition carries nothing it would refuse.
import {
  Calendar,
  CircleCheck,
  Clock,
  Connection,
  Document,
  EditPen,
  Finished,
  Histogram,
  Iphone,
  Link,
  Message,
  Money,
  Odometer,
  Operation,
  Paperclip,
  Postcard,
  PriceTag,
  SwitchButton,
  Tickets,
  User,
} from '@element-plus/icons-vue'
import type { Component } from 'vue'
import type { FieldDef, FieldType } from '@/api/types'

export type PaletteGroup = 'basic' | 'choice' | 'dateNumber' | 'contact' | 'advanced'

export const PALETTE_GROUPS: readonly PaletteGroup[] = ['basic', 'choice', 'dateNumber', 'contact', 'advanced']

export interface FieldTypeInfo {
  group: PaletteGroup
  icon: Component
}

/**
 * Every type of the API's enum: a type the server adds and the palette lacks fails the type
 * check here (and the test that reads openapi.json).
 */
export const FIELD_TYPES: Record<FieldType, FieldTypeInfo> = {
  text: { group: 'basic', icon: EditPen },
  textarea: { group: 'basic', icon: Document },
  boolean: { group: 'basic', icon: SwitchButton },
  select: { group: 'choice', icon: CircleCheck },
  multiselect: { group: 'choice', icon: Finished },
  tags: { group: 'choice', icon: PriceTag },
  date: { group: 'dateNumber', icon: Calendar },
  datetime: { group: 'dateNumber', icon: Clock },
  number: { group: 'dateNumber', icon: Odometer },
  integer: { group: 'dateNumber', icon: Histogram },
  money: { group: 'dateNumber', icon: Money },
  phone: { group: 'contact', icon: Iphone },
  email: { group: 'contact', icon: Message },
  id_card: { group: 'contact', icon: Postcard },
  reference: { group: 'advanced', icon: Link },
  references: { group: 'advanced', icon: Connection },
  user: { group: 'advanced', icon: User },
  attachment: { group: 'advanced', icon: Paperclip },
  autonumber: { group: 'advanced', icon: Tickets },
  formula: { group: 'advanced', icon: Operation },
  subject: { group: 'advanced', icon: Link },
}

export const ALL_FIELD_TYPES = Object.keys(FIELD_TYPES) as FieldType[]

export function typesOfGroup(group: PaletteGroup): FieldType[] {
  return ALL_FIELD_TYPES.filter((t) => FIELD_TYPES[t].group === group)
}

/** The options of a field definition the designer edits (besides name, type and label). */
export type FieldProperty =
  | 'help'
  | 'required'
  | 'unique'
  | 'indexed'
  | 'sensitive'
  | 'default'
  | 'min'
  | 'max'
  | 'min_length'
  | 'max_length'
  | 'pattern'
  | 'options'
  | 'entity'
  | 'expr'
  | 'result'
  | 'prefix'
  | 'digits'
  | 'yearly'
  | 'visible_if'
  | 'readonly_if'

export function isComputedType(type: FieldType): boolean {
  return type === 'autonumber' || type === 'formula'
}

export function isMultiValuedType(type: FieldType): boolean {
  return type === 'multiselect' || type === 'tags' || type === 'references'
}

/** The type a stored value has: a formula's result type, else the field's own. */
export function valueTypeOf(field: Pick<FieldDef, 'type' | 'result'>): FieldType {
  return field.type === 'formula' ? (field.result ?? 'number') : field.type
}

const NUMERIC: ReadonlySet<FieldType> = new Set(['number', 'integer', 'money'])
const TEXT_LIKE: ReadonlySet<FieldType> = new Set(['text', 'textarea', 'email', 'tags'])
const MAY_BE_SENSITIVE: ReadonlySet<FieldType> = new Set(['text', 'textarea', 'phone', 'email', 'id_card'])
/** Types whose default the property panel can edit (a person or record link has none). */
const WITH_DEFAULT: ReadonlySet<FieldType> = new Set([
  'text', 'textarea', 'number', 'integer', 'money', 'boolean', 'date', 'select', 'multiselect', 'tags', 'phone', 'email',
])

/** Whether the server accepts `property` on this field (as its type and formula result stand). */
export function takes(field: Pick<FieldDef, 'type' | 'result'>, property: FieldProperty): boolean {
  const t = field.type
  switch (property) {
    case 'help':
    case 'visible_if':
      return true
    case 'required':
    case 'readonly_if':
      return !isComputedType(t)
    case 'unique':
      // A subject is always indexed, and many records share one: never unique.
      return t !== 'subject' && takes(field, 'indexed')
    case 'indexed':
      return !(t === 'textarea' || t === 'attachment' || t === 'boolean' || isMultiValuedType(t))
    case 'sensitive':
      return MAY_BE_SENSITIVE.has(t)
    case 'default':
      return WITH_DEFAULT.has(t)
    case 'min':
    case 'max':
      return NUMERIC.has(valueTypeOf(field))
    case 'min_length':
    case 'max_length':
    case 'pattern':
      return TEXT_LIKE.has(t)
    case 'options':
      return t === 'select' || t === 'multiselect'
    case 'entity':
      return t === 'reference' || t === 'references'
    case 'expr':
    case 'result':
      return t === 'formula'
    case 'prefix':
    case 'digits':
    case 'yearly':
      return t === 'autonumber'
  }
}

/** Sensitive unless said otherwise: ID numbers and phones (the engine's `is_sensitive`). */
export function isSensitiveField(field: Pick<FieldDef, 'type' | 'sensitive'>): boolean {
  return field.sensitive ?? (field.type === 'id_card' || field.type === 'phone')
}

/** What a formula may compute to (the `result` enum). */
export const FORMULA_RESULTS = ['number', 'integer', 'money', 'text', 'boolean', 'date'] as const satisfies readonly NonNullable<
  FieldDef['result']
>[]

/** Colours offered for select options: Element Plus's palette, readable on white. */
export const OPTION_COLORS: readonly string[] = [
  '#409eff', '#67c23a', '#e6a23c', '#f56c6c', '#909399', '#9c27b0', '#00bcd4', '#d9480f',
]
