// The form being designed, apart from its looks: sections holding fields in canvas order, and
// the operations the canvas and the property panel perform on them (place a new field, move,
// duplicate, remove; add, move, remove sections; tabs; labels that propose identifiers). The
// entity definition the server checks and saves is built from it, and a saved definition turns
// back into one.
import type { EntityDefinition, EntityInfo, FieldDef, FieldType, Label, LayoutSection, SelectOption } from '@/api/types'
import { tabKey } from '@/lib/layoutTabs'
import { isComputedType, OPTION_COLORS, takes, type FieldProperty } from './fieldTypes'
import { proposeIdentifier } from './identifiers'

export interface DraftField {
  /** Stable while the designer is open (identifiers change as labels are typed). */
  key: string
  def: FieldDef
  /** In the saved definition: its identifier is fixed (data is stored under it). */
  saved: boolean
  /** The designer typed the identifier: stop proposing one from the label. */
  nameTouched: boolean
  /** The type's own names it got when dropped: replaced, not kept beside a typed label. */
  defaultLabel: Label
  /** Option values that are saved: records hold them, so they stay as they are. */
  savedOptionValues: string[]
}

export interface DraftSection {
  key: string
  title: Label
  /** 1–4. */
  columns: number
  /** Sections with the same tab label show as one tab. */
  tab: Label | null
  fields: DraftField[]
}

export interface FormDraft {
  name: string
  label: Label
  /** Not saved yet: saving creates the entity. */
  isNew: boolean
  /** The version the draft was read at: the precondition of saving it. */
  version: number | null
  sections: DraftSection[]
  /** Parts of the definition the designer does not edit, kept as they were. */
  kept: Pick<EntityDefinition, 'owner_field' | 'department_field' | 'medical_record'>
}

/** What the palette hands the canvas while a new field is dragged: the field exists on drop. */
export interface NewFieldToken {
  newFieldType: FieldType
}

export type CanvasItem = DraftField | NewFieldToken

/** The names a new field starts with, in both languages (from the message files). */
export interface FieldNaming {
  typeLabel(type: FieldType): Label
  /** The n-th (from 1) starter option of a choice field: 选项 1 / Option 1. */
  optionLabel(n: number): Label
}

/** A choice field starts with two options to rename, as staff expect from form tools. */
const STARTER_OPTIONS = 2

export function isNewFieldToken(item: CanvasItem): item is NewFieldToken {
  return 'newFieldType' in item
}

let lastKey = 0
function nextKey(prefix: string): string {
  lastKey += 1
  return `${prefix}${lastKey}`
}

function cloneJson<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T)
}

/** A label without blank texts; undefined when nothing is left. */
export function cleanLabel(label: Label | null | undefined): Label | undefined {
  if (!label) return undefined
  const out: Label = {}
  if (label.zh !== undefined && label.zh.trim() !== '') out.zh = label.zh.trim()
  if (label.en !== undefined && label.en.trim() !== '') out.en = label.en.trim()
  return out.zh === undefined && out.en === undefined ? undefined : out
}

function clampColumns(columns: number | undefined): number {
  const n = columns ?? 1
  return n >= 1 && n <= 4 ? n : 1
}

// ---------------------------------------------------------------------------------------------
// Drafts from definitions and back

function draftField(def: FieldDef, saved: boolean): DraftField {
  return {
    key: nextKey('f'),
    def: cloneJson(def),
    saved,
    nameTouched: saved,
    defaultLabel: {},
    savedOptionValues: saved ? (def.options ?? []).map((o) => o.value) : [],
  }
}

function newSection(title: Label, columns: number, tab: Label | null): DraftSection {
  return { key: nextKey('s'), title, columns, tab, fields: [] }
}

/** A new form: one section, no fields yet. */
export function newDraft(name: string, label: Label, firstSection: Label): FormDraft {
  return {
    name,
    label: cleanLabel(label) ?? {},
    isNew: true,
    version: null,
    sections: [newSection(firstSection, 1, null)],
    kept: {},
  }
}

/**
 * The draft of a saved definition: its layout's sections, and the fields no section names in
 * one more section (`otherSection`), as the record form shows them.
 */
