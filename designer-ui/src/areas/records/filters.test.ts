import { describe, expect, it } from 'vitest'
import type { FieldDef } from '@/api/types'
import { admin, nurse, patient } from '@/test/fixtures'
import { visibleFields } from './fields'
import { buildFilter, filterKindOf, isFilterActive } from './filters'

const field = (name: string) => patient.fields.find((f) => f.name === name)!

describe('per-column filters', () => {
  it('are built from the field types', () => {
    expect(filterKindOf(field('dept'), 'plain')).toBe('options')
    expect(filterKindOf(field('birth_date'), 'plain')).toBe('dates')
    expect(filterKindOf(field('seen_at'), 'plain')).toBe('datetimes')
    expect(filterKindOf(field('total_spent'), 'plain')).toBe('range')
    expect(filterKindOf(field('name'), 'plain')).toBe('contains')
    expect(filterKindOf(field('closed'), 'plain')).toBe('boolean')
    expect(filterKindOf({ name: 'doctor', type: 'user' } as FieldDef, 'plain')).toBeNull()
  })

  it('look a sensitive or masked value up by its exact value only', () => {
    expect(filterKindOf(field('id_number'), 'unmaskable')).toBe('exact')
    expect(filterKindOf(field('id_number'), 'masked')).toBe('exact')
    expect(filterKindOf(field('total_spent'), 'masked')).toBeNull()
    expect(filterKindOf(field('allergies'), 'hidden')).toBeNull()
  })

  it('combine into one filter the server reads', () => {
    const columns = visibleFields(patient, admin)
    expect(buildFilter(columns, {})).toBeNull()
    expect(buildFilter(columns, { name: { text: '  张 ' } })).toEqual({ field: 'name', op: 'contains', value: '张' })
    expect(
      buildFilter(columns, {
        dept: { options: ['cardiology', 'oncology'] },
        total_spent: { min: 100, max: null },
        birth_date: { dates: ['1950-01-01', '1959-12-31'] },
        id_number: { text: '11010519491231002X' },
        closed: { flag: false },
        name: { text: '' },
      }),
    ).toEqual({
      and: [
        { field: 'id_number', op: 'eq', value: '11010519491231002X' },
        { field: 'dept', op: 'in', value: ['cardiology', 'oncology'] },
        { field: 'birth_date', op: 'between', value: ['1950-01-01', '1959-12-31'] },
        { field: 'total_spent', op: 'gte', value: 100 },
        { field: 'closed', op: 'eq', value: false },
      ],
    })
  })

  it('never filter on a field the user may not see', () => {
    const columns = visibleFields(patient, nurse)
    expect(buildFilter(columns, { allergies: { text: '青霉素' } })).toBeNull()
  })

  it('turn a date range on a datetime into local day bounds', () => {
    const f = buildFilter(visibleFields(patient, admin), { seen_at: { dates: ['2026-12-01', '2026-12-02'] } })
    expect(f).toMatchObject({ and: [{ field: 'seen_at', op: 'gte' }, { field: 'seen_at', op: 'lte' }] })
    const [from, to] = (f as { and: { value: string }[] }).and
    expect(from!.value).toMatch(/^2026-12-01T00:00:00[+-]\d{2}:\d{2}$/)
    expect(to!.value).toMatch(/^2026-12-02T23:59:59\.999[+-]\d{2}:\d{2}$/)
  })

  it('know when anything is set', () => {
    expect(isFilterActive({})).toBe(false)
    expect(isFilterActive({ name: { text: ' ' }, dept: { options: [] } })).toBe(false)
    expect(isFilterActive({ closed: { flag: false } })).toBe(true)
  })
})
