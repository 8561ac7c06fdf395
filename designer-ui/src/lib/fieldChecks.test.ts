import { describe, expect, it } from 'vitest'
import type { FieldDef } from '@/api/types'
import { checkField, checkIdCard, isEmail, isPhone } from './fieldChecks'

const today = { year: 2026, month: 12, day: 3 }

describe('ID numbers', () => {
  it('accept a good one, with a lower-case x too', () => {
    expect(checkIdCard('11010519491231002X', today)).toBeNull()
    expect(checkIdCard(' 11010519491231002x ', today)).toBeNull()
  })

  it('name what is wrong with a bad one, with the server codes', () => {
    expect(checkIdCard('11010519491231002Y', today)?.code).toBe('id_card_format')
    expect(checkIdCard('1101051949123100', today)?.code).toBe('id_card_format')
    expect(checkIdCard('01010519491231002X', today)?.code).toBe('id_card_format')
    expect(checkIdCard('110105194912310021', today)?.code).toBe('id_card_checksum')
    expect(checkIdCard('110105194902300029', today)?.code).toBe('id_card_birth_date')
    expect(checkIdCard('110105189912310021', today)?.code).toBe('id_card_birth_date')
    // Born tomorrow.
    expect(checkIdCard('110105202612040010', today)?.code).toBe('id_card_birth_date')
  })
})

describe('phones and e-mail', () => {
  it.each([
    ['13812345678', true],
    ['+86 138-1234-5678', true],
    ['8613812345678', true],
    ['010-12345678', true],
    ['0755-1234567-123', true],
    ['01012345678', true],
    ['12812345678', false],
    ['1381234567', false],
    ['00-12345678', false],
    ['010-123456', false],
    ['abc', false],
  ])('%s is a phone: %s', (phone, ok) => {
    expect(isPhone(phone)).toBe(ok)
  })

  it('reads e-mail as the server does', () => {
    expect(isEmail('li.na@hospital.cn')).toBe(true)
    expect(isEmail('li na@hospital.cn')).toBe(false)
    expect(isEmail('li@hospital')).toBe(false)
    expect(isEmail(`${'a'.repeat(65)}@hospital.cn`)).toBe(false)
  })
})

describe('a field as the user leaves it', () => {
  const f = (field: Partial<FieldDef> & Pick<FieldDef, 'type'>): FieldDef => ({ name: 'x', ...field })

  it('requires what is required, and only that', () => {
    expect(checkField(f({ type: 'text', required: true }), '  ')?.code).toBe('required')
    expect(checkField(f({ type: 'tags', required: true }), [])?.code).toBe('required')
    expect(checkField(f({ type: 'text' }), '')).toBeNull()
    expect(checkField(f({ type: 'autonumber', required: true }), null)).toBeNull()
  })

  it('counts characters, not bytes', () => {
    expect(checkField(f({ type: 'text', max_length: 3 }), '张三丰')).toBeNull()
    expect(checkField(f({ type: 'text', max_length: 2 }), '张三丰')).toEqual({ code: 'max_length', detail: '2' })
    expect(checkField(f({ type: 'text', min_length: 2 }), '张')).toEqual({ code: 'min_length', detail: '2' })
  })

  it('checks patterns, bounds, whole numbers and fen', () => {
    expect(checkField(f({ type: 'text', pattern: '^P\\d+$' }), 'P12')).toBeNull()
    expect(checkField(f({ type: 'text', pattern: '^P\\d+$' }), 'X12')?.code).toBe('pattern')
    expect(checkField(f({ type: 'text', pattern: '(unclosed' }), 'x')).toBeNull()
    expect(checkField(f({ type: 'number', min: 0 }), -1)).toEqual({ code: 'min', detail: '0' })
    expect(checkField(f({ type: 'integer', max: 10 }), 11)).toEqual({ code: 'max', detail: '10' })
    expect(checkField(f({ type: 'integer' }), 1.5)?.code).toBe('not_integer')
    expect(checkField(f({ type: 'money' }), 1234.5)).toBeNull()
    expect(checkField(f({ type: 'money' }), 0.1 + 0.2)).toBeNull()
    expect(checkField(f({ type: 'money' }), 1.005 + 0.0001)?.code).toBe('money_precision')
  })

  it('checks formats and options', () => {
    expect(checkField(f({ type: 'id_card' }), '11010519491231002Y', today)?.code).toBe('id_card_format')
    expect(checkField(f({ type: 'phone' }), '123')?.code).toBe('phone_format')
    expect(checkField(f({ type: 'email' }), 'nobody')?.code).toBe('email_format')
    expect(checkField(f({ type: 'date' }), '2026-02-30')?.code).toBe('date_format')
    expect(checkField(f({ type: 'datetime' }), '2026-02-03 10:00')?.code).toBe('datetime_format')
    expect(checkField(f({ type: 'datetime' }), '2026-02-03T10:00:00+08:00')).toBeNull()
    expect(checkField(f({ type: 'select', options: [{ value: 'a' }] }), 'b')?.code).toBe('invalid_option')
  })
})
