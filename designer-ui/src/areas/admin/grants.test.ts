import { describe, expect, it } from 'vitest'
import type { Me, RoleBody } from '@/api/types'
import { admin, nurse } from '@/test/fixtures'
import { assignableDepartments, heldRuleLimit, mayEditRoleHeld, mayGrantAction, mayGrantRight, mayTouchUser, missingFrom } from './grants'

/** A role manager who holds the nurse role (engine/src/access/grants.rs, its test). */
const roleManager: Me = {
  ...nurse,
  permissions: [{ entity: 'patient', actions: ['read', 'update'], rows: 'department', fields: { id_number: 'masked' } }],
  rights: ['roles'],
}

const role = (r: Omit<RoleBody, 'name'>): RoleBody => ({ name: 'x', ...r })

describe('what one may grant (the engine’s rules)', () => {
  it('lets a role manager give what they hold, or less', () => {
    expect(missingFrom(roleManager, role({ rights: ['roles'], permissions: roleManager.permissions }))).toBeNull()
    const narrower = role({ permissions: [{ entity: 'patient', actions: ['read'], rows: 'department', fields: { id_number: 'hidden' } }] })
    expect(missingFrom(roleManager, narrower)).toBeNull()
  })

  it('names the first thing a role grants beyond the caller’s own rights', () => {
    const cases: [RoleBody, ReturnType<typeof missingFrom>][] = [
      [role({ rights: ['users'] }), { kind: 'right', right: 'users' }],
      [role({ permissions: [{ entity: 'patient', actions: ['export'] }] }), { kind: 'action', entity: 'patient', action: 'export' }],
      // All rows are more than the department's.
      [role({ permissions: [{ entity: 'patient', actions: ['read'] }] }), { kind: 'action', entity: 'patient', action: 'read' }],
      // The full ID number is more than the masked one.
      [role({ permissions: [{ entity: 'patient', actions: ['read'], rows: 'department', fields: { id_number: 'read' } }] }), { kind: 'action', entity: 'patient', action: 'read' }],
      [role({ permissions: [{ entity: 'visit', actions: ['read'] }] }), { kind: 'action', entity: 'visit', action: 'read' }],
    ]
    for (const [wanted, missing] of cases) expect(missingFrom(roleManager, wanted), JSON.stringify(wanted)).toEqual(missing)
  })

  it('counts an unlisted field as what the update right gives it', () => {
    // Not listing id_number grants `write` on it with update, more than the manager's `masked`.
    const unlisted = role({ permissions: [{ entity: 'patient', actions: ['read', 'update'], rows: 'department' }] })
    expect(missingFrom(roleManager, unlisted)).toEqual({ kind: 'action', entity: 'patient', action: 'read' })
  })

  it('lets an administrator grant anything', () => {
    expect(missingFrom(admin, role({ rights: ['users', 'packs'], permissions: [{ entity: 'visit', actions: ['design'] }] }))).toBeNull()
  })

  it('offers ticks, rights and rules within the caller’s own', () => {
    expect(mayGrantAction(roleManager, 'patient', 'update', 'department')).toBe(true)
    expect(mayGrantAction(roleManager, 'patient', 'update', 'all')).toBe(false)
    expect(mayGrantAction(roleManager, 'patient', 'delete', 'department')).toBe(false)
    expect(mayGrantAction(admin, 'visit', 'delete', 'all')).toBe(true)
    expect(mayGrantRight(roleManager, 'roles')).toBe(true)
    expect(mayGrantRight(roleManager, 'users')).toBe(false)
    expect(heldRuleLimit(roleManager, 'patient', ['read'], 'department', 'id_number')).toBe('masked')
    expect(heldRuleLimit(roleManager, 'patient', ['read'], 'department', 'name')).toBe('write')
    expect(heldRuleLimit(roleManager, 'visit', ['read'], 'all', 'name')).toBeNull()
    expect(heldRuleLimit(admin, 'visit', ['read'], 'all', 'name')).toBe('write')
  })

  it('keeps administrators for administrators, and one’s own role from one’s own hands', () => {
    expect(mayTouchUser(roleManager, { is_admin: true })).toBe(false)
    expect(mayTouchUser(roleManager, { is_admin: false })).toBe(true)
    expect(mayTouchUser(admin, { is_admin: true })).toBe(true)
    expect(mayEditRoleHeld(roleManager, 'nurse')).toBe(false)
    expect(mayEditRoleHeld(roleManager, 'doctor')).toBe(true)
    expect(mayEditRoleHeld({ ...admin, user: { ...admin.user, roles: ['nurse'] } }, 'nurse')).toBe(true)
  })

  it('gives departments one belongs to, and keeps those the user has', () => {
    expect(assignableDepartments(roleManager, ['cardiology', 'oncology'], ['surgery'])).toEqual(['cardiology', 'surgery'])
    expect(assignableDepartments(admin, ['cardiology', 'oncology'], [])).toEqual(['cardiology', 'oncology'])
  })
})
