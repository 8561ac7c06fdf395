import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { messages } from '@/i18n'
import { ALL_FIELD_TYPES, FIELD_TYPES, PALETTE_GROUPS, isSensitiveField, takes, typesOfGroup } from './fieldTypes'

const openapi = JSON.parse(readFileSync(join(__dirname, '../../../openapi.json'), 'utf8')) as {
  components: { schemas: { Field: { properties: { type: { enum: string[] }; [k: string]: unknown } } } }
}

describe('the field types of the palette', () => {
  it('are exactly the types the server’s OpenAPI document lists', () => {
    expect([...ALL_FIELD_TYPES].sort()).toEqual([...openapi.components.schemas.Field.properties.type.enum].sort())
  })

  it('each sit in one of the five groups, with an icon and a name in both languages', () => {
    expect(PALETTE_GROUPS.flatMap(typesOfGroup).sort()).toEqual([...ALL_FIELD_TYPES].sort())
    for (const group of PALETTE_GROUPS) expect(typesOfGroup(group).length).toBeGreaterThan(0)
    for (const type of ALL_FIELD_TYPES) {
      expect(FIELD_TYPES[type].icon).toBeTruthy()
      expect(messages['zh-CN'].designer.types[type]).toBeTruthy()
      expect(messages.en.designer.types[type]).toBeTruthy()
    }
  })

  it('take the options the engine accepts on them', () => {
    // engine/src/forms/compiled.rs: options on choices, entity on links, lengths and patterns
    // on text-like fields, min/max on numbers (and numeric formulas), sensitive on text and IDs.
    expect(takes({ type: 'select' }, 'options')).toBe(true)
    expect(takes({ type: 'text' }, 'options')).toBe(false)
    expect(takes({ type: 'references' }, 'entity')).toBe(true)
    expect(takes({ type: 'user' }, 'entity')).toBe(false)
    expect(takes({ type: 'tags' }, 'pattern')).toBe(true)
    expect(takes({ type: 'phone' }, 'pattern')).toBe(false)
    expect(takes({ type: 'money' }, 'min')).toBe(true)
    expect(takes({ type: 'formula', result: 'money' }, 'max')).toBe(true)
    expect(takes({ type: 'formula', result: 'text' }, 'max')).toBe(false)
    expect(takes({ type: 'formula' }, 'min')).toBe(true)
    expect(takes({ type: 'date' }, 'min')).toBe(false)
    expect(takes({ type: 'boolean' }, 'unique')).toBe(false)
    expect(takes({ type: 'multiselect' }, 'indexed')).toBe(false)
    expect(takes({ type: 'id_card' }, 'unique')).toBe(true)
    expect(takes({ type: 'id_card' }, 'sensitive')).toBe(true)
    expect(takes({ type: 'number' }, 'sensitive')).toBe(false)
    expect(takes({ type: 'autonumber' }, 'required')).toBe(false)
    expect(takes({ type: 'autonumber' }, 'digits')).toBe(true)
    expect(takes({ type: 'formula' }, 'expr')).toBe(true)
    expect(takes({ type: 'text' }, 'expr')).toBe(false)
  })

  it('make ID numbers and phones sensitive unless the definition says otherwise', () => {
    expect(isSensitiveField({ type: 'id_card' })).toBe(true)
    expect(isSensitiveField({ type: 'phone', sensitive: false })).toBe(false)
    expect(isSensitiveField({ type: 'text' })).toBe(false)
    expect(isSensitiveField({ type: 'text', sensitive: true })).toBe(true)
  })
})
