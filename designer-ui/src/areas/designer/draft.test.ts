import { describe, expect, it } from 'vitest'
import type { EntityInfo, FieldType } from '@/api/types'
import { patient } from '@/test/fixtures'
import { fieldNaming } from './designerContext'
import {
  addSection,
  allFields,
  buildDefinition,
  cleanField,
  draftFromDefinition,
  duplicateField,
  findField,
  insertField,
  moveField,
  moveSection,
  newDraft,
  placeItems,
  proposeOptionValue,
  removeField,
  removeSection,
  renameTab,
  restoreField,
  restoreSection,
  setFieldLabel,
  setFieldName,
  setSectionTab,
  shiftField,
  tabsOf,
  type FormDraft,
} from './draft'

const OTHER = { zh: '其他', en: 'Other' }
const names = (draft: FormDraft) => draft.sections.map((s) => s.fields.map((f) => f.def.name))

function emptyPatient(): FormDraft {
  return newDraft('patient', { zh: '患者', en: 'Patient' }, { zh: '基本信息', en: 'Basics' })
}

function add(draft: FormDraft, type: FieldType, section = 0) {
  const field = insertField(draft, draft.sections[section]!.key, 99, type, fieldNaming)
  if (!field) throw new Error('no section')
  return field
}

describe('a new form', () => {
  it('starts with one section and no fields, and builds the definition POST /entities takes', () => {
    const draft = emptyPatient()
    expect(buildDefinition(draft)).toEqual({
      name: 'patient',
      label: { zh: '患者', en: 'Patient' },
      fields: [],
      layout: [{ section: { zh: '基本信息', en: 'Basics' }, columns: 1, fields: [] }],
    })
  })

  it('gets a field from the palette where it is dropped, labelled with the type and given an identifier', () => {
    const draft = emptyPatient()
    const first = draft.sections[0]!.key
    placeItems(draft, first, [{ newFieldType: 'text' }], fieldNaming)
    const created = placeItems(draft, first, [{ newFieldType: 'id_card' }, ...draft.sections[0]!.fields], fieldNaming)
    expect(created?.def).toEqual({ name: 'id_number', type: 'id_card', label: { zh: '身份证号', en: 'ID number' } })
    expect(names(draft)).toEqual([['id_number', 'text']])
    placeItems(draft, first, [...draft.sections[0]!.fields, { newFieldType: 'text' }], fieldNaming)
    expect(names(draft)).toEqual([['id_number', 'text', 'text_2']])
  })

  it('names a field from its English label until the designer names it, and forgets the type’s name once a label is typed', () => {
    const draft = emptyPatient()
    const field = add(draft, 'text')
    setFieldLabel(draft, field.key, 'zh', '姓名')
    // 姓名 is not "Text" in English: the type's English name goes, the identifier stays.
    expect(field.def.label).toEqual({ zh: '姓名' })
    expect(field.def.name).toBe('text')
    setFieldLabel(draft, field.key, 'en', 'Full name')
    expect(field.def.name).toBe('full_name')
    setFieldName(draft, field.key, 'name')
    setFieldLabel(draft, field.key, 'en', 'Patient name')
    expect(field.def.name).toBe('name')
    expect(field.def.label).toEqual({ zh: '姓名', en: 'Patient name' })
  })

  it('never proposes an identifier another field holds', () => {
    const draft = emptyPatient()
    const a = add(draft, 'text')
    const b = add(draft, 'text')
    setFieldLabel(draft, a.key, 'en', 'Name')
    setFieldLabel(draft, b.key, 'en', 'Name')
    expect([a.def.name, b.def.name]).toEqual(['name', 'name_2'])
  })
})