export function draftFromDefinition(
  definition: EntityDefinition | EntityInfo,
  version: number | null,
  otherSection: Label,
): FormDraft {
  const byName = new Map(definition.fields.map((f) => [f.name, f]))
  const placed = new Set<string>()
  const sections: DraftSection[] = []
  for (const section of definition.layout ?? []) {
    const draft = newSection(cloneJson(section.section), clampColumns(section.columns), section.tab ? cloneJson(section.tab) : null)
    for (const name of section.fields) {
      const def = byName.get(name)
      if (!def || placed.has(name)) continue
      placed.add(name)
      draft.fields.push(draftField(def, true))
    }
    sections.push(draft)
  }
  const rest = definition.fields.filter((f) => !placed.has(f.name))
  if (rest.length > 0 || sections.length === 0) {
    const other = newSection(sections.length > 0 ? cloneJson(otherSection) : {}, sections[0]?.columns ?? 2, null)
    other.fields = rest.map((f) => draftField(f, true))
    sections.push(other)
  }
  const kept: FormDraft['kept'] = {}
  if (definition.owner_field !== undefined) kept.owner_field = definition.owner_field
  if (definition.department_field !== undefined) kept.department_field = definition.department_field
  if (definition.medical_record !== undefined) kept.medical_record = definition.medical_record
  return {
    name: definition.name,
    label: cloneJson(definition.label ?? {}),
    isNew: false,
    version,
    sections,
    kept,
  }
}

function meaningful(value: unknown): boolean {
  if (value === undefined || value === null) return false
  if (typeof value === 'string') return value.trim() !== ''
  if (typeof value === 'number') return Number.isFinite(value)
  if (Array.isArray(value)) return value.length > 0
  return true
}

function cleanOption(option: SelectOption): SelectOption {
  const out: SelectOption = { value: option.value }
  const label = cleanLabel(option.label)
  if (label) out.label = label
  if (option.color) out.color = option.color
  return out
}

/** Properties copied as they are when the type takes them and they hold something. */
const PLAIN_PROPERTIES: readonly FieldProperty[] = [
  'unique', 'indexed', 'sensitive', 'min', 'max', 'min_length', 'max_length', 'pattern', 'entity',
  'expr', 'result', 'prefix', 'digits', 'yearly', 'visible_if', 'readonly_if',
]

/**
 * The field as the server should get it: only what its type takes, no blank texts, no empty
 * lists. Values the designer did not touch come out as they went in.
 */
export function cleanField(def: FieldDef): FieldDef {
  const out: FieldDef = { name: def.name, type: def.type }
  const label = cleanLabel(def.label)
  if (label) out.label = label
  if (def.required && takes(def, 'required')) out.required = true
  const record = out as Record<string, unknown>
  const source = def as Record<string, unknown>
  for (const property of PLAIN_PROPERTIES) {
    const value = source[property]
    if (!takes(def, property) || !meaningful(value)) continue
    if ((property === 'unique' || property === 'indexed') && value !== true) continue
    record[property] = cloneJson(value)
  }
  if (takes(def, 'options') && def.options && def.options.length > 0) out.options = def.options.map(cleanOption)
  // The server takes a default on every stored field; the panel edits it on the common types.
  if (!isComputedType(def.type) && meaningful(def.default)) out.default = cloneJson(def.default)
  const help = cleanLabel(def.help)
  if (help) out.help = help
  return out
}

/** Every field in canvas order: the order of the saved definition. */
export function allFields(draft: FormDraft): DraftField[] {
  return draft.sections.flatMap((s) => s.fields)
}

/** The entity definition to check or save. */
export function buildDefinition(draft: FormDraft): EntityDefinition {
  const definition: EntityDefinition = {
    name: draft.name,
    fields: allFields(draft).map((f) => cleanField(f.def)),
    layout: draft.sections.map((s) => {
      const section: LayoutSection = { section: cleanLabel(s.title) ?? {}, columns: s.columns, fields: s.fields.map((f) => f.def.name) }
      const tab = cleanLabel(s.tab)
      if (tab) section.tab = tab
      return section
    }),
  }
  const label = cleanLabel(draft.label)
  if (label) definition.label = label
  Object.assign(definition, cloneJson(draft.kept))
  if (draft.version !== null) definition.version = draft.version
  return definition
}

/** The keys of fields and sections in the order `buildDefinition` writes them. */
export function definitionKeys(draft: FormDraft): { fieldKeys: string[]; sectionKeys: string[]; fieldNames: string[] } {
  const fields = allFields(draft)
  return { fieldKeys: fields.map((f) => f.key), sectionKeys: draft.sections.map((s) => s.key), fieldNames: fields.map((f) => f.def.name) }
}

// ---------------------------------------------------------------------------------------------
// Finding things

export interface FieldPlace {
  section: DraftSection
  index: number
  field: DraftField
}

export function findField(draft: FormDraft, key: string): FieldPlace | null {
  for (const section of draft.sections) {
    const index = section.fields.findIndex((f) => f.key === key)
    if (index >= 0) return { section, index, field: section.fields[index]! }
  }
  return null
}

export function findSection(draft: FormDraft, key: string): DraftSection | null {
  return draft.sections.find((s) => s.key === key) ?? null
}

