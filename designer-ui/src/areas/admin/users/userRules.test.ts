import { describe, expect, it } from 'vitest'
import type { EntityInfo, Me, Role, User } from '@/api/types'
import { admin, nurse, patient } from '@/test/fixtures'
import {
  assessPassword,
  assignableRoles,
  checkPasswordPair,
  checkUserForm,
  departmentOptions,
  emptyUserForm,
  formOfUser,
  matchesSearch,
  matchesStatus,
  newUserBody,
  userActions,
  userChanges,
} from './userRules'

function user(overrides: Partial<User>): User {
  return {
    id: 'u-1',
    username: 'nurse_li',
    display_name: '李护士',
    is_admin: false,
    roles: ['nurse'],
    departments: ['cardiology'],
    disabled: false,
    created_at: '2026-12-01T00:00:00Z',
    updated_at: '2026-12-01T00:00:00Z',
    version: 3,
    ...overrides,
  }
}

const nurseRole: Role = { name: 'nurse', version: 1, rights: [], permissions: nurse.permissions }
const doctorRole: Role = { name: 'doctor', version: 1, rights: [], permissions: [{ entity: 'patient', actions: ['read', 'update', 'delete'] }] }
const userManager: Me = { ...nurse, rights: ['users'] }

describe('a password’s strength hint', () => {
  it('is too short under 8 characters, counting a Chinese character once', () => {
    expect(assessPassword('Ab1!xyz').strength).toBe('too_short')
    expect(assessPassword('康道康道康道康道').strength).not.toBe('too_short')
  })

  it('grows with length and mixed kinds of characters', () => {
    expect(assessPassword('abcdwxyz').strength).toBe('weak')
    expect(assessPassword('harbour-lights').strength).toBe('fair')
    expect(assessPassword('Harbour-Lights-42').strength).toBe('strong')
    expect(assessPassword('Harbour-Lights-42').hints).toEqual([])
  })

  it('falls for common words, runs and the user name, and says why', () => {
    expect(assessPassword('Password-2026!').strength).not.toBe('strong')
    expect(assessPassword('12345678').hints).toContain('no_runs')
    const withName = assessPassword('Nurse_li-2026!', 'nurse_li')
    expect(withName.strength).not.toBe('strong')
    expect(withName.hints).toContain('not_username')
  })
})

describe('the user form', () => {
  it('wants a user name of letters, digits, . _ - and a password of 8 to 256 typed twice alike', () => {
    const form = { ...emptyUserForm(), username: '李 li', password: 'short', confirm: 'short' }
    expect(checkUserForm(form, form)).toEqual({ username: 'username_format', password: 'password_length' })
    expect(checkPasswordPair({ password: '', confirm: '' })).toEqual({ password: 'password_required' })
    expect(checkPasswordPair({ password: 'long-enough-1', confirm: 'long-enough-2' })).toEqual({ confirm: 'password_mismatch' })
    expect(checkPasswordPair({ password: 'x'.repeat(257), confirm: 'x'.repeat(257) })).toEqual({ password: 'password_length' })
    const good = { ...emptyUserForm(), username: 'nurse.li-2', password: 'long-enough-1', confirm: 'long-enough-1' }
    expect(checkUserForm(good, good)).toEqual({})
    expect(checkUserForm({ ...good, username: '' }, null)).toEqual({ username: 'username_required' })
  })

  it('sends the admin flag only when an administrator sets it', () => {
    const form = { ...emptyUserForm(), username: ' boss ', displayName: ' ', password: 'long-enough-1', confirm: 'long-enough-1', isAdmin: true }
    expect(newUserBody(form, admin)).toEqual({ username: 'boss', password: 'long-enough-1', display_name: null, roles: [], departments: [], is_admin: true })
    expect(newUserBody(form, userManager)).not.toHaveProperty('is_admin')
  })

  it('patches only what changed, on the version read', () => {
    const li = user({})
    expect(userChanges(li, formOfUser(li), admin)).toBeNull()
    const form = { ...formOfUser(li), roles: ['nurse', 'doctor'], displayName: '李娜' }
    expect(userChanges(li, form, admin)).toEqual({ display_name: '李娜', roles: ['nurse', 'doctor'], version: 3 })
    // Same roles in another order is no change.
    expect(userChanges(user({ roles: ['a', 'b'] }), { ...formOfUser(user({ roles: ['a', 'b'] })), roles: ['b', 'a'] }, admin)).toBeNull()
    expect(userChanges(li, { ...formOfUser(li), isAdmin: true }, userManager)).toBeNull()
  })
})

describe('what the caller may do to whom', () => {
  const me = user({ id: admin.user.id, username: 'admin', is_admin: true, roles: [] })
  const li = user({})
  const everyone = [me, li]

  it('keeps the last enabled administrator, and oneself from deletion', () => {
    const mine = userActions(admin, me, everyone, [])
    expect(mine.remove).toBe('self_delete')
    expect(mine.toggleDisabled).toBe('self_disable')
    expect(mine.edit).toBeNull()
    const other = user({ id: 'other-admin', username: 'it', is_admin: true, roles: [] })
    expect(userActions(admin, other, [me, other], []).remove).toBeNull()
    expect(userActions(admin, other, [{ ...me, disabled: true }, other], []).remove).toBe('last_admin')
    expect(userActions(admin, li, everyone, []).remove).toBeNull()
  })

  it('keeps a user manager off administrators and users holding more than they do', () => {
    expect(userActions(userManager, me, everyone, null)).toEqual({ edit: 'admin_only', resetPassword: 'admin_only', toggleDisabled: 'admin_only', remove: 'admin_only' })
    expect(userActions(userManager, li, everyone, [nurseRole]).edit).toBeNull()
    expect(userActions(userManager, user({ roles: ['doctor'] }), everyone, [nurseRole, doctorRole]).edit).toBe('roles_not_held')
  })

  it('offers the roles the caller holds all of', () => {
    expect(assignableRoles(userManager, [nurseRole, doctorRole]).map((r) => r.name)).toEqual(['nurse'])
    expect(assignableRoles(admin, [nurseRole, doctorRole]).map((r) => r.name)).toEqual(['nurse', 'doctor'])
  })
})

describe('the users list', () => {
  it('finds users by name, display name, role or department label', () => {
    const li = user({})
    const role = (n: string) => (n === 'nurse' ? '护士' : n)
    const dept = (d: string) => (d === 'cardiology' ? '心内科' : d)
    expect(matchesSearch(li, '护士', role, dept)).toBe(true)
    expect(matchesSearch(li, '心内', role, dept)).toBe(true)
    expect(matchesSearch(li, 'LI', role, dept)).toBe(true)
    expect(matchesSearch(li, '王', role, dept)).toBe(false)
    expect(matchesStatus(li, 'enabled')).toBe(true)
    expect(matchesStatus(li, 'disabled')).toBe(false)
    expect(matchesStatus(user({ disabled: true }), 'disabled')).toBe(true)
  })

  it('takes departments from the options of each entity’s department field', () => {
    const withDept: EntityInfo = { ...patient, department_field: 'dept' }
    const visit: EntityInfo = {
      name: 'visit',
      version: 1,
      department_field: 'ward',
      fields: [{ name: 'ward', type: 'select', options: [{ value: 'cardiology', label: { zh: '心内' } }, { value: 'icu', label: { zh: '重症监护' } }] }],
    }
    expect(departmentOptions([withDept, visit, patient], 'zh-CN')).toEqual([
      { value: 'cardiology', label: '心内科' },
      { value: 'oncology', label: '肿瘤科' },
      { value: 'icu', label: '重症监护' },
    ])
  })
})
