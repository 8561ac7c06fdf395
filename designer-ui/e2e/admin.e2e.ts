// An administrator sets up a ward: creates the role 护士 through the permission matrix (read and
// update on patients, the diagnosis hidden, the phone masked), a user nurse_li holding it, and an
// API token seen once. Then nurse_li logs in and finds the patients as the role says: no 诊断
// column, no 诊断 in the form, the phone masked, and no 管理 menu. Each step leaves a screenshot
// under target/ui-screenshots/ (admin-*.png); any console error, uncaught exception or
// unexpected failed request fails the step.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WatchedBrowser } from './support/browser'
import { ADMIN, apiSession, startServer, type RunningServer } from './support/server'

const patient = {
  name: 'patient',
  label: { zh: '患者', en: 'Patient' },
  fields: [
    { name: 'name', type: 'text', label: { zh: '姓名', en: 'Name' }, required: true, max_length: 50 },
    { name: 'id_number', type: 'id_card', label: { zh: '身份证号', en: 'ID number' }, unique: true, sensitive: true },
    { name: 'phone', type: 'phone', label: { zh: '手机号', en: 'Mobile' } },
    {
      name: 'dept',
      type: 'select',
      label: { zh: '科室', en: 'Department' },
      options: [
        { value: 'cardiology', label: { zh: '心内科', en: 'Cardiology' } },
        { value: 'orthopedics', label: { zh: '骨科', en: 'Orthopedics' } },
      ],
    },
    { name: 'diagnosis', type: 'textarea', label: { zh: '诊断', en: 'Diagnosis' }, max_length: 500 },
    { name: 'follow_up_on', type: 'date', label: { zh: '复诊日期', en: 'Follow-up on' } },
  ],
  layout: [
    { section: { zh: '基本信息', en: 'Basics' }, columns: 2, fields: ['name', 'id_number', 'phone', 'dept'] },
    { section: { zh: '诊疗', en: 'Care' }, columns: 2, fields: ['diagnosis', 'follow_up_on'] },
  ],
}

const patients = [
  { name: '张三', id_number: '11010519491231002X', phone: '13812345678', dept: 'cardiology', diagnosis: '高血压 2 级', follow_up_on: '2026-12-20' },
  { name: '李四', id_number: '110105196001010017', phone: '13900001111', dept: 'orthopedics', diagnosis: '腰椎间盘突出', follow_up_on: '2026-12-28' },
]

const NURSE = { username: 'nurse_li', displayName: '李护士', password: 'Ward-7-Night-Shift', resetTo: 'Cardio-Ward-2026!' }
const WHO_AM_I = { method: 'GET', path: '/api/v1/me', status: 401 }

