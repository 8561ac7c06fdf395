import { beforeEach, describe, expect, it } from 'vitest'
import type { Me, Role, User } from '@/api/types'
import { admin, json, nurse, patient } from '@/test/fixtures'
import { eventually, mountSignedIn, settle } from '@/test/mount'

function user(overrides: Partial<User>): User {
  return {
    id: '0190c7d2-0000-7000-8000-0000000000b1',
    username: 'nurse_li',
    display_name: '李护士',
    is_admin: false,
    roles: ['nurse'],
    departments: ['cardiology'],
    disabled: false,
    created_at: '2026-12-01T00:00:00Z',
    updated_at: '2026-12-02T06:30:00Z',
    version: 2,
    ...overrides,
  }
}

const me = user({ id: admin.user.id, username: 'admin', display_name: null, is_admin: true, roles: [], departments: [] })
const li = user({})
const wang = user({ id: '0190c7d2-0000-7000-8000-0000000000b2', username: 'wang', display_name: '王医生', roles: ['doctor'], departments: [], disabled: true })
const nurseRole: Role = { name: 'nurse', label: { zh: '护士', en: 'Nurse' }, version: 1, rights: [], permissions: nurse.permissions }
const doctorRole: Role = { name: 'doctor', label: { zh: '医生' }, version: 1, rights: [], permissions: [{ entity: 'patient', actions: ['read', 'update', 'delete'] }] }

const page = (items: unknown[]) => json(200, { items, total: items.length, page: 1, per_page: 1000 })
const withDepartments = { ...patient, department_field: 'dept' }

function button(text: string): HTMLElement {
  const found = [...document.querySelectorAll<HTMLElement>('button')].find((b) => b.textContent?.trim() === text)
  if (!found) throw new Error(`no button ${text}`)
  return found
}

function input(selector: string, value: string): void {
  const el = document.querySelector<HTMLInputElement>(selector)
  if (!el) throw new Error(`nothing matches ${selector}`)
  el.value = value
  el.dispatchEvent(new Event('input'))
  el.dispatchEvent(new Event('change'))
}

