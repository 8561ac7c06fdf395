// The users page's rules: what a new or changed user must look like before the server is asked
// (engine/src/access/users.rs and passwords.rs say the same), how strong a password is, what
// a change sends, and which actions the caller may take on whom.
import type { EntityInfo, Me, NewUser, Role, User, UserUpdate } from '@/api/types'
import { pickLabel, type Language } from '@/i18n'
import { mayTouchUser, missingFrom } from '../grants'

export const USERNAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/
export const PASSWORD_MIN = 8
export const PASSWORD_MAX = 256
export const DISPLAY_NAME_MAX = 100

/** Characters, not UTF-16 units: the server counts a Chinese character once. */
function charCount(s: string): number {
  return [...s].length
}

export type PasswordStrength = 'too_short' | 'weak' | 'fair' | 'strong'

export interface PasswordAssessment {
  strength: PasswordStrength
  /** What would make it stronger, as message keys under `admin.password.hints`. */
  hints: ('longer' | 'mix' | 'not_username' | 'no_runs')[]
}

const COMMON = ['password', 'passw0rd', 'admin', 'qwerty', 'abc123', '123456', '111111', 'kangdao', 'hospital', 'iloveyou']

/** A run like `12345678`, `abcdefg` or `aaaaaaa` is most of the password. */
function isMostlyRun(pw: string): boolean {
  const chars = [...pw.toLowerCase()]
  let longest = 1
  let run = 1
  for (let i = 1; i < chars.length; i++) {
    const step = chars[i]!.codePointAt(0)! - chars[i - 1]!.codePointAt(0)!
    const prevStep = i > 1 ? chars[i - 1]!.codePointAt(0)! - chars[i - 2]!.codePointAt(0)! : step
    run = Math.abs(step) <= 1 && (i === 1 || step === prevStep) ? run + 1 : 1
    longest = Math.max(longest, run)
  }
  return longest >= Math.ceil(chars.length * 0.6)
}

/**
 * A hint, not a rule: the server asks only for 8 to 256 characters. Strength comes from length
 * and the kinds of characters mixed (lower, upper, digits, symbols, Chinese), and falls for a
 * common word, a run, or the user name.
 */
export function assessPassword(password: string, username = ''): PasswordAssessment {
  const n = charCount(password)
  const hints: PasswordAssessment['hints'] = []
  if (n < PASSWORD_MIN) return { strength: 'too_short', hints: ['longer'] }
  const kinds = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9\u3400-\u9fff]/, /[\u3400-\u9fff]/].filter((k) => k.test(password)).length
  const lower = password.toLowerCase()
  const user = username.trim().toLowerCase()
  const containsUser = user.length >= 3 && lower.includes(user)
  const common = COMMON.some((w) => lower.includes(w))
  const run = isMostlyRun(password)
  let score = (n >= 12 ? 2 : n >= 10 ? 1 : 0) + (kinds >= 3 ? 2 : kinds === 2 ? 1 : 0)
  if (containsUser || common || run) score = Math.min(score, 1)
  if (n < 12) hints.push('longer')
  if (kinds < 3) hints.push('mix')
  if (containsUser) hints.push('not_username')
  if (common || run) hints.push('no_runs')
  const strength: PasswordStrength = score >= 4 ? 'strong' : score >= 2 ? 'fair' : 'weak'
  return { strength, hints: strength === 'strong' ? [] : hints }
}

export type UserFieldProblem =
  | 'username_required'
  | 'username_format'
  | 'password_required'
  | 'password_length'
  | 'password_mismatch'
  | 'display_name_too_long'

export interface PasswordPair {
  password: string
  confirm: string
}

/** Problems of a password typed twice, by field. */
export function checkPasswordPair(pair: PasswordPair): { password?: UserFieldProblem; confirm?: UserFieldProblem } {
  const n = charCount(pair.password)
  if (n === 0) return { password: 'password_required' }
  if (n < PASSWORD_MIN || n > PASSWORD_MAX) return { password: 'password_length' }
  if (pair.password !== pair.confirm) return { confirm: 'password_mismatch' }
  return {}
}

export interface UserForm {
  username: string
  displayName: string
  roles: string[]
  departments: string[]
  isAdmin: boolean
}

export type NewUserForm = UserForm & PasswordPair

export function emptyUserForm(): NewUserForm {
  return { username: '', displayName: '', roles: [], departments: [], isAdmin: false, password: '', confirm: '' }
}

export function formOfUser(user: User): UserForm {
  return {
    username: user.username,
    displayName: user.display_name ?? '',
    roles: [...user.roles],
    departments: [...user.departments],
    isAdmin: user.is_admin,
  }
}

/** Problems of the form by field (`username`, `displayName`, `password`, `confirm`). */
export function checkUserForm(form: UserForm, withPassword: PasswordPair | null): Partial<Record<'username' | 'displayName' | 'password' | 'confirm', UserFieldProblem>> {
  const out: Partial<Record<'username' | 'displayName' | 'password' | 'confirm', UserFieldProblem>> = {}
  const username = form.username.trim()
  if (username === '') out.username = 'username_required'
  else if (!USERNAME_PATTERN.test(username)) out.username = 'username_format'
  if (charCount(form.displayName.trim()) > DISPLAY_NAME_MAX) out.displayName = 'display_name_too_long'
  if (withPassword) Object.assign(out, checkPasswordPair(withPassword))
  return out
}