describe('administration in the browser', () => {
  let server: RunningServer
  let b: WatchedBrowser
  let tokenValue = ''

  beforeAll(async () => {
    server = await startServer()
    const api = await apiSession(server.base)
    const created = await api('POST', '/api/v1/entities', patient)
    if (created.status !== 201) throw new Error(`patient entity: ${created.status} ${await created.text()}`)
    for (const data of patients) {
      const record = await api('POST', '/api/v1/records/patient', { data })
      if (record.status !== 201) throw new Error(`patient record: ${record.status} ${await record.text()}`)
    }
    b = await WatchedBrowser.launch(server.base)
  })

  afterAll(async () => {
    await b?.close()
    await server?.stop()
  })

  /** A screenshot once the mouse is out of the way and transitions (dialogs, pop-ups) are over. */
  async function shot(name: string): Promise<void> {
    const { page } = b
    await page.mouse.move(1, 760)
    await page.waitForFunction(() =>
      document.getAnimations().every((a) => a.playState !== 'running' || a.effect?.getComputedTiming().endTime === Infinity),
    )
    await b.screenshot(name)
  }

  async function logIn(username: string, password: string): Promise<void> {
    const { page } = b
    await page.locator('input[name="username"]').fill(username)
    await page.locator('input[name="password"]').fill(password)
    await page.getByRole('button', { name: '登录' }).click()
    await page.waitForURL((url) => url.pathname === '/')
    await page.getByRole('heading', { name: '工作台' }).waitFor()
  }

  async function openAdmin(item: '用户' | '角色'): Promise<void> {
    const { page } = b
    await page.locator('.el-sub-menu__title', { hasText: '管理' }).hover()
    await page.locator('.el-menu--popup .el-menu-item', { hasText: item }).click()
  }

  it('logs the administrator in and opens 管理 → 角色', async () => {
    const { page } = b
    b.expect(WHO_AM_I)
    await page.goto('/')
    await page.waitForURL(/\/login/)
    await logIn(ADMIN.username, ADMIN.password)
    await openAdmin('角色')
    await page.waitForURL(/\/admin\/roles$/)
    await page.locator('[data-test="roles-empty"]').waitFor()
    await shot('admin-01-roles-empty')
    expect(b.takeProblems()).toEqual([])
  })

  it('creates the role 护士 through the matrix: read and update, 诊断 hidden, 手机号 masked', async () => {
    const { page } = b
    await page.locator('[data-test="new-role"]').click()
    await page.getByRole('heading', { name: '新建角色' }).waitFor()
    await page.locator('input[name="role-name"]').fill('nurse')
    await page.locator('input[name="label-zh"]').fill('护士')
    await page.locator('input[name="label-en"]').fill('Nurse')
    const row = page.locator('[data-test="matrix-row-patient"]')
    await row.locator('[data-test="action-read"]').click()
    await row.locator('[data-test="action-update"]').click()
    await row.locator('[data-test="toggle-fields"]').click()
    const fields = page.locator('[data-test="field-rules-patient"]')
    await fields.waitFor()
    // Before any rule: the name is editable by default, the phone masked (a sensitive field).
    expect(await fields.locator('[data-test="field-rule-name"] [data-test="rule-default"]').textContent()).toBe('可编辑')
    expect(await fields.locator('[data-test="field-rule-phone"] [data-test="rule-default"]').textContent()).toBe('脱敏（可查看原文）')
    await fields.locator('[data-test="field-rule-diagnosis"] [data-test="rule-hidden"]').click()
    await fields.locator('[data-test="field-rule-phone"] [data-test="rule-masked"]').click()
    await row.getByText('1 隐藏 · 1 脱敏').waitFor()
    await shot('admin-02-role-matrix')

    await page.locator('[data-test="save-role"]').click()
    await page.waitForURL(/\/admin\/roles\/nurse$/)
    await page.getByRole('heading', { name: '角色：护士' }).waitFor()
    await page.locator('.el-message--success', { hasText: '已创建角色 护士' }).waitFor()
    await shot('admin-03-role-saved')

    await page.getByRole('button', { name: '返回' }).click()
    await page.waitForURL(/\/admin\/roles$/)
    const listed = page.locator('[data-test="roles-table"] .el-table__body-wrapper tr', { hasText: '护士' })
    expect(await listed.textContent()).toContain('患者：查看、修改 · 2 个字段规则')
    await shot('admin-04-roles-list')
    expect(b.takeProblems()).toEqual([])
  })

  it('creates nurse_li with the role 护士', async () => {
    const { page } = b
    await openAdmin('用户')
    await page.waitForURL(/\/admin\/users$/)
    await page.locator('[data-test="users-table"]').getByText('admin').waitFor()
    await page.locator('[data-test="new-user"]').click()
    const dialog = page.locator('[data-test="user-dialog"]')
    await dialog.waitFor()
    await dialog.locator('input[name="username"]').fill(NURSE.username)
    await dialog.locator('input[name="display-name"]').fill(NURSE.displayName)
    await dialog.locator('input[name="new-password"]').fill(NURSE.password)
    await dialog.locator('input[name="confirm-password"]').fill(NURSE.password)
    await dialog.locator('[data-test="roles-select"]').click()
    await page.locator('.el-select-dropdown__item', { hasText: '护士' }).click()
    await dialog.locator('.el-dialog__title').click()
    expect(await dialog.locator('[data-test="password-strength"]').textContent()).toContain('强度：强')
    await shot('admin-05-new-user')
    await dialog.locator('[data-test="user-dialog-save"]').click()
    await page.locator('.el-message--success', { hasText: '已创建用户 nurse_li' }).waitFor()
    const row = page.locator('[data-test="users-table"] .el-table__body-wrapper tr', { hasText: NURSE.username })
    await row.waitFor()
    const text = (await row.textContent()) ?? ''
    expect(text).toContain('李护士')
    expect(text).toContain('护士')
    expect(text).toContain('启用')
    // No password anywhere on the page once the dialog is gone.
    expect(await page.content()).not.toContain(NURSE.password)
    await shot('admin-06-users')
    expect(b.takeProblems()).toEqual([])
  })

  it('keeps the administrator from deleting himself, and resets nurse_li’s password', async () => {
    const { page } = b
    await page.locator('[data-test="user-actions-admin"] [data-test="more-actions"]').click()
    const deleteSelf = page.locator('[data-test="delete-user"][data-user="admin"]')
    await deleteSelf.waitFor()
    expect(await deleteSelf.getAttribute('aria-disabled')).toBe('true')
    expect(await deleteSelf.textContent()).toContain('不能删除自己')
    expect(await page.locator('[data-test="disable-user"][data-user="admin"]').textContent()).toContain('不能停用自己')
    await shot('admin-07-own-row-refused')
    await page.getByRole('heading', { name: '用户' }).click()
    await deleteSelf.waitFor({ state: 'hidden' })

    await page.locator('[data-test="user-actions-nurse_li"] [data-test="reset-password"]').click()
    const dialog = page.locator('[data-test="password-dialog"]')
    await dialog.waitFor()
    await dialog.locator('input[name="new-password"]').fill(NURSE.resetTo)
    await dialog.locator('input[name="confirm-password"]').fill(NURSE.resetTo.slice(0, -1))
    await dialog.locator('[data-test="password-dialog-submit"]').click()
    await dialog.locator('[data-test="form-item-confirm"] .el-form-item__error', { hasText: '两次输入的密码不一致' }).waitFor()
    await dialog.locator('input[name="confirm-password"]').fill(NURSE.resetTo)
    await shot('admin-08-reset-password')
    await dialog.locator('[data-test="password-dialog-submit"]').click()
    await page.locator('.el-message--success', { hasText: '已重置 李护士 的密码' }).waitFor()
    await dialog.waitFor({ state: 'hidden' })
    expect(await page.content()).not.toContain(NURSE.resetTo)
    expect(b.takeProblems()).toEqual([])
  })

  it('creates an API token and sees its value once', async () => {
    const { page } = b
    await page.locator('[data-test="user-menu"]').click()
    await page.locator('[data-test="account-account:tokens"]').click()
    await page.waitForURL(/\/account\/tokens$/)
    await page.locator('[data-test="tokens-empty"]').waitFor()
    await page.locator('[data-test="new-token"]').click()
    const form = page.locator('[data-test="token-dialog"]')
    await form.locator('input[name="token-name"]').fill('HIS 患者同步')
    await shot('admin-09-new-token')
    await form.locator('[data-test="token-create"]').click()
    const shown = page.locator('[data-test="token-value"]')
    await shown.waitFor()
    tokenValue = await shown.inputValue()
    expect(tokenValue).toMatch(/^kd_/)
    await page.locator('[data-test="token-copy"]').click()
    await page.locator('.el-message', { hasText: /已复制到剪贴板|无法自动复制/ }).waitFor()
    await shot('admin-10-token-once')

    // The token works: an integration is who the administrator is.
    const me = await fetch(`${server.base}/api/v1/me`, { headers: { authorization: `Bearer ${tokenValue}` } })
    expect(me.status).toBe(200)
    expect(((await me.json()) as { user: { username: string } }).user.username).toBe(ADMIN.username)

    await page.locator('[data-test="token-created-done"]').click()
    await page.locator('[data-test="token-created"]').waitFor({ state: 'hidden' })
    expect(await page.content()).not.toContain(tokenValue)
    const row = page.locator('[data-test="tokens-table"] .el-table__body-wrapper tr', { hasText: 'HIS 患者同步' })
    expect(await row.textContent()).toContain('有效')
    await shot('admin-11-tokens')
    expect(b.takeProblems()).toEqual([])
  })

  it('logs out and logs nurse_li in, who has no 管理', async () => {
    const { page } = b
    b.expect(WHO_AM_I)
    await page.locator('[data-test="user-menu"]').click()
    await page.locator('[data-test="logout"]').click()
    await page.waitForURL(/\/login/)
    // The password the administrator reset, not the first one.
    await logIn(NURSE.username, NURSE.resetTo)
    expect(await page.locator('.kd-topbar__name').textContent()).toContain('李护士')
    const menu = (await page.locator('.kd-topbar__menu').textContent()) ?? ''
    expect(menu).toContain('数据')
    expect(menu).not.toContain('管理')
    await shot('admin-12-nurse-workbench')
    expect(b.takeProblems()).toEqual([])
  })

  it('shows nurse_li the patients without 诊断 and with the phone masked', async () => {
    const { page } = b
    await page.locator('.el-sub-menu__title', { hasText: '数据' }).hover()
    await page.locator('.el-menu--popup .el-menu-item', { hasText: '患者' }).click()
    await page.waitForURL(/\/records\/patient$/)
    const table = page.locator('[data-test="records-table"]')
    await table.getByText('张三').waitFor()
    const headers = (await table.locator('thead').textContent()) ?? ''
    expect(headers).toContain('手机号')
    expect(headers).not.toContain('诊断')
    const row = table.locator('.el-table__body-wrapper tr', { hasText: '张三' })
    const text = (await row.textContent()) ?? ''
    expect(text).toContain('138****5678')
    expect(text).not.toContain('13812345678')
    expect(text).not.toContain('高血压')
    // Masked by the role: no 显示 on the phone. The ID number is only sensitive: 显示 stays.
    expect(await row.locator('td', { hasText: '138****5678' }).getByRole('button', { name: '显示' }).count()).toBe(0)
    expect(await row.locator('td', { hasText: '110105********002X' }).getByRole('button', { name: '显示' }).count()).toBe(1)
    // Nor can the column chooser bring 诊断 back.
    await page.locator('[data-test="column-chooser"]').click()
    const chooser = page.locator('.el-popover').filter({ hasText: '姓名' })
    await chooser.waitFor()
    expect(await chooser.textContent()).not.toContain('诊断')
    await page.locator('[data-test="column-chooser"]').click()
    await shot('admin-13-nurse-patients')
    expect(b.takeProblems()).toEqual([])
  })

  it('shows nurse_li a patient’s form without 诊断', async () => {
    const { page } = b
    await page.locator('[data-test="records-table"]').getByRole('link', { name: '张三', exact: true }).click()
    await page.waitForURL(/\/records\/patient\/[0-9a-f-]+$/)
    await page.getByRole('heading', { name: '张三' }).waitFor()
    await page.locator('[data-test="form-item-name"]').waitFor()
    expect(await page.locator('[data-test="form-item-diagnosis"]').count()).toBe(0)
    const form = (await page.locator('.kd-record-page').textContent()) ?? ''
    expect(form).not.toContain('诊断')
    expect(form).not.toContain('高血压')
    // The phone is masked for her: shown, not editable, never in full.
    const phone = page.locator('[data-test="form-item-phone"]')
    expect(await phone.textContent()).toContain('138****5678')
    expect(await phone.locator('input').count()).toBe(0)
    expect(await phone.getByRole('button', { name: '显示' }).count()).toBe(0)
    await shot('admin-14-nurse-form')
    expect(b.takeProblems()).toEqual([])
  })

  it('tells nurse_li that 管理 pages need rights, without asking the server', async () => {
    const { page } = b
    await page.goto('/admin/users')
    await page.locator('[data-test="forbidden"]').waitFor()
    expect(await page.locator('[data-test="forbidden"]').textContent()).toContain('此页面需要“用户管理”权限')
    await shot('admin-15-nurse-forbidden')
    expect(b.takeProblems()).toEqual([])
  })

  it('loads at most 1 MB of compressed JavaScript on the way', () => {
    const total = [...b.scriptBytes.values()].reduce((a, n) => a + n, 0)
    expect(b.scriptBytes.size).toBeGreaterThan(0)
    expect(total).toBeLessThanOrEqual(1024 * 1024)
  })
})
