import { describe, expect, it } from 'vitest'
import { patient } from '@/test/fixtures'
import { buildCondition, conditionFields, initialValue, operatorsFor, parseCondition, valueKind } from './conditions'

const field = (name: string) => patient.fields.find((f) => f.name === name)!

describe('the condition builder’s model', () => {
  it('reads a single condition, and all or any of several', () => {
    expect(parseCondition(undefined)).toEqual({ match: 'all', rows: [] })
    expect(parseCondition({ field: 'sex', op: 'eq', value: 'F' })).toEqual({ match: 'all', rows: [{ field: 'sex', op: 'eq', value: 'F' }] })
    expect(parseCondition({ or: [{ field: 'vip', op: 'eq', value: true }, { field: 'total_spent', op: 'gt', value: 5000 }] })).toEqual({
      match: 'any',
      rows: [
        { field: 'vip', op: 'eq', value: true },
        { field: 'total_spent', op: 'gt', value: 5000 },
      ],
    })
  })

  it('leaves richer rules to JSON', () => {
    expect(parseCondition({ not: { field: 'sex', op: 'eq', value: 'F' } })).toBeNull()
    expect(parseCondition({ and: [{ or: [] }] })).toBeNull()
    expect(parseCondition({ field: 'sex', op: 'eq', value: 'F', extra: 1 })).toBeNull()
  })

  it('writes the filter grammar: one condition as it is, several under and/or, incomplete rows left out', () => {
    expect(buildCondition({ match: 'all', rows: [] })).toBeUndefined()
    expect(buildCondition({ match: 'all', rows: [{ field: '', op: 'eq' }] })).toBeUndefined()
    expect(buildCondition({ match: 'all', rows: [{ field: 'sex', op: 'eq', value: 'F' }] })).toEqual({ field: 'sex', op: 'eq', value: 'F' })
    expect(
      buildCondition({
        match: 'any',
        rows: [
          { field: 'sex', op: 'eq', value: 'F' },
          { field: 'birth_date', op: 'is_empty', value: 'ignored' },
        ],
      }),
    ).toEqual({ or: [{ field: 'sex', op: 'eq', value: 'F' }, { field: 'birth_date', op: 'is_empty' }] })
  })

  it('offers the operators and values that suit each field, and no sensitive field', () => {
    expect(operatorsFor(field('total_spent'))).toContain('gte')
    expect(operatorsFor(field('dept'))).toEqual(['eq', 'ne', 'in', 'not_in', 'is_empty', 'not_empty'])
    expect(operatorsFor(field('birth_date'))).toContain('last_n_days')
    expect(valueKind(field('dept'), 'in')).toBe('options')
    expect(valueKind(field('dept'), 'eq')).toBe('option')
    expect(valueKind(field('closed'), 'eq')).toBe('boolean')
    expect(valueKind(field('birth_date'), 'next_n_days')).toBe('days')
    expect(valueKind(field('birth_date'), 'this_month')).toBe('none')
    expect(initialValue(field('dept'), 'eq')).toBe('cardiology')
    const names = conditionFields(patient.fields, 'pregnant').map((f) => f.name)
    expect(names).not.toContain('id_number')
    expect(names).not.toContain('phone')
    expect(names).not.toContain('pregnant')
    expect(names).toContain('sex')
  })
})
