import { describe, expect, it } from 'vitest'
import { admin, nurse, patient } from '@/test/fixtures'
import { can, fieldRule, hasRight, sightOf } from './access'

const field = (name: string) => patient.fields.find((f) => f.name === name)!

describe('what the signed-in user may do', () => {
  it('follows the roles, as the engine does', () => {
    expect(can(nurse, 'patient', 'read')).toBe(true)
    expect(can(nurse, 'patient', 'update')).toBe(true)
    expect(can(nurse, 'patient', 'delete')).toBe(false)
    expect(can(nurse, 'visit', 'read')).toBe(false)
    expect(hasRight(nurse, 'users')).toBe(false)
    expect(can(admin, 'visit', 'delete')).toBe(true)
    expect(hasRight(admin, 'users')).toBe(true)
    expect(can(null, 'patient', 'read')).toBe(false)
  })

  it('gives unlisted fields write where the role updates, and the listed rule otherwise', () => {
    expect(fieldRule(nurse, 'patient', 'name')).toBe('write')
    expect(fieldRule(nurse, 'patient', 'id_number')).toBe('masked')
    expect(fieldRule(nurse, 'patient', 'allergies')).toBe('hidden')
    expect(fieldRule(nurse, 'visit', 'name')).toBe('hidden')
    expect(fieldRule(admin, 'visit', 'anything')).toBe('write')
  })

  it('shows sensitive values masked, with unmask only where the rule is read or write', () => {
    expect(sightOf(nurse, 'patient', field('id_number'))).toBe('masked')
    expect(sightOf(nurse, 'patient', field('phone'))).toBe('unmaskable')
    expect(sightOf(nurse, 'patient', field('allergies'))).toBe('hidden')
    expect(sightOf(nurse, 'patient', field('name'))).toBe('plain')
    expect(sightOf(admin, 'patient', field('id_number'))).toBe('unmaskable')
  })
})
