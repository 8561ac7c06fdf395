// What the signed-in user may give, the way the engine decides it (engine/src/access/grants.rs):
// nobody grants, changes or takes away what they do not hold themselves, only administrators
// touch administrators, and departments are given only by those who belong to them. The UI
// offers only what would pass; the server checks again.
import type { EntityAction, EntityPermission, FieldRule, Me, RoleBody, RowScope, SystemRight } from '@/api/types'

const RANK: Record<FieldRule, number> = { hidden: 0, masked: 1, read: 2, write: 3 }

export function ruleRank(rule: FieldRule): number {
  return RANK[rule]
}

/** The rule one permission entry gives `field`: its own, or `write` where it may update, else `read`. */
export function ruleOf(entry: Pick<EntityPermission, 'actions' | 'fields'>, field: string): FieldRule {
  return entry.fields?.[field] ?? (entry.actions.includes('update') ? 'write' : 'read')
}

/** `held` reaches every row `wanted` does. */
export function rowsCover(held: RowScope | undefined, wanted: RowScope | undefined): boolean {
  const h = held ?? 'all'
  return h === 'all' || h === (wanted ?? 'all')
}

/** `held` gives `action` on at least the rows and fields `wanted` gives. */
export function entryCovers(held: EntityPermission, wanted: EntityPermission, action: EntityAction): boolean {
  if (held.entity !== wanted.entity || !held.actions.includes(action) || !rowsCover(held.rows, wanted.rows)) return false
  const fields = new Set([...Object.keys(held.fields ?? {}), ...Object.keys(wanted.fields ?? {})])
  return [...fields].every((f) => RANK[ruleOf(wanted, f)] <= RANK[ruleOf(held, f)])
}

/** Something a role grants that the caller does not hold. */
export type Missing = { kind: 'right'; right: SystemRight } | { kind: 'action'; entity: string; action: EntityAction }

/** The first thing `role` grants that `me` does not hold; null when they hold it all. */
export function missingFrom(me: Me | null, role: Pick<RoleBody, 'permissions' | 'rights'>): Missing | null {
  if (!me) return null
  if (me.user.is_admin) return null
  for (const right of role.rights ?? []) {
    if (!me.rights.includes(right)) return { kind: 'right', right }
  }
  for (const wanted of role.permissions ?? []) {
    for (const action of wanted.actions) {
      if (!me.permissions.some((held) => entryCovers(held, wanted, action))) return { kind: 'action', entity: wanted.entity, action }
    }
  }
  return null
}

/** Whether the caller may tick `action` on `entity` for rows `rows` at all. */
export function mayGrantAction(me: Me | null, entity: string, action: EntityAction, rows: RowScope): boolean {
  if (!me) return false
  if (me.user.is_admin) return true
  return me.permissions.some((p) => p.entity === entity && p.actions.includes(action) && rowsCover(p.rows, rows))
}

/** Whether the caller may tick the system right. */
export function mayGrantRight(me: Me | null, right: SystemRight): boolean {
  if (!me) return false
  return me.user.is_admin || me.rights.includes(right)
}

/**
 * The most generous rule the caller may give `field` on a role granting `actions` on `entity`:
 * what the best of their own entries holding those actions gives it. `write` for administrators;
 * `null` when no entry of theirs holds any of the actions.
 */
export function heldRuleLimit(me: Me | null, entity: string, actions: readonly EntityAction[], rows: RowScope, field: string): FieldRule | null {
  if (!me) return null
  if (me.user.is_admin) return 'write'
  const onEntity = me.permissions.filter((p) => p.entity === entity && rowsCover(p.rows, rows))
  const holdingAll = onEntity.filter((p) => actions.every((a) => p.actions.includes(a)))
  const candidates = holdingAll.length > 0 ? holdingAll : onEntity.filter((p) => actions.some((a) => p.actions.includes(a)))
  let best: FieldRule | null = null
  for (const p of candidates) {
    const rule = ruleOf(p, field)
    if (best === null || RANK[rule] > RANK[best]) best = rule
  }
  return best
}

/** Only administrators make, change or remove administrators. */
export function mayTouchUser(me: Me | null, target: { is_admin: boolean }): boolean {
  if (!me) return false
  return me.user.is_admin || !target.is_admin
}

/** Nobody but an administrator edits or deletes a role they hold. */
export function mayEditRoleHeld(me: Me | null, roleName: string): boolean {
  if (!me) return false
  return me.user.is_admin || !me.user.roles.includes(roleName)
}

/**
 * The departments the caller may give a user who has `already`: any for an administrator (from
 * `known`, the departments the definitions name), else those they belong to and those the user
 * keeps.
 */
export function assignableDepartments(me: Me | null, known: readonly string[], already: readonly string[]): string[] {
  if (!me) return []
  const pool = me.user.is_admin ? [...known] : [...me.user.departments]
  for (const d of already) if (!pool.includes(d)) pool.push(d)
  return pool
}
