import { describe, expect, it } from 'vitest'
import { browserContext } from '@/lib/filterEval'
import { admin, nurse, patient } from '@/test/fixtures'
import { changedFields, formSections, initialValues, isLockedByRule, isShown, savePayload } from './formModel'

const field = (name: string) => patient.fields.find((f) => f.name === name)!
const ctx = browserContext(new Date('2026-12-03T10:00:00+08:00'))

describe('the record form', () => {
  it('follows the layout, then puts the fields of no section in 其他', () => {
    const sections = formSections(patient, admin, 'zh-CN', '其他')
    expect(sections.map((s) => [s.title, s.columns])).toEqual([
      ['基本信息', 2],
      ['消费', 1],
      ['其他', 2],
    ])
    expect(sections[0]!.fields.map((f) => f.field.name)).toEqual(['name', 'id_number', 'phone', 'dept', 'sex', 'pregnant'])
    expect(sections[2]!.fields.map((f) => f.field.name)).toEqual(['birth_date', 'closed', 'summary', 'allergies', 'seen_at', 'tags'])
    expect(formSections(patient, admin, 'en', 'Other')[0]!.title).toBe('Basics')
  })

  it('leaves hidden fields out and makes masked, read and computed fields read-only', () => {
    const fields = formSections(patient, nurse, 'zh-CN', '其他').flatMap((s) => s.fields)
    const byName = Object.fromEntries(fields.map((f) => [f.field.name, f]))
    expect(byName.allergies).toBeUndefined()
    expect(byName.id_number).toMatchObject({ sight: 'masked', writable: false })
    expect(byName.phone).toMatchObject({ sight: 'unmaskable', writable: false })
    expect(byName.code).toMatchObject({ writable: false })
    expect(byName.name).toMatchObject({ sight: 'plain', writable: true })
  })

  it('starts a new record from the defaults', () => {
    const values = initialValues(patient, null)
    expect(values.total_spent).toBe(0)
    expect(values.name).toBeNull()
    expect('code' in values).toBe(false)
  })

  it('sends every filled field it may write on create, and only the changes on update', () => {
    const fields = formSections(patient, nurse, 'zh-CN', '其他').flatMap((s) => s.fields)
    const created = savePayload(fields, initialValues(patient, null), { ...initialValues(patient, null), name: '张三', phone: '13812345678', tags: [], summary: '  ' }, 'create', () => true)
    expect(created).toEqual({ name: '张三', total_spent: 0 })

    const stored = { name: '张三', id_number: '110105********002X', dept: 'cardiology', tags: ['高血压'] }
    const initial = initialValues(patient, stored)
    const edited = { ...initial, name: '张三丰', dept: null, id_number: '110105********002X', tags: ['高血压'] }
    expect(changedFields(initial, edited)).toEqual(['name', 'dept'])
    expect(savePayload(fields, initial, edited, 'update', () => true)).toEqual({ name: '张三丰', dept: null })
  })

  it('hides a field whose visible_if does not hold, and leaves it out of a create', () => {
    const pregnant = field('pregnant')
    expect(isShown(pregnant, { sex: 'F' }, ctx)).toBe(true)
    expect(isShown(pregnant, { sex: 'M' }, ctx)).toBe(false)
    expect(isShown(pregnant, {}, ctx)).toBe(false)
    const fields = formSections(patient, admin, 'zh-CN', '其他').flatMap((s) => s.fields)
    const values = { ...initialValues(patient, null), name: '王五', sex: 'M', pregnant: true }
    const payload = savePayload(fields, initialValues(patient, null), values, 'create', (name) => isShown(field(name), values, ctx))
    expect(payload).toEqual({ name: '王五', sex: 'M', total_spent: 0 })
  })

  it('locks a field whose readonly_if holds on the stored record', () => {
    expect(isLockedByRule(field('summary'), { closed: true }, ctx)).toBe(true)
    expect(isLockedByRule(field('summary'), { closed: false }, ctx)).toBe(false)
    expect(isLockedByRule(field('name'), { closed: true }, ctx)).toBe(false)
  })

  it('keeps an untouched datetime unchanged whatever its spelling', () => {
    const initial = initialValues(patient, { seen_at: '2026-12-02T06:30:00.000000Z' })
    expect(initial.seen_at).toMatch(/^2026-12-02T\d{2}:30:00[+-]\d{2}:\d{2}$/)
    expect(changedFields(initial, { ...initial })).toEqual([])
  })
})
