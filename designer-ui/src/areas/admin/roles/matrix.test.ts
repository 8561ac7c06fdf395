import { describe, expect, it } from 'vitest'
import type { EntityInfo, Me, Role } from '@/api/types'
import { nurse, patient } from '@/test/fixtures'
import {
  capToHeld,
  checkDraft,
  defaultRule,
  draftFromRole,
  effectiveSight,
  narrowedCount,
  orphanRules,
  permissionSummary,
  roleFromDraft,
  setAction,
  setFieldRule,
} from './matrix'

const visit: EntityInfo = { name: 'visit', version: 1, label: { zh: '就诊' }, fields: [{ name: 'at', type: 'date' }, { name: 'note', type: 'textarea' }] }
const field = (name: string) => patient.fields.find((f) => f.name === name)!

const stored: Role = {
  name: 'nurse',
  label: { zh: '护士', en: 'Nurse' },
  version: 4,
  rights: ['audit', 'users'],
  permissions: [
    { entity: 'visit', actions: ['update', 'read'], rows: 'all' },
    { entity: 'lab_result', actions: ['read'], rows: 'all' },
    { entity: 'patient', actions: ['read'], rows: 'department', fields: { id_number: 'masked', gone_field: 'hidden' } },
    { entity: 'patient', actions: ['read'], rows: 'own' },
  ],
}

describe('the permission matrix and the role it edits', () => {
  it('gives back the same role when nothing changed, order and unseen parts included', () => {
    const draft = draftFromRole(stored, [patient, visit])
    expect(draft.rows.map((r) => r.entity)).toEqual(['patient', 'visit'])
    expect(draft.kept.map((k) => k.entry.entity)).toEqual(['lab_result', 'patient'])
    expect(roleFromDraft(draft)).toEqual({ ...stored })
  })

  it('adds a new entity’s row after the role’s own, and drops a row without actions', () => {
    const draft = draftFromRole(stored, [patient, visit])
    const visitRow = draft.rows.find((r) => r.entity === 'visit')!
    setAction(visitRow, 'update', false)
    setAction(visitRow, 'read', false)
    const body = roleFromDraft(draft)
    expect(body.permissions!.map((p) => p.entity)).toEqual(['lab_result', 'patient', 'patient'])

    const fresh = draftFromRole(null, [patient, visit])
    setAction(fresh.rows[1]!, 'read', true)
    setFieldRule(fresh.rows[0]!, 'allergies', 'hidden') // no action on patient: not saved
    fresh.name = ' nurse '
    fresh.labelZh = '护士'
    expect(roleFromDraft(fresh)).toEqual({ name: 'nurse', label: { zh: '护士' }, rights: [], permissions: [{ entity: 'visit', actions: ['read'], rows: 'all' }] })
  })

  it('keeps the order of actions and puts new ones last', () => {
    const draft = draftFromRole(stored, [patient, visit])
    const visitRow = draft.rows.find((r) => r.entity === 'visit')!
    setAction(visitRow, 'export', true)
    setAction(visitRow, 'export', true)
    expect(visitRow.actions).toEqual(['update', 'read', 'export'])
  })

  it('builds the nurse of the story: read and update, diagnosis hidden, phone masked', () => {
    const draft = draftFromRole(null, [patient])
    draft.name = 'nurse'
    const row = draft.rows[0]!
    setAction(row, 'read', true)
    setAction(row, 'update', true)
    setFieldRule(row, 'allergies', 'hidden')
    setFieldRule(row, 'phone', 'masked')
    setFieldRule(row, 'name', 'read')
    setFieldRule(row, 'name', null)
    expect(roleFromDraft(draft).permissions).toEqual([
      { entity: 'patient', actions: ['read', 'update'], rows: 'all', fields: { allergies: 'hidden', phone: 'masked' } },
    ])
    expect(narrowedCount(row, patient)).toEqual({ hidden: 1, masked: 1, readOnly: 0 })
  })

  it('shows each field’s default: write with update, read without, sensitive masked until shown', () => {
    const draft = draftFromRole(null, [patient])
    const row = draft.rows[0]!
    setAction(row, 'read', true)
    expect(defaultRule(row)).toBe('read')
    expect(effectiveSight(row, field('name'))).toBe('read')
    setAction(row, 'update', true)
    expect(effectiveSight(row, field('name'))).toBe('write')
    expect(effectiveSight(row, field('id_number'))).toBe('masked_until_shown')
    expect(effectiveSight(row, field('phone'))).toBe('masked_until_shown')
    setFieldRule(row, 'phone', 'read')
    expect(effectiveSight(row, field('phone'))).toBe('read')
    // A field marked not sensitive follows the plain default.
    expect(effectiveSight(row, { name: 'mobile2', type: 'phone', sensitive: false })).toBe('write')
  })

  it('names rules of fields the definition no longer has', () => {
    const draft = draftFromRole(stored, [patient, visit])
    expect(orphanRules(draft.rows[0]!, patient)).toEqual(['gone_field'])
  })

  it('narrows a role manager’s new row to what they hold themselves', () => {
    const manager: Me = { ...nurse, rights: ['roles'] }
    const draft = draftFromRole(null, [patient])
    const row = draft.rows[0]!
    row.rows = 'department'
    setAction(row, 'read', true)
    setAction(row, 'update', true)
    // The nurse sees the ID number masked, allergies not at all, the phone read-only.
    expect(capToHeld(row, patient, manager).sort()).toEqual(['allergies', 'id_number', 'phone'])
    expect(row.fields).toEqual({ id_number: 'masked', allergies: 'hidden', phone: 'read' })
    expect(capToHeld(row, patient, { ...nurse, user: { ...nurse.user, is_admin: true } })).toEqual([])
  })

  it('checks the role key before asking the server', () => {
    expect(checkDraft({ name: '' })).toEqual({ name: 'name_required' })
    expect(checkDraft({ name: 'Head Nurse' })).toEqual({ name: 'name_format' })
    expect(checkDraft({ name: 'head__nurse' })).toEqual({ name: 'name_format' })
    expect(checkDraft({ name: 'a'.repeat(29) })).toEqual({ name: 'name_too_long' })
    expect(checkDraft({ name: 'head_nurse2' })).toEqual({})
  })

  it('sums a role up per entity for the list', () => {
    expect(permissionSummary(stored)[0]).toEqual({ entity: 'visit', actions: ['read', 'update'], rows: 'all', narrowed: 0 })
    expect(permissionSummary(stored)[2]).toEqual({ entity: 'patient', actions: ['read'], rows: 'department', narrowed: 2 })
  })
})