describe('moving fields', () => {
  it('moves a field within and across sections, by drag lists and by index', () => {
    const draft = emptyPatient()
    const second = addSection(draft, { zh: '会员' })
    const [a, b, c] = [add(draft, 'text'), add(draft, 'phone'), add(draft, 'date')]
    // A drag within the section hands over its new order.
    placeItems(draft, draft.sections[0]!.key, [c, a, b], fieldNaming)
    // Identifiers come from the types' English names (Mobile, Date) until labels are typed.
    expect(names(draft)).toEqual([['date', 'text', 'mobile'], []])
    // Across sections: the target's list gains it, the source's loses it (in either order).
    placeItems(draft, second.key, [a], fieldNaming)
    placeItems(draft, draft.sections[0]!.key, [c, b], fieldNaming)
    expect(names(draft)).toEqual([['date', 'mobile'], ['text']])
    moveField(draft, b.key, second.key, 0)
    expect(names(draft)).toEqual([['date'], ['mobile', 'text']])
    expect(findField(draft, b.key)?.section).toBe(second)
  })

  it('steps a field up and down with the keyboard, over the edge of its section', () => {
    const draft = emptyPatient()
    addSection(draft, { zh: '会员' })
    const a = add(draft, 'text')
    const b = add(draft, 'money')
    expect(shiftField(draft, b.key, -1)).toBe(true)
    expect(names(draft)).toEqual([['amount', 'text'], []])
    shiftField(draft, a.key, 1)
    expect(names(draft)).toEqual([['amount'], ['text']])
    expect(shiftField(draft, a.key, 1)).toBe(false)
  })

  it('duplicates a field right after it with an identifier of its own, and removes fields', () => {
    const draft = emptyPatient()
    const a = add(draft, 'select')
    setFieldLabel(draft, a.key, 'en', 'Department')
    a.def.options = [{ value: 'cardiology', label: { zh: '心内科' }, color: '#409eff' }]
    a.def.required = true
    add(draft, 'text')
    const copy = duplicateField(draft, a.key)
    expect(names(draft)).toEqual([['department', 'department_2', 'text']])
    expect(copy?.def).toEqual({ ...a.def, name: 'department_2' })
    expect(copy?.saved).toBe(false)
    const removed = findField(draft, a.key)!
    removeField(draft, a.key)
    expect(names(draft)).toEqual([['department_2', 'text']])
    // 撤销 puts it back where it stood.
    expect(restoreField(draft, removed.field, removed.section.key, removed.index)).toBe(true)
    expect(names(draft)).toEqual([['department', 'department_2', 'text']])
    expect(restoreField(draft, removed.field, removed.section.key, removed.index)).toBe(false)
  })
})

describe('sections and tabs', () => {
  it('adds a section after another, in its tab; moves and removes sections but keeps one', () => {
    const draft = emptyPatient()
    const first = draft.sections[0]!
    setSectionTab(draft, first.key, { zh: '基本', en: 'Basics' })
    first.columns = 3
    const added = addSection(draft, { zh: '新分区', en: 'New section' }, first.key)
    expect(added.tab).toEqual({ zh: '基本', en: 'Basics' })
    expect(added.columns).toBe(3)
    moveSection(draft, added.key, -1)
    expect(draft.sections[0]).toBe(added)
    expect(removeSection(draft, added.key)).toBe(added)
    expect(removeSection(draft, first.key)).toBeNull()
    restoreSection(draft, added, 0)
    expect(draft.sections).toEqual([added, first])
  })

  it('renames a tab in every section under it', () => {
    const draft = emptyPatient()
    const a = draft.sections[0]!
    const b = addSection(draft, { zh: '联系' })
    const c = addSection(draft, { zh: '会员' })
    setSectionTab(draft, a.key, { zh: '基本' })
    setSectionTab(draft, b.key, { zh: '基本' })
    setSectionTab(draft, c.key, { zh: '会员' })
    renameTab(draft, { zh: '基本' }, { zh: '基本资料', en: 'Profile' })
    expect(draft.sections.map((s) => s.tab)).toEqual([
      { zh: '基本资料', en: 'Profile' },
      { zh: '基本资料', en: 'Profile' },
      { zh: '会员' },
    ])
    expect(tabsOf(draft)).toEqual([{ zh: '基本资料', en: 'Profile' }, { zh: '会员' }])
    // A tab keeps a name: emptying both is refused.
    renameTab(draft, { zh: '会员' }, { zh: ' ' })
    expect(c.tab).toEqual({ zh: '会员' })
  })
})

