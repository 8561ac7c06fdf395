// A member of staff on a ward PC: logs in, opens the patient list from the 数据 menu, enters a
// patient through the form (and sees the error under a bad ID number first), finds the patient
// in the list, deletes and restores it, has the session run out and comes back to the same page,
// and logs out. Each step leaves a screenshot under target/ui-screenshots/; any console error,
// uncaught exception or unexpected failed request fails the step.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WatchedBrowser } from './support/browser'
import { ADMIN, apiSession, startServer, type RunningServer } from './support/server'

const patient = {
  name: 'patient',
  label: { zh: '患者', en: 'Patient' },
  fields: [
    { name: 'name', type: 'text', label: { zh: '姓名', en: 'Name' }, required: true, max_length: 50 },
    { name: 'id_number', type: 'id_card', label: { zh: '身份证号', en: 'ID number' }, unique: true },
    { name: 'phone', type: 'phone', label: { zh: '手机号', en: 'Mobile' } },
    {
      name: 'dept',
      type: 'select',
      label: { zh: '科室', en: 'Department' },
      options: [
        { value: 'cardiology', label: { zh: '心内科', en: 'Cardiology' }, color: '#d9480f' },
        { value: 'orthopedics', label: { zh: '骨科', en: 'Orthopedics' } },
      ],
    },
    { name: 'birth_date', type: 'date', label: { zh: '出生日期', en: 'Birth date' } },
    { name: 'total_spent', type: 'money', label: { zh: '累计消费', en: 'Total spent' }, min: 0, default: 0 },
    { name: 'vip', type: 'boolean', label: { zh: 'VIP', en: 'VIP' } },
    { name: 'tags', type: 'tags', label: { zh: '标签', en: 'Tags' } },
    { name: 'note', type: 'textarea', label: { zh: '备注', en: 'Notes' }, max_length: 500 },
  ],
  layout: [
    { section: { zh: '基本信息', en: 'Basics' }, columns: 2, fields: ['name', 'id_number', 'phone', 'birth_date', 'dept'] },
    { section: { zh: '会员', en: 'Membership' }, columns: 2, fields: ['total_spent', 'vip', 'tags', 'note'] },
  ],
}

const WHO_AM_I = { method: 'GET', path: '/api/v1/me', status: 401 }

