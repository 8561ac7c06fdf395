// A role as the permission matrix edits it, and back: one row per entity (actions, row scope,
// a rule per field), the system rights, the label. The round trip keeps what the matrix does not
// show (a second entry on one entity, entities the caller cannot see, rules of fields the
// definition no longer has) and the order of what it does, so saving an unchanged role changes
// nothing on the server.
import type { EntityAction, EntityInfo, EntityPermission, FieldDef, FieldRule, Role, RoleBody, RowScope, SystemRight } from '@/api/types'
import { isSensitive } from '@/lib/access'
import type { Me } from '@/api/types'
import { heldRuleLimit, ruleRank } from '../grants'

/** The entity actions of the API, in the matrix's column order. */
export const ENTITY_ACTIONS: readonly EntityAction[] = ['read', 'create', 'update', 'delete', 'export', 'design']
/** Field rules from the least to the most the role sees. */
export const FIELD_RULES: readonly FieldRule[] = ['hidden', 'masked', 'read', 'write']
export const SYSTEM_RIGHTS: readonly SystemRight[] = ['users', 'roles', 'audit', 'packs', 'settings', 'new_entity']
export const ROW_SCOPES: readonly RowScope[] = ['all', 'own', 'department']

/** Role names are slugs like entity names: `head_nurse`. */
export const ROLE_NAME_PATTERN = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/
export const ROLE_NAME_MAX = 28

export interface MatrixRow {
  entity: string
  /** Ticked actions, in the order the role lists them (new ones at the end). */
  actions: EntityAction[]
  rows: RowScope
  /** Rules set for fields; a field not here follows the default. */
  fields: Record<string, FieldRule>
  /** The role's entry for this entity sits at this place among its permissions (-1: new). */
  position: number
}

export interface RoleDraft {
  name: string
  labelZh: string
  labelEn: string
  /** One row per entity the caller can see, in the definitions' order. */
  rows: MatrixRow[]
  /** Entries the matrix does not show, each at its place among the role's permissions. */
  kept: { position: number; entry: EntityPermission }[]
  rights: SystemRight[]
  /** The version the user read; null for a new role. */
  version: number | null
}

function copyEntry(p: EntityPermission): EntityPermission {
  return { ...p, actions: [...p.actions], ...(p.fields ? { fields: { ...p.fields } } : {}) }
}

/** The draft of `role` (null: a new role) over the entities the caller can see. */
export function draftFromRole(role: Role | null, entities: readonly EntityInfo[]): RoleDraft {
  const permissions = role?.permissions ?? []
  const known = new Set(entities.map((e) => e.name))
  const primary = new Map<string, number>()
  const kept: RoleDraft['kept'] = []
  permissions.forEach((p, position) => {
    if (known.has(p.entity) && !primary.has(p.entity)) primary.set(p.entity, position)
    else kept.push({ position, entry: copyEntry(p) })
  })
  const rows = entities.map((e): MatrixRow => {
    const position = primary.get(e.name)
    const entry = position === undefined ? undefined : permissions[position]
    return {
      entity: e.name,
      actions: entry ? [...entry.actions] : [],
      rows: entry?.rows ?? 'all',
      fields: entry?.fields ? { ...entry.fields } : {},
      position: position ?? -1,
    }
  })
  return {
    name: role?.name ?? '',
    labelZh: role?.label?.zh ?? '',
    labelEn: role?.label?.en ?? '',
    rows,
    kept,
    rights: [...(role?.rights ?? [])],
    version: role?.version ?? null,
  }
}

function entryOf(row: MatrixRow): EntityPermission {
  const entry: EntityPermission = { entity: row.entity, actions: [...row.actions], rows: row.rows }
  if (Object.keys(row.fields).length > 0) entry.fields = { ...row.fields }
  return entry
}

/** A row grants something: an entity with no action is left out of the role. */
export function rowGrants(row: MatrixRow): boolean {
  return row.actions.length > 0
}

/** The role to send: POST for a new one, PUT (with the version read) for an existing one. */
export function roleFromDraft(draft: RoleDraft): RoleBody {
  const placed: { position: number; entry: EntityPermission }[] = [
    ...draft.kept,
    ...draft.rows.filter((r) => r.position >= 0 && rowGrants(r)).map((r) => ({ position: r.position, entry: entryOf(r) })),
  ].sort((a, b) => a.position - b.position)
  const added = draft.rows.filter((r) => r.position < 0 && rowGrants(r)).map(entryOf)
  const zh = draft.labelZh.trim()
  const en = draft.labelEn.trim()
  const role: RoleBody = {
    name: draft.name.trim(),
    permissions: [...placed.map((p) => p.entry), ...added],
    rights: [...draft.rights],
  }
  if (zh || en) role.label = { ...(zh ? { zh } : {}), ...(en ? { en } : {}) }
  if (draft.version !== null) role.version = draft.version
  return role
}