describe('the definition built from the draft', () => {
  it('writes fields in canvas order and the layout with columns and tabs', () => {
    const draft = emptyPatient()
    const name = add(draft, 'text')
    setFieldLabel(draft, name.key, 'zh', '姓名')
    setFieldLabel(draft, name.key, 'en', 'Name')
    name.def.required = true
    const second = addSection(draft, { zh: '会员', en: 'Membership' })
    setSectionTab(draft, draft.sections[0]!.key, { zh: '基本' })
    setSectionTab(draft, second.key, { zh: '会员' })
    const spent = add(draft, 'money', 1)
    setFieldLabel(draft, spent.key, 'en', 'Total spent')
    spent.def.min = 0
    spent.def.default = 0
    expect(buildDefinition(draft)).toEqual({
      name: 'patient',
      label: { zh: '患者', en: 'Patient' },
      fields: [
        { name: 'name', type: 'text', label: { zh: '姓名', en: 'Name' }, required: true },
        // The type's Chinese name went once an English label was typed.
        { name: 'total_spent', type: 'money', label: { en: 'Total spent' }, min: 0, default: 0 },
      ],
      layout: [
        { section: { zh: '基本信息', en: 'Basics' }, columns: 1, fields: ['name'], tab: { zh: '基本' } },
        { section: { zh: '会员', en: 'Membership' }, columns: 1, fields: ['total_spent'], tab: { zh: '会员' } },
      ],
    })
  })

  it('carries only what the field’s type takes, and no blank text', () => {
    expect(
      cleanField({
        name: 'note',
        type: 'textarea',
        label: { zh: '备注', en: ' ' },
        unique: true,
        min: 3,
        pattern: '',
        max_length: 500,
        options: [{ value: 'x' }],
        help: { zh: '' },
        default: '',
        sensitive: false,
      }),
    ).toEqual({ name: 'note', type: 'textarea', label: { zh: '备注' }, max_length: 500, sensitive: false })
    expect(cleanField({ name: 'code', type: 'autonumber', default: 'x', required: true, prefix: 'P', digits: 6, yearly: false })).toEqual({
      name: 'code',
      type: 'autonumber',
      prefix: 'P',
      digits: 6,
      yearly: false,
    })
    expect(cleanField({ name: 'f', type: 'formula', expr: 'record.a + 1', result: 'text', min: 1 })).toEqual({
      name: 'f',
      type: 'formula',
      expr: 'record.a + 1',
      result: 'text',
    })
  })

  it('gives back a saved definition as it was, fields in no section in one more', () => {
    const saved: EntityInfo = { ...patient, version: 3 }
    const draft = draftFromDefinition(saved, 3, OTHER)
    expect(draft.sections.map((s) => s.title)).toEqual([{ zh: '基本信息', en: 'Basics' }, { zh: '消费', en: 'Spending' }, OTHER])
    expect(allFields(draft).every((f) => f.saved)).toBe(true)
    const built = buildDefinition(draft)
    expect(built.version).toBe(3)
    expect(new Set(built.fields.map((f) => f.name))).toEqual(new Set(patient.fields.map((f) => f.name)))
    for (const field of built.fields) expect(field).toEqual(patient.fields.find((f) => f.name === field.name))
    // Saved identifiers are fixed.
    const first = allFields(draft)[0]!
    setFieldName(draft, first.key, 'renamed')
    setFieldLabel(draft, first.key, 'en', 'Something else')
    expect(first.def.name).toBe('name')
  })

  it('proposes option values from their English names, else option_n', () => {
    const draft = emptyPatient()
    const dept = add(draft, 'select')
    // Two starter options to rename.
    expect(dept.def.options?.map((o) => o.value)).toEqual(['option_1', 'option_2'])
    expect(proposeOptionValue(dept, undefined)).toBe('option_3')
    dept.def.options = [{ value: 'cardiology' }]
    expect(proposeOptionValue(dept, 'Cardiology')).toBe('cardiology_2')
    expect(proposeOptionValue(dept, 'Cardiology', dept.def.options[0])).toBe('cardiology')
  })
})