function namesExcept(draft: FormDraft, key: string | null): Set<string> {
  return new Set(allFields(draft).filter((f) => f.key !== key).map((f) => f.def.name))
}

// ---------------------------------------------------------------------------------------------
// Fields

/** A new field of `type`, labelled with the type's names, its identifier proposed. */
export function createField(draft: FormDraft, type: FieldType, naming: FieldNaming): DraftField {
  const label = naming.typeLabel(type)
  const def: FieldDef = { name: '', type, label: cloneJson(label) }
  if (type === 'select' || type === 'multiselect') {
    def.options = Array.from({ length: STARTER_OPTIONS }, (_, i) => ({
      value: `option_${i + 1}`,
      label: naming.optionLabel(i + 1),
      color: OPTION_COLORS[i % OPTION_COLORS.length]!,
    }))
  }
  const field: DraftField = { key: nextKey('f'), def, saved: false, nameTouched: false, defaultLabel: cloneJson(label), savedOptionValues: [] }
  def.name = proposeIdentifier(label.en, namesExcept(draft, null), type)
  return field
}

/** Re-proposes the identifier of a field the designer has not named by hand. */
function reproposeName(draft: FormDraft, field: DraftField): void {
  if (field.saved || field.nameTouched) return
  field.def.name = proposeIdentifier(field.def.label?.en, namesExcept(draft, field.key), field.def.type)
}

/**
 * Sets one language of a field's label. The type's name the field was dropped with goes from
 * the other language once the designer types their own (a field called 姓名 is not "Text" in
 * English), and an unsaved field's identifier follows the English label.
 */
export function setFieldLabel(draft: FormDraft, key: string, language: 'zh' | 'en', text: string): void {
  const place = findField(draft, key)
  if (!place) return
  const field = place.field
  const label: Label = { ...(field.def.label ?? {}) }
  label[language] = text
  const other = language === 'zh' ? 'en' : 'zh'
  if (label[other] !== undefined && label[other] === field.defaultLabel[other]) delete label[other]
  field.defaultLabel = {}
  field.def.label = label
  reproposeName(draft, field)
}

/** The designer names the field: the identifier is theirs from now on (until saved, then fixed). */
export function setFieldName(draft: FormDraft, key: string, name: string): void {
  const place = findField(draft, key)
  if (!place || place.field.saved) return
  place.field.def.name = name.trim()
  place.field.nameTouched = true
}

/**
 * Puts the canvas list of one section in place after a drag: fields dropped from another
 * section leave it, a new field from the palette is created. Answers the new field, if any.
 */
export function placeItems(
  draft: FormDraft,
  sectionKey: string,
  items: readonly CanvasItem[],
  naming: FieldNaming,
): DraftField | null {
  const target = findSection(draft, sectionKey)
  if (!target) return null
  let created: DraftField | null = null
  const resolved: DraftField[] = []
  for (const item of items) {
    if (isNewFieldToken(item)) {
      const field = createField(draft, item.newFieldType, naming)
      // Proposed against the fields placed so far in this drop as well.
      const taken = new Set([...namesExcept(draft, null), ...resolved.map((f) => f.def.name)])
      field.def.name = proposeIdentifier(field.def.label?.en, taken, field.def.type)
      created = field
      resolved.push(field)
      continue
    }
    const place = findField(draft, item.key)
    const field = place ? place.field : item
    if (!resolved.includes(field)) resolved.push(field)
  }
  const moving = new Set(resolved.map((f) => f.key))
  for (const section of draft.sections) {
    if (section !== target) section.fields = section.fields.filter((f) => !moving.has(f.key))
  }
  target.fields = resolved
  return created
}

/** Adds a new field of `type` at `index` of a section (the palette's click and keyboard path). */
export function insertField(draft: FormDraft, sectionKey: string, index: number, type: FieldType, naming: FieldNaming): DraftField | null {
  const section = findSection(draft, sectionKey)
  if (!section) return null
  const field = createField(draft, type, naming)
  section.fields.splice(Math.max(0, Math.min(index, section.fields.length)), 0, field)
  return field
}

/** Moves a field to `index` of a section (counted without the field). */
export function moveField(draft: FormDraft, key: string, toSectionKey: string, index: number): boolean {
  const from = findField(draft, key)
  const to = findSection(draft, toSectionKey)
  if (!from || !to) return false
  from.section.fields.splice(from.index, 1)
  to.fields.splice(Math.max(0, Math.min(index, to.fields.length)), 0, from.field)
  return true
}

/**
 * One step up or down (keyboard): within the section, and over its edge into the neighbouring
 * section.
 */
