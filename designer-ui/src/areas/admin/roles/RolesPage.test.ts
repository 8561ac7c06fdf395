import { beforeEach, describe, expect, it } from 'vitest'
import type { Me, Role } from '@/api/types'
import { admin, json, nurse, patient } from '@/test/fixtures'
import { eventually, mountSignedIn } from '@/test/mount'

const nurseRole: Role = {
  name: 'nurse',
  label: { zh: '护士', en: 'Nurse' },
  version: 2,
  rights: [],
  permissions: [{ entity: 'patient', actions: ['update', 'read'], rows: 'department', fields: { allergies: 'hidden', id_number: 'masked' } }],
}
const auditor: Role = { name: 'auditor', label: { zh: '审计员' }, version: 1, rights: ['audit'], permissions: [] }
const page = (items: unknown[]) => json(200, { items, total: items.length, page: 1, per_page: 1000 })
const users = [
  { id: 'a', username: 'li', display_name: null, is_admin: false, roles: ['nurse'], departments: [], disabled: false, created_at: '2026-12-01T00:00:00Z', updated_at: '2026-12-01T00:00:00Z', version: 1 },
  { id: 'b', username: 'wu', display_name: null, is_admin: false, roles: ['nurse'], departments: [], disabled: false, created_at: '2026-12-01T00:00:00Z', updated_at: '2026-12-01T00:00:00Z', version: 1 },
]

describe('the roles page', () => {
  beforeEach(() => {
    document.body.innerHTML = ''
  })

  it('lists each role with its grants in words and how many users hold it', async () => {
    const { wrapper } = await mountSignedIn({
      me: admin,
      entities: [patient],
      route: '/admin/roles',
      handlers: { 'GET /api/v1/roles': () => page([auditor, nurseRole]), 'GET /api/v1/users': () => page(users) },
    })
    const rows = wrapper.findAll('[data-test="roles-table"] .el-table__body-wrapper tr')
    expect(rows).toHaveLength(2)
    expect(rows[0]!.text()).toContain('审计员')
    expect(rows[0]!.text()).toContain('审计日志')
    const nurseRow = rows[1]!.text()
    expect(nurseRow).toContain('护士')
    expect(nurseRow).toContain('患者：查看、修改（本科室的） · 2 个字段规则')
    expect(nurseRow).toContain('2')
  })

  it('deletes a role after saying who loses it, on the version read', async () => {
    let roles = [auditor, nurseRole]
    const { wrapper, server } = await mountSignedIn({
      me: admin,
      entities: [patient],
      route: '/admin/roles',
      handlers: {
        'GET /api/v1/roles': () => page(roles),
        'GET /api/v1/users': () => page(users),
        'DELETE /api/v1/roles/nurse': () => {
          roles = [auditor]
          return new Response(null, { status: 204 })
        },
      },
    })
    await wrapper.find('[data-test="delete-role-nurse"]').trigger('click')
    await eventually(() => expect(document.querySelector('.el-message-box')?.textContent).toContain('2 名用户持有它'))
    ;[...document.querySelectorAll<HTMLElement>('.el-message-box button')].find((b) => b.textContent?.trim() === '删除')!.click()
    await eventually(() => expect(wrapper.findAll('[data-test="roles-table"] .el-table__body-wrapper tr')).toHaveLength(1))
    expect(server.calls.find((c) => c.method === 'DELETE')?.headers.get('If-Match')).toBe('"2"')
  })

  it('opens a role the caller holds to view, not to edit or delete', async () => {
    const manager: Me = { ...nurse, rights: ['roles'] }
    const { wrapper } = await mountSignedIn({
      me: manager,
      entities: [patient],
      route: '/admin/roles',
      handlers: { 'GET /api/v1/roles': () => page([nurseRole]) },
    })
    expect(wrapper.find('[data-test="open-role-nurse"]').text()).toBe('查看')
    expect(wrapper.find('[data-test="delete-role-nurse"]').exists()).toBe(false)
    expect(wrapper.text()).toContain('您持有此角色')
  })

  it('is where 管理 leads one who may manage roles but not users', async () => {
    const { router } = await mountSignedIn({
      me: { ...nurse, rights: ['roles'] },
      entities: [patient],
      route: '/admin',
      handlers: { 'GET /api/v1/roles': () => page([nurseRole]) },
    })
    expect(router.currentRoute.value.name).toBe('admin-roles')
  })
})
