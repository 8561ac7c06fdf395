// What the signed-in user may do, read from `GET /api/v1/me` the way the engine decides it
// (engine/src/access/principal.rs). The UI only hides what would be refused; the server checks.
import type { EntityAction, FieldDef, FieldRule, Me, SystemRight } from '@/api/types'

export function can(me: Me | null, entity: string, action: EntityAction): boolean {
  if (!me) return false
  return me.user.is_admin || me.permissions.some((p) => p.entity === entity && p.actions.includes(action))
}

export function hasRight(me: Me | null, right: SystemRight): boolean {
  if (!me) return false
  return me.user.is_admin || me.rights.includes(right)
}

const RANK: Record<FieldRule, number> = { hidden: 0, masked: 1, read: 2, write: 3 }

/** The most generous rule any role gives the field; unlisted fields follow the update right. */
export function fieldRule(me: Me | null, entity: string, field: string): FieldRule {
  if (!me) return 'hidden'
  if (me.user.is_admin) return 'write'
  let best: FieldRule = 'hidden'
  for (const p of me.permissions) {
    if (p.entity !== entity || !p.actions.includes('read')) continue
    const rule: FieldRule = p.fields?.[field] ?? (p.actions.includes('update') ? 'write' : 'read')
    if (RANK[rule] > RANK[best]) best = rule
  }
  return best
}

/** Sensitive fields: ID numbers and phones unless the definition says otherwise. */
export function isSensitive(field: FieldDef): boolean {
  return field.sensitive ?? (field.type === 'id_card' || field.type === 'phone')
}

/** How the user sees a field's value in lists and forms. */
export type Sight = 'hidden' | 'masked' | 'unmaskable' | 'plain'

export function sightOf(me: Me | null, entity: string, field: FieldDef): Sight {
  const rule = fieldRule(me, entity, field.name)
  if (rule === 'hidden') return 'hidden'
  if (rule === 'masked') return 'masked'
  return isSensitive(field) ? 'unmaskable' : 'plain'
}