/** The body of `POST /users`; the admin flag only when the caller may give it. */
export function newUserBody(form: NewUserForm, me: Me | null): NewUser {
  const body: NewUser = {
    username: form.username.trim(),
    password: form.password,
    display_name: form.displayName.trim() || null,
    roles: [...form.roles],
    departments: [...form.departments],
  }
  if (me?.user.is_admin && form.isAdmin) body.is_admin = true
  return body
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x))
}

/** The PATCH for what changed, on the version the user read; null when nothing changed. */
export function userChanges(user: User, form: UserForm, me: Me | null): (UserUpdate & { version: number }) | null {
  const update: UserUpdate = {}
  const name = form.displayName.trim() || null
  if (name !== (user.display_name ?? null)) update.display_name = name
  if (!sameSet(form.roles, user.roles)) update.roles = [...form.roles]
  if (!sameSet(form.departments, user.departments)) update.departments = [...form.departments]
  if (me?.user.is_admin && form.isAdmin !== user.is_admin) update.is_admin = form.isAdmin
  if (Object.keys(update).length === 0) return null
  return { ...update, version: user.version ?? 0 }
}

/** Why the caller may not act on a user, or null when they may. */
export type UserActionRefusal = 'admin_only' | 'self_delete' | 'last_admin' | 'roles_not_held' | 'self_disable'

export interface UserActions {
  edit: UserActionRefusal | null
  resetPassword: UserActionRefusal | null
  toggleDisabled: UserActionRefusal | null
  remove: UserActionRefusal | null
}

/** An enabled administrator who is the only one left. */
export function isLastActiveAdmin(user: User, everyone: readonly User[]): boolean {
  return user.is_admin && !user.disabled && !everyone.some((u) => u.id !== user.id && u.is_admin && !u.disabled)
}

/**
 * What the caller may do to `user`, as the server would decide: only administrators touch
 * administrators, nobody deletes themselves, the last enabled administrator stays, and one who is
 * not an administrator must hold every role the user has (`roles`, when the caller may list them).
 */
export function userActions(me: Me | null, user: User, everyone: readonly User[], roles: readonly Role[] | null): UserActions {
  let touch: UserActionRefusal | null = mayTouchUser(me, user) ? null : 'admin_only'
  if (!touch && me && !me.user.is_admin && roles) {
    const held = user.roles.every((name) => {
      const role = roles.find((r) => r.name === name)
      return !role || missingFrom(me, role) === null
    })
    if (!held) touch = 'roles_not_held'
  }
  const self = me?.user.id === user.id
  const lastAdmin = isLastActiveAdmin(user, everyone)
  return {
    edit: touch,
    resetPassword: touch,
    toggleDisabled: touch ?? (self && !user.disabled ? 'self_disable' : null) ?? (lastAdmin ? 'last_admin' : null),
    remove: touch ?? (self ? 'self_delete' : null) ?? (lastAdmin ? 'last_admin' : null),
  }
}

/** The roles the caller may give: all for an administrator, else those they hold all of. */
export function assignableRoles(me: Me | null, roles: readonly Role[]): Role[] {
  if (!me) return []
  if (me.user.is_admin) return [...roles]
  return roles.filter((r) => missingFrom(me, r) === null)
}

export interface DepartmentOption {
  value: string
  label: string
}

/**
 * The departments the definitions know: the options of every entity's `department_field`
 * (DESIGN.md: a user's departments are option values of those fields), by value, first label wins.
 */
export function departmentOptions(entities: readonly EntityInfo[], language: Language): DepartmentOption[] {
  const out = new Map<string, string>()
  for (const e of entities) {
    if (!e.department_field) continue
    const field = e.fields.find((f) => f.name === e.department_field)
    for (const o of field?.options ?? []) {
      if (!out.has(o.value)) out.set(o.value, pickLabel(o.label, language, o.value))
    }
  }
  return [...out].map(([value, label]) => ({ value, label }))
}

export type StatusFilter = 'all' | 'enabled' | 'disabled'

/** Whether the user matches the search (user name, display name, a role's or department's name). */
export function matchesSearch(user: User, q: string, roleLabel: (name: string) => string, departmentLabel: (value: string) => string): boolean {
  const needle = q.trim().toLowerCase()
  if (needle === '') return true
  const haystack = [
    user.username,
    user.display_name ?? '',
    ...user.roles.flatMap((r) => [r, roleLabel(r)]),
    ...user.departments.flatMap((d) => [d, departmentLabel(d)]),
  ]
  return haystack.some((s) => s.toLowerCase().includes(needle))
}

export function matchesStatus(user: User, status: StatusFilter): boolean {
  return status === 'all' || (status === 'enabled') === !user.disabled
}
