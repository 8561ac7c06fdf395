import { describe, expect, it } from 'vitest'
import type { FieldDef } from '@/api/types'
import { admin, nurse, patient } from '@/test/fixtures'
import {
  carryOver,
  defaultFieldFor,
  importableFields,
  isMappingUsable,
  mappingOf,
  mappingProblems,
  normalizeHeader,
  proposeColumns,
  similarField,
} from './columnMapping'

const names = (fields: FieldDef[]) => fields.map((f) => f.name)

describe('the fields a file may fill', () => {
  it('leaves out what the engine computes and attachments', () => {
    const importable = names(importableFields(patient, admin))
    expect(importable).toContain('name')
    expect(importable).toContain('id_number')
    expect(importable).not.toContain('code')
  })

  it('leaves out hidden fields, and read-only ones for a user who may update', () => {
    // The nurse reads and updates; allergies are hidden, the ID number masked, the phone read-only.
    const importable = names(importableFields(patient, nurse))
    expect(importable).not.toContain('allergies')
    expect(importable).not.toContain('id_number')
    expect(importable).not.toContain('phone')
    expect(importable).toContain('name')
  })
})

describe('column proposals', () => {
  it('match a header the way the server does: name, Chinese label, English label in any case', () => {
    expect(defaultFieldFor(patient.fields, '姓名')?.name).toBe('name')
    expect(defaultFieldFor(patient.fields, 'id_number')?.name).toBe('id_number')
    expect(defaultFieldFor(patient.fields, 'total SPENT')?.name).toBe('total_spent')
    expect(defaultFieldFor(patient.fields, '患者姓名')).toBeUndefined()
  })

  it('find a close label where the server found none, but never a guess between two', () => {
    expect(normalizeHeader(' 手机号（必填） ')).toBe('手机号必填')
    expect(similarField(patient.fields, '患者姓名')?.name).toBe('name')
    expect(similarField(patient.fields, 'Ｍｏｂｉｌｅ')?.name).toBe('phone')
    expect(similarField(patient.fields, '手机')?.name).toBe('phone')
    // One character matches nothing: 号 is in 身份证号 and 手机号 alike.
    expect(similarField(patient.fields, '号')).toBeUndefined()
    const twoDates: FieldDef[] = [
      { name: 'visit_date', type: 'date', label: { zh: '就诊日期' } },
      { name: 'birth_date', type: 'date', label: { zh: '出生日期' } },
    ]
    expect(similarField(twoDates, '日期')).toBeUndefined()
  })

  it('keep the server match, propose for the rest, and ignore what cannot be imported', () => {
    const importable = importableFields(patient, admin)
    const choices = proposeColumns(
      [
        { column: '姓名', field: 'name' },
        { column: '患者电话', field: null },
        { column: '编号', field: 'code' },
        { column: '备注说明', field: null },
        { column: '联系手机号', field: null },
      ],
      patient.fields,
      importable,
    )
    expect(choices).toEqual([
      { column: '姓名', field: 'name', source: 'exact' },
      { column: '患者电话', field: null, source: 'none' },
      { column: '编号', field: null, source: 'computed' },
      { column: '备注说明', field: null, source: 'none' },
      { column: '联系手机号', field: 'phone', source: 'similar' },
    ])
  })

  it('say why a column naming a field the user may not write is left out', () => {
    // The nurse sees the ID number masked: she may not fill it, and the server proposes nothing.
    const choices = proposeColumns(
      [
        { column: '身份证号', field: null },
        { column: '编号', field: null },
      ],
      patient.fields,
      importableFields(patient, nurse),
    )
    expect(choices.map((c) => [c.field, c.source])).toEqual([
      [null, 'locked'],
      [null, 'computed'],
    ])
  })

  it('do not propose a field another column fills', () => {
    const importable = importableFields(patient, admin)
    const choices = proposeColumns(
      [
        { column: '手机号', field: 'phone' },
        { column: '手机', field: null },
      ],
      patient.fields,
      importable,
    )
    expect(choices[1]).toEqual({ column: '手机', field: null, source: 'none' })
  })
})

describe('the mapping sent to the server', () => {
  it('names every column, an ignored one with an empty field', () => {
    expect(
      mappingOf([
        { column: '姓名', field: 'name', source: 'exact' },
        { column: '备注说明', field: null, source: 'none' },
      ]),
    ).toEqual({ 姓名: 'name', 备注说明: '' })
  })

  it('keeps the user choices for the same headers of a fixed file', () => {
    const before = [
      { column: '姓名', field: 'name', source: 'exact' as const },
      { column: '电话', field: 'phone', source: 'user' as const },
    ]
    const proposed = [
      { column: '姓名', field: 'name', source: 'exact' as const },
      { column: '电话', field: null, source: 'none' as const },
      { column: '科室', field: 'dept', source: 'exact' as const },
    ]
    expect(carryOver(before, proposed)).toEqual([before[0], before[1], proposed[2]])
  })

  it('refuses two columns on one field, and warns of a required field no column fills', () => {
    const importable = importableFields(patient, admin)
    const problems = mappingProblems(
      [
        { column: '电话', field: 'phone', source: 'user' },
        { column: '手机号', field: 'phone', source: 'exact' },
      ],
      importable,
    )
    expect(problems.duplicates).toEqual([{ field: 'phone', columns: ['电话', '手机号'] }])
    expect(names(problems.missingRequired)).toEqual(['name'])
    expect(isMappingUsable(problems)).toBe(false)
    const ignoredAll = mappingProblems([{ column: '电话', field: null, source: 'user' }], importable)
    expect(ignoredAll.nothingMapped).toBe(true)
    expect(isMappingUsable(ignoredAll)).toBe(false)
    expect(isMappingUsable(mappingProblems([{ column: '姓名', field: 'name', source: 'exact' }], importable))).toBe(true)
  })
})
