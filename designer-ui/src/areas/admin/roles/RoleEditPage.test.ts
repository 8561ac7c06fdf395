import { beforeEach, describe, expect, it } from 'vitest'
import type { Me, Role } from '@/api/types'
import { admin, json, nurse, patient } from '@/test/fixtures'
import { eventually, mountSignedIn, settle } from '@/test/mount'

function input(selector: string, value: string): void {
  const el = document.querySelector<HTMLInputElement>(selector)
  if (!el) throw new Error(`nothing matches ${selector}`)
  el.value = value
  el.dispatchEvent(new Event('input'))
}

function click(selector: string): void {
  const el = document.querySelector<HTMLElement>(selector)
  if (!el) throw new Error(`nothing matches ${selector}`)
  el.click()
}

const nurseRole: Role = {
  name: 'nurse',
  label: { zh: '护士', en: 'Nurse' },
  version: 3,
  rights: [],
  permissions: [{ entity: 'patient', actions: ['read', 'update'], rows: 'all', fields: { allergies: 'hidden' } }],
}

describe('the role page', () => {
  beforeEach(() => {
    document.body.innerHTML = ''
  })

  it('creates a role from the matrix: read and update on patients, allergies hidden, the phone masked', async () => {
    const { server, router } = await mountSignedIn({
      me: admin,
      entities: [patient],
      route: '/admin/roles/new',
      handlers: {
        'POST /api/v1/roles': (call) => json(201, { ...(call.body as Role), version: 1 }),
        'GET /api/v1/roles/nurse': () => json(200, { ...nurseRole, version: 1 }),
      },
    })
    input('input[name="role-name"]', 'nurse')
    input('input[name="label-zh"]', '护士')
    input('input[name="label-en"]', 'Nurse')
    click('[data-test="matrix-row-patient"] [data-test="action-read"] input')
    click('[data-test="matrix-row-patient"] [data-test="action-update"] input')
    click('[data-test="matrix-row-patient"] [data-test="toggle-fields"]')
    await settle()
    // Unlisted fields show their default greyed: editable with update, the phone masked.
    const nameRule = document.querySelector('[data-test="field-rule-name"]')!
    expect(nameRule.querySelector('.is-default')?.textContent?.trim()).toBe('可编辑')
    expect(nameRule.querySelector('[data-test="rule-default"]')?.textContent).toBe('可编辑')
    const phoneRule = document.querySelector('[data-test="field-rule-phone"]')!
    expect(phoneRule.querySelector('.is-default')?.textContent?.trim()).toBe('脱敏')
    expect(phoneRule.querySelector('[data-test="rule-default"]')?.textContent).toBe('脱敏（可查看原文）')
    click('[data-test="field-rule-allergies"] [data-test="rule-hidden"] input')
    click('[data-test="field-rule-phone"] [data-test="rule-masked"] input')
    await settle()
    expect(document.querySelector('[data-test="matrix-row-patient"]')?.textContent).toContain('1 隐藏 · 1 脱敏')
    click('[data-test="right-audit"] input')
    click('[data-test="save-role"]')
    await settle()
    const post = server.calls.find((c) => c.method === 'POST')
    expect(post?.body).toEqual({
      name: 'nurse',
      label: { zh: '护士', en: 'Nurse' },
      rights: ['audit'],
      permissions: [{ entity: 'patient', actions: ['read', 'update'], rows: 'all', fields: { allergies: 'hidden', phone: 'masked' } }],
    })
    await eventually(() => expect(router.currentRoute.value.fullPath).toBe('/admin/roles/nurse'))
  })

  it('checks the key before asking the server', async () => {
    const { server } = await mountSignedIn({ me: admin, entities: [patient], route: '/admin/roles/new' })
    input('input[name="role-name"]', 'Head Nurse')
    click('[data-test="save-role"]')
    await eventually(() => expect(document.querySelector('[data-test="form-item-role-name"] .el-form-item__error')?.textContent).toContain('只能用小写字母'))
    expect(server.calls).toEqual([])
  })

  it('saves on the version read; a stale one reloads the role and says so', async () => {
    let version = 3
    const { server } = await mountSignedIn({
      me: admin,
      entities: [patient],
      route: '/admin/roles/nurse',
      handlers: {
        'GET /api/v1/roles/nurse': () => json(200, { ...nurseRole, version }, { etag: `"${version}"` }),
        'PUT /api/v1/roles/nurse': () => {
          version = 4
          return json(409, { error: { code: 'version_conflict', message: '记录已被他人修改（当前版本 4），请刷新后重试', details: [] } })
        },
      },
    })
    expect(document.querySelector('h1')?.textContent).toBe('角色：护士')
    click('[data-test="matrix-row-patient"] [data-test="action-export"] input')
    click('[data-test="save-role"]')
    await eventually(() => expect(document.querySelector('[data-test="role-banner"]')?.textContent).toContain('该角色刚被他人修改，已载入最新版本'))
    const put = server.calls.find((c) => c.method === 'PUT')
    expect(put?.body).toEqual({ ...nurseRole, permissions: [{ ...nurseRole.permissions[0], actions: ['read', 'update', 'export'] }], version: 3 })
    expect(server.calls.filter((c) => c.method === 'GET' && c.path === '/api/v1/roles/nurse')).toHaveLength(2)
    // The reloaded role is on screen: the export tick is gone.
    expect(document.querySelector<HTMLInputElement>('[data-test="matrix-row-patient"] [data-test="action-export"] input')?.checked).toBe(false)
  })

  it('shows a role one holds read-only to one who is not an administrator', async () => {
    const manager: Me = { ...nurse, rights: ['roles'] }
    await mountSignedIn({
      me: manager,
      entities: [patient],
      route: '/admin/roles/nurse',
      handlers: { 'GET /api/v1/roles/nurse': () => json(200, nurseRole) },
    })
    expect(document.querySelector('[data-test="role-locked"]')?.textContent).toContain('您持有此角色，不能修改它')
    expect(document.querySelector('[data-test="save-role"]')).toBeNull()
    expect(document.querySelector<HTMLInputElement>('[data-test="matrix-row-patient"] [data-test="action-read"] input')?.disabled).toBe(true)
  })

  it('offers a role manager only what they hold, narrowing fields to their own', async () => {
    const manager: Me = { ...nurse, user: { ...nurse.user, roles: ['head_nurse'] }, rights: ['roles'], permissions: [{ ...nurse.permissions[0]!, rows: 'all' }] }
    const { server } = await mountSignedIn({
      me: manager,
      entities: [patient],
      route: '/admin/roles/new',
      handlers: { 'POST /api/v1/roles': (call) => json(201, { ...(call.body as Role), version: 1 }) },
    })
    const row = '[data-test="matrix-row-patient"]'
    expect(document.querySelector<HTMLInputElement>(`${row} [data-test="action-delete"] input`)?.disabled).toBe(true)
    expect(document.querySelector<HTMLInputElement>(`${row} [data-test="action-read"] input`)?.disabled).toBe(false)
    expect(document.querySelector<HTMLInputElement>('[data-test="right-users"] input')?.disabled).toBe(true)
    expect(document.querySelector<HTMLInputElement>('[data-test="right-roles"] input')?.disabled).toBe(false)
    click(`${row} [data-test="action-read"] input`)
    await settle()
    expect(document.body.textContent).toContain('已按您自己的权限收紧了 2 个字段的规则')
    click(`${row} [data-test="toggle-fields"]`)
    await settle()
    // The ID number is masked for the manager: no more than masked can be given.
    const idRule = '[data-test="field-rule-id_number"]'
    expect(document.querySelector<HTMLInputElement>(`${idRule} [data-test="rule-read"] input`)?.disabled).toBe(true)
    expect(document.querySelector<HTMLInputElement>(`${idRule} [data-test="rule-hidden"] input`)?.disabled).toBe(false)
    input('input[name="role-name"]', 'aide')
    click('[data-test="save-role"]')
    await settle()
    expect(document.querySelector('[data-test="role-exceeds"]')).toBeNull()
    expect((server.calls.find((c) => c.method === 'POST')?.body as Role).permissions).toEqual([
      { entity: 'patient', actions: ['read'], rows: 'all', fields: { id_number: 'masked', allergies: 'hidden' } },
    ])
  })

  it('says so when the role does not exist', async () => {
    await mountSignedIn({
      me: admin,
      entities: [patient],
      route: '/admin/roles/ghost',
      handlers: { 'GET /api/v1/roles/ghost': () => json(404, { error: { code: 'not_found', message: '未找到：role ghost', details: [] } }) },
    })
    expect(document.body.textContent).toContain('角色“ghost”不存在，或已被删除。')
  })
})