describe('records in the browser', () => {
  let server: RunningServer
  let b: WatchedBrowser

  beforeAll(async () => {
    server = await startServer()
    const api = await apiSession(server.base)
    const created = await api('POST', '/api/v1/entities', patient)
    if (created.status !== 201) throw new Error(`patient entity: ${created.status} ${await created.text()}`)
    b = await WatchedBrowser.launch(server.base)
  })

  afterAll(async () => {
    await b?.close()
    await server?.stop()
  })

  it('logs in and lands on the workbench', async () => {
    const { page } = b
    b.expect(WHO_AM_I)
    await page.goto('/')
    await page.waitForURL(/\/login/)
    await expect(page.getByRole('heading', { name: '康道' })).toBeTruthy()
    await page.locator('input[name="username"]').waitFor()
    await b.screenshot('01-login')
    await page.locator('input[name="username"]').fill(ADMIN.username)
    await page.locator('input[name="password"]').fill(ADMIN.password)
    await page.getByRole('button', { name: '登录' }).click()
    await page.waitForURL((url) => url.pathname === '/')
    await page.getByRole('heading', { name: '工作台' }).waitFor()
    await b.screenshot('02-workbench')
    expect(await page.locator('.kd-topbar__name').textContent()).toContain('admin')
    expect(b.takeProblems()).toEqual([])
  })

  it('opens the patient list from the 数据 menu and sees what to do next', async () => {
    const { page } = b
    await page.locator('.el-sub-menu__title', { hasText: '数据' }).hover()
    await page.locator('.el-menu--popup .el-menu-item', { hasText: '患者' }).click()
    await page.waitForURL(/\/records\/patient$/)
    const empty = page.locator('[data-test="empty-state"]')
    await empty.waitFor()
    expect(await empty.textContent()).toContain('还没有患者 — 新建 或 导入')
    await b.screenshot('03-empty-list')
    expect(b.takeProblems()).toEqual([])
  })

  it('shows the error under a bad ID number, then creates the patient', async () => {
    const { page } = b
    await page.locator('[data-test="new-record"]').click()
    await page.waitForURL(/\/records\/patient\/new$/)
    await page.getByRole('heading', { name: '新建患者' }).waitFor()

    await page.getByLabel('姓名').fill('张三')
    await page.getByLabel('身份证号').fill('11010519491231002Y')
    await page.getByLabel('手机号').click()
    const idError = page.locator('[data-test="form-item-id_number"] .el-form-item__error')
    await idError.waitFor()
    expect(await idError.textContent()).toContain('身份证号 应为 18 位身份证号')
    await b.screenshot('04-form-bad-id-number')

    // Saving with the error still there stays on the page and says why.
    await page.locator('[data-test="save"]').click()
    await page.locator('[data-test="form-errors"]').waitFor()
    expect(page.url()).toMatch(/\/records\/patient\/new$/)

    await page.getByLabel('身份证号').fill('11010519491231002X')
    await page.getByLabel('手机号').fill('13812345678')
    await page.getByLabel('姓名').click()
    await idError.waitFor({ state: 'detached' })
    await page.getByLabel('科室').click()
    await page.locator('.el-select-dropdown__item', { hasText: '心内科' }).click()
    await page.getByLabel('出生日期').fill('1949-12-31')
    await page.getByLabel('出生日期').press('Enter')
    await page.getByLabel('累计消费').fill('1234.5')
    await page.getByLabel('备注').fill('高血压随访')
    await b.screenshot('05-form-filled')
    await page.locator('[data-test="save"]').click()

    await page.waitForURL(/\/records\/patient$/)
    await page.locator('[data-test="records-table"]').waitFor()
    expect(b.takeProblems()).toEqual([])
  })

  it('shows the patient in the list, masked and formatted', async () => {
    const { page } = b
    const table = page.locator('[data-test="records-table"]')
    await table.getByText('张三').waitFor()
    const row = table.locator('.el-table__body-wrapper tr', { hasText: '张三' })
    const text = (await row.textContent()) ?? ''
    expect(text).toContain('110105********002X')
    expect(text).toContain('138****5678')
    expect(text).not.toContain('13812345678')
    expect(text).toContain('心内科')
    expect(text).toContain('1949-12-31')
    expect(text).toContain('¥1,234.50')
    expect(await page.locator('[data-test="total"]').textContent()).toContain('共 1 条')
    await b.screenshot('06-list')
    // The same page on a 27-inch screen.
    await page.setViewportSize({ width: 2560, height: 1440 })
    await b.screenshot('06-list-27-inch')
    await page.setViewportSize({ width: 1366, height: 768 })

    // The administrator may see the full ID number: one click, one audited read.
    await row.locator('td', { hasText: '110105********002X' }).getByRole('button', { name: '显示' }).click()
    await row.getByText('11010519491231002X').waitFor()

    // The notes are not a column by default; the column chooser adds them.
    await page.locator('[data-test="column-chooser"]').click()
    await page.locator('.el-popover .el-checkbox', { hasText: '备注' }).click()
    await table.locator('th', { hasText: '备注' }).waitFor()
    await table.getByText('高血压随访').waitFor()
    await page.locator('[data-test="column-chooser"]').click()
    expect(b.takeProblems()).toEqual([])
  })

  it('deletes the patient with an undo, and restores it from the recycle bin', async () => {
    const { page } = b
    const table = page.locator('[data-test="records-table"]')
    const selectPatient = () => table.locator('.el-table__body-wrapper tr', { hasText: '张三' }).locator('.el-checkbox').click()
    const deleteSelected = async () => {
      await page.locator('[data-test="bulk-delete"]').click()
      await page.locator('.el-message-box').getByRole('button', { name: '删除' }).click()
      await page.locator('[data-test="empty-state"]').waitFor()
    }

    await selectPatient()
    await deleteSelected()
    await page.locator('.el-message').getByRole('button', { name: '撤销' }).click()
    await table.getByText('张三').waitFor()

    await selectPatient()
    await deleteSelected()
    await page.locator('[data-test="toggle-bin"]').click()
    await page.getByRole('heading', { name: '患者 · 回收站' }).waitFor()
    await table.getByText('张三').waitFor()
    await b.screenshot('07-recycle-bin')
    await selectPatient()
    await page.locator('[data-test="bulk-restore"]').click()
    await page.locator('[data-test="empty-state"]', { hasText: '回收站是空的' }).waitFor()
    await page.locator('[data-test="toggle-bin"]').click()
    await table.getByText('张三').waitFor()
    expect(b.takeProblems()).toEqual([])
  })

  it('sends an expired session to log in, then back to the same list', async () => {
    const { page, context } = b
    await context.clearCookies()
    b.expect({ method: 'GET', path: '/api/v1/records/patient', status: 401 })
    await page.locator('input[data-test="search"]').fill('张')
    await page.locator('input[data-test="search"]').press('Enter')
    await page.waitForURL(/\/login\?redirect=/)
    await page.getByText('登录已过期').waitFor()
    await b.screenshot('08-session-expired')
    await page.locator('input[name="username"]').fill(ADMIN.username)
    await page.locator('input[name="password"]').fill(ADMIN.password)
    await page.getByRole('button', { name: '登录' }).click()
    await page.waitForURL((url) => url.pathname === '/records/patient' && url.searchParams.get('q') === '张')
    await page.locator('[data-test="records-table"]').getByText('张三').waitFor()
    expect(b.takeProblems()).toEqual([])
  })

  it('switches to English and back, and remembers the choice', async () => {
    const { page } = b
    await page.locator('[data-test="user-menu"]').click()
    await page.locator('[data-test="language-en"]').click()
    await page.getByRole('heading', { name: 'Patient' }).waitFor()
    expect(await page.locator('.kd-topbar__menu').textContent()).toContain('Workbench')
    expect(await page.locator('[data-test="total"]').textContent()).toContain('1 in all')
    await page.reload()
    await page.getByRole('heading', { name: 'Patient' }).waitFor()
    expect(await page.locator('html').getAttribute('lang')).toBe('en')
    await b.screenshot('09-list-in-english')
    await page.locator('[data-test="user-menu"]').click()
    await page.locator('[data-test="language-zh-CN"]').click()
    await page.getByRole('heading', { name: '患者' }).waitFor()
    expect(b.takeProblems()).toEqual([])
  })

  it('logs out', async () => {
    const { page } = b
    b.expect(WHO_AM_I)
    await page.locator('[data-test="user-menu"]').click()
    await page.locator('[data-test="logout"]').click()
    await page.waitForURL(/\/login/)
    await page.locator('input[name="username"]').waitFor()
    await b.screenshot('10-logged-out')
    // The list now needs a session again.
    await page.goto('/records/patient')
    await page.waitForURL((url) => url.pathname === '/login' && url.searchParams.get('redirect') === '/records/patient')
    expect(b.takeProblems()).toEqual([])
  })

  it('loads at most 1 MB of compressed JavaScript on the way', () => {
    const total = [...b.scriptBytes.values()].reduce((a, n) => a + n, 0)
    expect(b.scriptBytes.size).toBeGreaterThan(0)
    expect(total).toBeLessThanOrEqual(1024 * 1024)
  })
})