/** Ticks or unticks an action, keeping the order the role had. */
export function setAction(row: MatrixRow, action: EntityAction, on: boolean): void {
  const has = row.actions.includes(action)
  if (on && !has) row.actions.push(action)
  if (!on && has) row.actions.splice(row.actions.indexOf(action), 1)
}

/** Sets a field's rule; null returns it to the default. */
export function setFieldRule(row: MatrixRow, field: string, rule: FieldRule | null): void {
  if (rule === null) delete row.fields[field]
  else row.fields[field] = rule
}

/** The rule an unlisted field gets: `write` when the role may update, else `read`. */
export function defaultRule(row: Pick<MatrixRow, 'actions'>): FieldRule {
  return row.actions.includes('update') ? 'write' : 'read'
}

/**
 * How a role holder sees the field: its rule, and for a sensitive field without one, masked
 * until they ask to see it (each such look is audited) — DESIGN.md's "sensitive fields are
 * masked unless listed", as the server applies it.
 */
export type FieldSight = FieldRule | 'masked_until_shown'

export function effectiveSight(row: Pick<MatrixRow, 'actions' | 'fields'>, field: FieldDef): FieldSight {
  const own = row.fields[field.name]
  if (own) return own
  return isSensitive(field) ? 'masked_until_shown' : defaultRule(row)
}

/** Rules of fields the definition no longer has: kept, and counted so the page can say so. */
export function orphanRules(row: MatrixRow, entity: EntityInfo): string[] {
  const names = new Set(entity.fields.map((f) => f.name))
  return Object.keys(row.fields).filter((f) => !names.has(f))
}

/** Short words for the matrix cell: how many fields the role narrows. */
export function narrowedCount(row: MatrixRow, entity: EntityInfo): { hidden: number; masked: number; readOnly: number } {
  const out = { hidden: 0, masked: 0, readOnly: 0 }
  for (const f of entity.fields) {
    const rule = row.fields[f.name]
    if (rule === 'hidden') out.hidden++
    else if (rule === 'masked') out.masked++
    else if (rule === 'read' && row.actions.includes('update')) out.readOnly++
  }
  return out
}

/**
 * For one who is not an administrator: narrows the row's fields to what they hold themselves,
 * so the role grants nothing more (the server refuses otherwise). A field their own roles hide
 * becomes hidden here too, and so on. Returns the fields it changed.
 */
export function capToHeld(row: MatrixRow, entity: EntityInfo, me: Me | null): string[] {
  if (!me || me.user.is_admin || row.actions.length === 0) return []
  const changed: string[] = []
  for (const f of entity.fields) {
    const limit = heldRuleLimit(me, row.entity, row.actions, row.rows, f.name)
    if (limit === null) continue
    const current = row.fields[f.name] ?? defaultRule(row)
    if (ruleRank(current) > ruleRank(limit)) {
      row.fields[f.name] = limit
      changed.push(f.name)
    }
  }
  return changed
}

export type RoleDraftProblem = 'name_required' | 'name_format' | 'name_too_long'

/** What is wrong with the draft before the server is asked, by field. */
export function checkDraft(draft: Pick<RoleDraft, 'name'>): { name?: RoleDraftProblem } {
  const name = draft.name.trim()
  if (name === '') return { name: 'name_required' }
  if (name.length > ROLE_NAME_MAX) return { name: 'name_too_long' }
  if (!ROLE_NAME_PATTERN.test(name)) return { name: 'name_format' }
  return {}
}

/** A role's entity permissions in one line per entity, for the roles list. */
export function permissionSummary(role: Pick<Role, 'permissions'>): { entity: string; actions: EntityAction[]; rows: RowScope; narrowed: number }[] {
  return role.permissions.map((p) => ({
    entity: p.entity,
    actions: ENTITY_ACTIONS.filter((a) => p.actions.includes(a)),
    rows: p.rows ?? 'all',
    narrowed: Object.keys(p.fields ?? {}).length,
  }))
}
