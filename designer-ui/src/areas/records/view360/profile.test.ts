import { describe, expect, it } from 'vitest'
import type { RecordItem } from '@/api/types'
import { admin, nurse, patient } from '@/test/fixtures'
import { ageOn, firstCharacter, isBirthDate, recordProfile } from './profile'

function record(data: Record<string, unknown>): RecordItem {
  return {
    id: '0190c7d2-0000-7000-8000-000000000001',
    entity: 'patient',
    version: 2,
    data,
    created_at: '2026-12-01T00:00:00Z',
    created_by: 'u',
    updated_at: '2026-12-02T00:00:00Z',
    updated_by: 'u',
  }
}

const today = { year: 2026, month: 12, day: 3 }

describe('the 360° header card', () => {
  it('counts age in whole years, the birthday included', () => {
    expect(ageOn('1949-12-31', today)).toBe(76)
    expect(ageOn('1949-12-03', today)).toBe(77)
    expect(ageOn('2027-01-01', today)).toBeNull()
    expect(ageOn('1949-13-01', today)).toBeNull()
  })

  it('knows a birth date by its name or label', () => {
    expect(isBirthDate({ name: 'birth_date', type: 'date' })).toBe(true)
    expect(isBirthDate({ name: 'sr', type: 'date', label: { zh: '出生日期' } })).toBe(true)
    expect(isBirthDate({ name: 'visit_date', type: 'date', label: { zh: '就诊日期' } })).toBe(false)
    expect(isBirthDate({ name: 'birth_place', type: 'text' })).toBe(false)
  })

  it('takes the first character of a name, also outside the basic plane', () => {
    expect(firstCharacter(' 张三')).toBe('张')
    expect(firstCharacter('𠀀明')).toBe('𠀀')
  })

  it('shows the name, ID number and phone as sent, age, badges, tags and key dates', () => {
    const profile = recordProfile(
      patient,
      record({
        name: '张三',
        id_number: '110105********002X',
        phone: '138****5678',
        dept: 'cardiology',
        sex: 'M',
        birth_date: '1949-12-31',
        seen_at: '2026-12-01T08:00:00Z',
        tags: ['高血压', '糖尿病'],
        closed: true,
      }),
      admin,
      today,
    )
    expect(profile.name).toBe('张三')
    expect(profile.initial).toBe('张')
    expect(profile.age).toBe(76)
    expect(profile.identity.map((p) => [p.field.name, p.value])).toEqual([
      ['id_number', '110105********002X'],
      ['phone', '138****5678'],
    ])
    expect(profile.badges.map((p) => p.field.name)).toEqual(['dept', 'sex', 'closed'])
    expect(profile.tags.map((p) => p.value)).toEqual([['高血压', '糖尿病']])
    expect(profile.dates.map((p) => p.field.name)).toEqual(['birth_date', 'seen_at'])
  })

  it('leaves out what the user may not see, and names a nameless record by its entity', () => {
    const profile = recordProfile(patient, record({ allergies: '青霉素', id_number: '110105********002X' }), nurse, today)
    expect(profile.initial).toBe('患')
    expect(profile.identity.map((p) => [p.field.name, p.sight])).toEqual([['id_number', 'masked']])
    expect(JSON.stringify(profile)).not.toContain('青霉素')
  })
})