describe('the users page', () => {
  beforeEach(() => {
    document.body.innerHTML = ''
  })

  it('lists users with their status, roles and departments by name', async () => {
    const { wrapper } = await mountSignedIn({
      me: admin,
      entities: [withDepartments],
      route: '/admin/users',
      handlers: { 'GET /api/v1/users': () => page([me, li, wang]), 'GET /api/v1/roles': () => page([nurseRole, doctorRole]) },
    })
    expect(wrapper.find('h1').text()).toBe('用户')
    const rows = wrapper.findAll('[data-test="users-table"] .el-table__body-wrapper tr')
    expect(rows).toHaveLength(3)
    expect(rows[0]!.text()).toContain('admin（您）')
    expect(rows[0]!.text()).toContain('系统管理员')
    expect(rows[1]!.text()).toContain('李护士')
    expect(rows[1]!.text()).toContain('护士')
    expect(rows[1]!.text()).toContain('心内科')
    expect(rows[1]!.text()).toContain('启用')
    expect(rows[2]!.text()).toContain('停用')
    expect(rows[2]!.text()).toContain('医生')
    expect(wrapper.find('[data-test="user-total"]').text()).toBe('共 3 名用户')
  })

  it('searches by a role’s name and filters by status from the address', async () => {
    const { wrapper } = await mountSignedIn({
      me: admin,
      entities: [patient],
      route: '/admin/users?q=%E5%8C%BB%E7%94%9F',
      handlers: { 'GET /api/v1/users': () => page([me, li, wang]), 'GET /api/v1/roles': () => page([nurseRole, doctorRole]) },
    })
    const rows = () => wrapper.findAll('[data-test="users-table"] .el-table__body-wrapper tr')
    expect(rows()).toHaveLength(1)
    expect(rows()[0]!.text()).toContain('wang')

    const second = await mountSignedIn({
      me: admin,
      entities: [patient],
      route: '/admin/users?status=enabled&q=zzz',
      handlers: { 'GET /api/v1/users': () => page([me, li, wang]), 'GET /api/v1/roles': () => page([nurseRole]) },
    })
    expect(second.wrapper.find('[data-test="users-empty"]').text()).toContain('没有符合条件的用户')
  })

  it('creates a user with an initial password typed twice, and not before both agree', async () => {
    const { wrapper, server } = await mountSignedIn({
      me: admin,
      entities: [patient],
      route: '/admin/users',
      handlers: {
        'GET /api/v1/users': () => page([me]),
        'GET /api/v1/roles': () => page([nurseRole]),
        'POST /api/v1/users': (call) => json(201, user({ username: (call.body as { username: string }).username })),
      },
    })
    await wrapper.find('[data-test="new-user"]').trigger('click')
    await settle()
    input('[data-test="user-dialog"] input[name="username"]', 'nurse_zhang')
    input('[data-test="user-dialog"] input[name="display-name"]', '张护士')
    input('[data-test="user-dialog"] input[name="new-password"]', 'Harbour-Lights-42')
    input('[data-test="user-dialog"] input[name="confirm-password"]', 'Harbour-Lights-4')
    await settle()
    expect(document.querySelector('[data-test="password-strength"]')?.textContent).toContain('强度：强')
    button('创建').click()
    await eventually(() => expect(document.querySelector('[data-test="form-item-confirm"] .el-form-item__error')?.textContent).toContain('两次输入的密码不一致'))
    expect(server.calls.some((c) => c.method === 'POST')).toBe(false)

    input('[data-test="user-dialog"] input[name="confirm-password"]', 'Harbour-Lights-42')
    button('创建').click()
    await settle()
    const post = server.calls.find((c) => c.method === 'POST')
    expect(post?.body).toEqual({ username: 'nurse_zhang', password: 'Harbour-Lights-42', display_name: '张护士', roles: [], departments: [] })
    await eventually(() => expect(document.body.textContent).toContain('已创建用户 nurse_zhang'))
    // The password is gone from the page once the dialog closed.
    expect([...document.querySelectorAll('input')].some((i) => i.value === 'Harbour-Lights-42')).toBe(false)
  })

  it('puts the server’s field errors under their fields, in Chinese', async () => {
    const { wrapper } = await mountSignedIn({
      me: admin,
      entities: [patient],
      route: '/admin/users',
      handlers: {
        'GET /api/v1/users': () => page([me]),
        'GET /api/v1/roles': () => page([]),
        'POST /api/v1/users': () =>
          json(409, { error: { code: 'conflict', message: '用户名已存在：li / The user name li is taken', details: [{ field: 'username', code: 'taken', message: '用户名已存在：li / The user name li is taken' }] } }),
      },
    })
    await wrapper.find('[data-test="new-user"]').trigger('click')
    await settle()
    input('[data-test="user-dialog"] input[name="username"]', 'li')
    input('[data-test="user-dialog"] input[name="new-password"]', 'long-enough-1')
    input('[data-test="user-dialog"] input[name="confirm-password"]', 'long-enough-1')
    button('创建').click()
    await eventually(() => expect(document.querySelector('[data-test="form-item-username"] .el-form-item__error')?.textContent?.trim()).toBe('用户名已存在：li'))
  })

  it('keeps a user manager off administrators and off the administrator flag, saying why', async () => {
    const manager: Me = { ...nurse, rights: ['users'] }
    const { wrapper, server } = await mountSignedIn({
      me: manager,
      entities: [patient],
      route: '/admin/users',
      handlers: { 'GET /api/v1/users': () => page([me, li]) },
    })
    // Without the roles right the roles are not asked for.
    expect(server.calls.some((c) => c.path === '/api/v1/roles')).toBe(false)
    const adminRow = wrapper.find('[data-test="user-actions-admin"]')
    expect(adminRow.find('[data-test="edit-user"]').attributes('disabled')).toBeDefined()
    expect(adminRow.find('[data-test="reset-password"]').attributes('disabled')).toBeDefined()
    const liRow = wrapper.find('[data-test="user-actions-nurse_li"]')
    expect(liRow.find('[data-test="edit-user"]').attributes('disabled')).toBeUndefined()
    await liRow.find('[data-test="edit-user"]').trigger('click')
    await settle()
    expect(document.querySelector('[data-test="form-item-admin"]')).toBeNull()
    expect(document.querySelector('[data-test="user-dialog"]')?.textContent).toContain('您没有“角色管理”权限，只能分配您自己持有的角色')
  })

  it('disables a user after asking, on the version read; a stale version reloads and says so', async () => {
    let version = 2
    const { wrapper, server } = await mountSignedIn({
      me: admin,
      entities: [patient],
      route: '/admin/users',
      handlers: {
        'GET /api/v1/users': () => page([me, user({ version })]),
        'GET /api/v1/roles': () => page([nurseRole]),
        'PATCH /api/v1/users/0190c7d2-0000-7000-8000-0000000000b1': () => {
          version = 3
          return json(409, { error: { code: 'version_conflict', message: '记录已被他人修改（当前版本 3），请刷新后重试', details: [] } })
        },
      },
    })
    await wrapper.find('[data-test="user-actions-nurse_li"] [data-test="more-actions"]').trigger('click')
    await settle()
    document.querySelector<HTMLElement>('[data-test="disable-user"][data-user="nurse_li"]')!.click()
    await eventually(() => expect(document.querySelector('.el-message-box')?.textContent).toContain('停用 李护士？'))
    button('停用').click()
    await eventually(() => expect(server.calls.some((c) => c.method === 'PATCH')).toBe(true))
    expect(server.calls.find((c) => c.method === 'PATCH')?.body).toEqual({ disabled: true, version: 2 })
    await eventually(() => expect(document.body.textContent).toContain('该用户刚被他人修改，已载入最新内容'))
    expect(server.calls.filter((c) => c.path === '/api/v1/users')).toHaveLength(2)
  })

  it('shows a refusal of the server in the user’s language', async () => {
    const { wrapper } = await mountSignedIn({
      me: admin,
      entities: [patient],
      route: '/admin/users',
      handlers: {
        'GET /api/v1/users': () => page([me, li]),
        'GET /api/v1/roles': () => page([nurseRole]),
        'DELETE /api/v1/users/0190c7d2-0000-7000-8000-0000000000b1': () =>
          json(409, { error: { code: 'conflict', message: '至少须保留一名启用的管理员 / The last active administrator cannot be demoted, disabled or deleted', details: [] } }),
      },
    })
    await wrapper.find('[data-test="user-actions-nurse_li"] [data-test="more-actions"]').trigger('click')
    await settle()
    document.querySelector<HTMLElement>('[data-test="delete-user"][data-user="nurse_li"]')!.click()
    await eventually(() => expect(document.querySelector('.el-message-box')).not.toBeNull())
    button('删除').click()
    await eventually(() => expect(document.querySelector('.el-message--error')?.textContent).toContain('至少须保留一名启用的管理员'))
    expect(document.querySelector('.el-message--error')?.textContent).not.toContain('The last')
  })

  it('says the page needs the users right, without asking the server', async () => {
    const { wrapper, server } = await mountSignedIn({ me: nurse, entities: [patient], route: '/admin/users' })
    expect(wrapper.find('[data-test="forbidden"]').text()).toContain('此页面需要“用户管理”权限')
    expect(server.calls).toEqual([])
  })
})
