// The axe-core pass: the log-in page, a record list and a record form have no serious or
// critical accessibility violation (WCAG 2.1 A and AA rules), in Chinese as staff see them.
// Each page is also worked through with the keyboard alone where staff fill it in.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { seriousViolations } from './support/axe'
import { WatchedBrowser } from './support/browser'
import { ADMIN, apiSession, startServer, type RunningServer } from './support/server'

const patient = {
  name: 'patient',
  label: { zh: '患者', en: 'Patient' },
  fields: [
    { name: 'name', type: 'text', label: { zh: '姓名', en: 'Name' }, required: true, max_length: 50 },
    { name: 'id_number', type: 'id_card', label: { zh: '身份证号', en: 'ID number' }, sensitive: true },
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
    { name: 'birth_date', type: 'date', label: { zh: '出生日期', en: 'Birth date' } },
    { name: 'vip', type: 'boolean', label: { zh: 'VIP', en: 'VIP' } },
    { name: 'note', type: 'textarea', label: { zh: '备注', en: 'Notes' } },
  ],
}

const WHO_AM_I = { method: 'GET', path: '/api/v1/me', status: 401 }

describe('accessibility', () => {
  let server: RunningServer
  let b: WatchedBrowser

  beforeAll(async () => {
    server = await startServer()
    const api = await apiSession(server.base)
    const created = await api('POST', '/api/v1/entities', patient)
    if (created.status !== 201) throw new Error(`patient entity: ${created.status} ${await created.text()}`)
    for (const name of ['张三', '李四']) {
      const record = await api('POST', '/api/v1/records/patient', { data: { name, dept: 'cardiology' } })
      if (record.status !== 201) throw new Error(`patient: ${record.status} ${await record.text()}`)
    }
    b = await WatchedBrowser.launch(server.base)
  })

  afterAll(async () => {
    await b?.close()
    await server?.stop()
  })

  it('the log-in page passes, and logs in with the keyboard alone', async () => {
    const { page } = b
    b.expect(WHO_AM_I)
    await page.goto('/')
    await page.locator('input[name="username"]').waitFor()
    expect(await seriousViolations(b)).toEqual([])
    await page.locator('input[name="username"]').focus()
    await page.keyboard.type(ADMIN.username)
    await page.keyboard.press('Tab')
    await page.keyboard.type(ADMIN.password)
    await page.keyboard.press('Enter')
    await page.waitForURL((url) => url.pathname === '/')
    expect(b.takeProblems()).toEqual([])
  })

  it('the record list passes', async () => {
    const { page } = b
    await page.goto('/records/patient')
    await page.locator('.el-table__body tr').first().waitFor()
    await b.screenshot('a11y-list')
    expect(await seriousViolations(b)).toEqual([])
    expect(b.takeProblems()).toEqual([])
  })

  it('the record form passes, and is filled in and saved with the keyboard alone', async () => {
    const { page } = b
    await page.goto('/records/patient/new')
    await page.getByLabel('姓名').waitFor()
    expect(await seriousViolations(b)).toEqual([])
    await page.getByLabel('姓名').focus()
    await page.keyboard.type('王五')
    await page.keyboard.press('Tab')
    await page.keyboard.type('110105199001011232')
    await page.keyboard.press('Tab')
    await page.keyboard.type('13800138000')
    // 科室: open the options with Enter, move down to 心内科, pick it.
    await page.keyboard.press('Tab')
    await page.keyboard.press('Enter')
    await page.keyboard.press('ArrowDown')
    await page.keyboard.press('Enter')
    // 出生日期: typed, confirmed with Enter, the calendar closed with Escape.
    await page.keyboard.press('Tab')
    await page.keyboard.type('1990-01-01')
    await page.keyboard.press('Enter')
    await page.keyboard.press('Escape')
    // Tab on to the save button (past the other fields) and press it: no mouse needed.
    let onSave = false
    for (let step = 0; step < 60 && !onSave; step++) {
      await page.keyboard.press('Tab')
      onSave = await page.evaluate(() => document.activeElement?.getAttribute('data-test') === 'save')
    }
    expect(onSave).toBe(true)
    await b.screenshot('a11y-form-keyboard')
    await page.keyboard.press('Enter')
    await page.waitForURL(/\/records\/patient$/)
    const row = page.locator('.el-table__body tr', { hasText: '王五' })
    await row.waitFor()
    expect(await row.textContent()).toContain('心内科')
    expect(await row.textContent()).toContain('1990-01-01')
    await b.screenshot('a11y-form-saved')
    expect(await seriousViolations(b)).toEqual([])
    expect(b.takeProblems()).toEqual([])
  })
})
