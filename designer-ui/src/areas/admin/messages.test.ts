// The admin pages build some message keys from the API's own words (rights, actions, field rules,
// field types) and from their rules' results: each must exist in both languages.
import { describe, expect, it } from 'vitest'
import type { FieldType } from '@/api/types'
import { messages } from '@/i18n'
import { ENTITY_ACTIONS, FIELD_RULES, ROW_SCOPES, SYSTEM_RIGHTS } from './roles/matrix'

function has(tree: unknown, key: string): boolean {
  const found = key.split('.').reduce<unknown>((node, part) => (typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[part] : undefined), tree)
  return typeof found === 'string' && found.trim() !== ''
}

/** Every field type of the API: the type check fails when one is added and not named here. */
const FIELD_TYPES = Object.keys({
  text: 1, textarea: 1, number: 1, integer: 1, money: 1, boolean: 1, date: 1, datetime: 1, select: 1, multiselect: 1,
  tags: 1, phone: 1, email: 1, id_card: 1, reference: 1, references: 1, user: 1, attachment: 1, autonumber: 1, formula: 1,
  subject: 1,
} satisfies Record<FieldType, 1>)

describe('the admin message keys built in code', () => {
  const keys = [
    ...SYSTEM_RIGHTS.flatMap((r) => [`admin.rights.${r}`, `admin.rightHelp.${r}`]),
    ...ENTITY_ACTIONS.flatMap((a) => [`admin.actions.${a}`, `admin.actionHelp.${a}`]),
    ...[...FIELD_RULES, 'masked_until_shown'].flatMap((r) => [`admin.rules.${r}`, `admin.ruleHelp.${r}`]),
    ...ROW_SCOPES.map((s) => `admin.scopes.${s}`),
    ...FIELD_TYPES.map((f) => `admin.fieldTypes.${f}`),
    ...['admin_only', 'self_delete', 'self_disable', 'last_admin', 'roles_not_held'].map((r) => `admin.users.refused.${r}`),
    ...['username_required', 'username_format', 'password_required', 'password_length', 'password_mismatch', 'display_name_too_long'].map((p) => `admin.users.problems.${p}`),
    ...['too_short', 'weak', 'fair', 'strong'].map((s) => `admin.password.strength.${s}`),
    ...['longer', 'mix', 'not_username', 'no_runs'].map((h) => `admin.password.hints.${h}`),
    ...['name_required', 'name_format', 'name_too_long'].map((p) => `admin.role.problems.${p}`),
    ...['name_required', 'name_too_long', 'name_control'].map((p) => `admin.tokens.problems.${p}`),
    ...['active', 'expired', 'revoked'].map((s) => `admin.tokens.statuses.${s}`),
  ]

  it('exist in Chinese and English', () => {
    expect(keys.filter((k) => !has(messages['zh-CN'], k))).toEqual([])
    expect(keys.filter((k) => !has(messages.en, k))).toEqual([])
  })
})