export function shiftField(draft: FormDraft, key: string, delta: -1 | 1): boolean {
  const from = findField(draft, key)
  if (!from) return false
  const target = from.index + delta
  if (target >= 0 && target < from.section.fields.length) return moveField(draft, key, from.section.key, target)
  const sectionIndex = draft.sections.indexOf(from.section) + delta
  const neighbour = draft.sections[sectionIndex]
  if (!neighbour) return false
  return moveField(draft, key, neighbour.key, delta < 0 ? neighbour.fields.length : 0)
}

/** A copy right after the field, with an identifier of its own. */
export function duplicateField(draft: FormDraft, key: string): DraftField | null {
  const place = findField(draft, key)
  if (!place) return null
  const def = cloneJson(place.field.def)
  const copy: DraftField = { key: nextKey('f'), def, saved: false, nameTouched: false, defaultLabel: {}, savedOptionValues: [] }
  def.name = proposeIdentifier(def.label?.en || place.field.def.name, namesExcept(draft, null), def.type)
  place.section.fields.splice(place.index + 1, 0, copy)
  return copy
}

export function removeField(draft: FormDraft, key: string): DraftField | null {
  const place = findField(draft, key)
  if (!place) return null
  place.section.fields.splice(place.index, 1)
  return place.field
}

/** Puts a removed field back where it stood (undo); its section must still be there. */
export function restoreField(draft: FormDraft, field: DraftField, sectionKey: string, index: number): boolean {
  const section = findSection(draft, sectionKey)
  if (!section || findField(draft, field.key)) return false
  section.fields.splice(Math.min(index, section.fields.length), 0, field)
  return true
}

/** A proposed value for a new option of a select field: from its English label, else `option_n`. */
export function proposeOptionValue(field: DraftField, english: string | undefined, own?: SelectOption): string {
  const others = (field.def.options ?? []).filter((o) => o !== own)
  const taken = new Set(others.map((o) => o.value))
  return proposeIdentifier(english, taken, `option_${others.length + 1}`)
}

// ---------------------------------------------------------------------------------------------
// Sections and tabs

/** A new section after `afterKey` (else at the end), in the same tab as the one before it. */
export function addSection(draft: FormDraft, title: Label, afterKey?: string): DraftSection {
  const afterIndex = afterKey ? draft.sections.findIndex((s) => s.key === afterKey) : -1
  const index = afterIndex >= 0 ? afterIndex + 1 : draft.sections.length
  const before = draft.sections[index - 1]
  const section = newSection(cloneJson(title), before?.columns ?? 1, before?.tab ? cloneJson(before.tab) : null)
  draft.sections.splice(index, 0, section)
  return section
}

export function moveSection(draft: FormDraft, key: string, delta: -1 | 1): boolean {
  const index = draft.sections.findIndex((s) => s.key === key)
  const target = index + delta
  if (index < 0 || target < 0 || target >= draft.sections.length) return false
  const [section] = draft.sections.splice(index, 1)
  draft.sections.splice(target, 0, section!)
  return true
}

/** Removes a section with its fields; a form keeps at least one section. */
export function removeSection(draft: FormDraft, key: string): DraftSection | null {
  if (draft.sections.length <= 1) return null
  const index = draft.sections.findIndex((s) => s.key === key)
  if (index < 0) return null
  return draft.sections.splice(index, 1)[0] ?? null
}

/** Puts a removed section back, with its fields, where it stood (undo). */
export function restoreSection(draft: FormDraft, section: DraftSection, index: number): void {
  if (findSection(draft, section.key)) return
  draft.sections.splice(Math.min(index, draft.sections.length), 0, section)
}

/** The tabs of the form, in order of first appearance. */
export function tabsOf(draft: FormDraft): Label[] {
  const seen = new Map<string, Label>()
  for (const section of draft.sections) {
    if (section.tab && !seen.has(tabKey(section.tab))) seen.set(tabKey(section.tab), section.tab)
  }
  return [...seen.values()]
}

export function setSectionTab(draft: FormDraft, key: string, tab: Label | null): void {
  const section = findSection(draft, key)
  if (!section) return
  section.tab = tab ? (cleanLabel(tab) ?? null) : null
}

/** Renames a tab in every section under it, so the tab stays one tab. */
export function renameTab(draft: FormDraft, from: Label, to: Label): void {
  const cleaned = cleanLabel(to)
  if (!cleaned) return
  const key = tabKey(from)
  for (const section of draft.sections) {
    if (section.tab && tabKey(section.tab) === key) section.tab = cloneJson(cleaned)
  }
}

/** The entity's identifier for a new form, proposed from its English label. */
export function proposeEntityName(english: string | undefined, taken: ReadonlySet<string>): string {
  return proposeIdentifier(english, taken, 'form')
}
