// A ward's records officer on a ward PC: imports 100 patients from a CSV with one bad row (the
// dry run names its line, the import skips it), opens a patient's 360° view with two visits
// entered through the API, prints the patient, saves a list view and applies it after a reload.
// Each step leaves a screenshot under target/ui-screenshots/; any console error, uncaught
// exception or unexpected failed request fails the step.
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { seriousViolations } from './support/axe'
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
        { value: 'orthopedics', label: { zh: '骨科', en: 'Orthopedics' }, color: '#1c7ed6' },
      ],
    },
    { name: 'birth_date', type: 'date', label: { zh: '出生日期', en: 'Birth date' } },
    {
      name: 'tier',
      type: 'select',
      label: { zh: '会员等级', en: 'Tier' },
      options: [
        { value: 'normal', label: { zh: '普通', en: 'Normal' } },
        { value: 'VIP', label: { zh: 'VIP', en: 'VIP' }, color: '#e8590c' },
      ],
      default: 'normal',
    },
    { name: 'total_spent', type: 'money', label: { zh: '累计消费', en: 'Total spent' }, min: 0, default: 0 },
    { name: 'tags', type: 'tags', label: { zh: '标签', en: 'Tags' } },
    { name: 'note', type: 'textarea', label: { zh: '备注', en: 'Notes' }, max_length: 500 },
  ],
  layout: [
    { section: { zh: '基本信息', en: 'Basics' }, columns: 2, fields: ['name', 'id_number', 'phone', 'birth_date', 'dept'] },
    { section: { zh: '会员', en: 'Membership' }, columns: 2, fields: ['tier', 'total_spent', 'tags', 'note'] },
  ],
}

const visit = {
  name: 'visit',
  label: { zh: '就诊记录', en: 'Visit' },
  fields: [
    { name: 'patient', type: 'reference', entity: 'patient', label: { zh: '患者', en: 'Patient' }, required: true },
    { name: 'visit_date', type: 'date', label: { zh: '就诊日期', en: 'Date' }, required: true },
    { name: 'diagnosis', type: 'text', label: { zh: '诊断', en: 'Diagnosis' } },
    { name: 'fee', type: 'money', label: { zh: '费用', en: 'Fee' }, min: 0 },
  ],
}

const SURNAMES = ['王', '李', '张', '刘', '陈', '杨', '黄', '赵', '吴', '周']
const GIVEN = ['伟', '芳', '秀英', '敏', '静', '丽', '强', '磊', '军', '洋']
/** The data row (0-based) whose ID number has a wrong check digit: line 43 of the file. */
const BAD_ROW = 41
const BAD_LINE = BAD_ROW + 2

/** A valid 18-digit ID number (GB 11643) for a birth date and a sequence number. */
function idNumber(birth: string, sequence: number): string {
  const body = `110105${birth.replace(/-/g, '')}${String(sequence).padStart(3, '0')}`
  const weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
  const sum = [...body].reduce((n, d, i) => n + Number(d) * weights[i]!, 0)
  return body + '10X98765432'[sum % 11]!
}

function birthDate(i: number): string {
  const d = new Date(Date.UTC(1950, 0, 1) + i * 211 * 86_400_000)
  return d.toISOString().slice(0, 10)
}

/** 100 patients with Chinese names; row BAD_ROW has a broken ID number. */
function patientsCsv(): string {
  const lines = ['姓名,身份证号,手机号,科室,出生日期,标签,来源渠道']
  for (let i = 0; i < 100; i++) {
    const birth = birthDate(i)
    let id = idNumber(birth, 100 + i)
    if (i === BAD_ROW) id = id.slice(0, 17) + (id.endsWith('0') ? '1' : '0')
    const name = SURNAMES[i % 10]! + GIVEN[Math.floor(i / 10)]!
    const phone = `138${String(10_000_000 + i * 7919).slice(-8)}`
    lines.push([name, id, phone, i % 3 === 0 ? '心内科' : '骨科', birth, i % 4 === 0 ? '高血压' : '', '门诊'].join(','))
  }
  return `${lines.join('\r\n')}\r\n`
}

const WHO_AM_I = { method: 'GET', path: '/api/v1/me', status: 401 }

describe('import, 360° view, print and saved views in the browser', () => {
  let server: RunningServer
  let b: WatchedBrowser
  let api: Awaited<ReturnType<typeof apiSession>>

  beforeAll(async () => {
    server = await startServer()
    api = await apiSession(server.base)
    for (const definition of [patient, visit]) {
      const created = await api('POST', '/api/v1/entities', definition)
      if (created.status !== 201) throw new Error(`${definition.name} entity: ${created.status} ${await created.text()}`)
    }
    b = await WatchedBrowser.launch(server.base)
    const { page } = b
    b.expect(WHO_AM_I)
    await page.goto('/login')
    await page.locator('input[name="username"]').fill(ADMIN.username)
    await page.locator('input[name="password"]').fill(ADMIN.password)
    await page.getByRole('button', { name: '登录' }).click()
    await page.waitForURL((url) => url.pathname === '/')
  })

  afterAll(async () => {
    await b?.close()
    await server?.stop()
  })

  it('downloads the template and reads the file’s columns', async () => {
    const { page } = b
    await page.goto('/records/patient')
    await page.locator('[data-test="empty-state"]').waitFor()
    await page.locator('[data-test="open-import"]').click()
    await page.waitForURL(/\/records\/patient\/import$/)
    await page.getByRole('heading', { name: '导入患者' }).waitFor()

    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('[data-test="import-template"]').click()])
    expect(download.suggestedFilename()).toBe('患者导入模板.csv')
    const template = readFileSync((await download.path())!)
    expect([...template.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf])
    expect(template.subarray(3).toString('utf8')).toBe('姓名,身份证号,手机号,科室,出生日期,会员等级,累计消费,标签,备注\r\n')
    await b.screenshot('more-01-import-upload')

    await page.locator('[data-test="import-drop"] input[type=file]').setInputFiles({
      name: '患者名单.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from(patientsCsv(), 'utf8'),
    })
    await page.locator('[data-test="import-file"]', { hasText: '患者名单.csv' }).waitFor()
    await b.screenshot('more-02-import-file-chosen')
    await page.locator('[data-test="import-next"]').click()

    const mapping = page.locator('[data-test="import-mapping"]')
    await mapping.waitFor()
    expect(await mapping.textContent()).toContain('列名一致')
    // 来源渠道 is no field: ignored unless the user picks one.
    const channelRow = mapping.locator('.el-table__row', { hasText: '来源渠道' })
    expect(await channelRow.textContent()).toContain('未匹配，将忽略')
    await b.screenshot('more-03-import-mapping')
    expect(await seriousViolations(b)).toEqual([])
    expect(b.takeProblems()).toEqual([])
  })

  it('names the bad line in the dry run, then imports the 99 good rows', async () => {
    const { page } = b
    await page.locator('[data-test="import-next"]').click()
    const problems = page.locator('[data-test="import-problems"]')
    await problems.waitFor()
    expect(await page.locator('[data-test="import-total"]').textContent()).toBe('100')
    expect(await page.locator('[data-test="import-valid"]').textContent()).toBe('99')
    expect(await page.locator('[data-test="import-bad"]').textContent()).toBe('1')
    const row = problems.locator('.el-table__row').first()
    expect(await row.textContent()).toContain(String(BAD_LINE))
    expect(await row.textContent()).toContain('身份证号')
    await b.screenshot('more-04-import-check')
    expect(await seriousViolations(b)).toEqual([])

    await page.locator('[data-test="import-next"]').click()
    await page.locator('[data-test="import-skip"]').click()
    expect(await page.locator('[data-test="import-plan"]').textContent()).toContain('将导入 99 条患者，跳过 1 行')
    await b.screenshot('more-05-import-mode')
    await page.locator('[data-test="import-run"]').click()
    await page.locator('.el-message-box').getByRole('button', { name: '开始导入' }).click()
    const done = page.locator('[data-test="import-done"]')
    await done.waitFor()
    await page.locator('.el-message-box').waitFor({ state: 'hidden' })
    expect(await done.textContent()).toContain('已导入 99 条患者')
    await b.screenshot('more-06-import-done')

    await page.locator('[data-test="import-to-list"]').click()
    await page.waitForURL(/\/records\/patient$/)
    await page.locator('[data-test="total"]', { hasText: '共 99 条' }).waitFor()
    await b.screenshot('more-07-list-after-import')
    expect(b.takeProblems()).toEqual([])
  })

  it('shows a patient’s 360° view with two visits and the timeline', async () => {
    const { page } = b
    const found = (await (await api('GET', `/api/v1/records/patient?q=${encodeURIComponent('张秀英')}`)).json()) as { items: { id: string; version: number }[] }
    const zhang = found.items[0]!
    const patched = await api('PATCH', `/api/v1/records/patient/${zhang.id}`, { data: { tier: 'VIP', total_spent: 6800, tags: ['高血压', '糖尿病'] } }, { 'if-match': `"${zhang.version}"` })
    expect(patched.status).toBe(200)
    for (const [date, diagnosis, fee] of [
      ['2026-11-20', '高血压初诊', 320],
      ['2026-12-01', '高血压复诊', 180.5],
    ] as const) {
      const created = await api('POST', '/api/v1/records/visit', { data: { patient: zhang.id, visit_date: date, diagnosis, fee } })
      expect(created.status).toBe(201)
    }

    await page.locator('input[data-test="search"]').fill('张秀英')
    await page.locator('input[data-test="search"]').press('Enter')
    const row = page.locator('[data-test="records-table"] .el-table__body-wrapper tr', { hasText: '张秀英' })
    await row.waitFor()
    await row.locator('[data-test="row-360"]').click()
    await page.waitForURL(new RegExp(`/records/patient/${zhang.id}/360$`))
    const card = page.locator('[data-test="profile-card"]')
    await card.waitFor()
    const cardText = (await card.textContent()) ?? ''
    expect(cardText).toContain('张秀英')
    expect(cardText).toMatch(/110105\*+\w{4}/)
    expect(cardText).toContain('VIP')
    expect(cardText).toContain('糖尿病')
    const group = page.locator('[data-test="related-visit-patient"]')
    expect(await group.locator('h3').textContent()).toContain('2')
    await group.getByText('高血压复诊').waitFor()
    await group.getByText('高血压初诊').waitFor()
    const timeline = page.locator('[data-test="timeline"] .el-timeline-item')
    expect(await timeline.count()).toBe(4)
    expect(await timeline.first().textContent()).toContain('新建了')
    expect(await page.locator('[data-test="timeline-update"]').textContent()).toContain('累计消费')
    await b.screenshot('more-08-360-view')
    expect(await seriousViolations(b)).toEqual([])
    expect(b.takeProblems()).toEqual([])
  })

  it('prints the patient on an A4 page, without the app around it', async () => {
    const { page } = b
    await page.locator('[data-test="open-print"]').click()
    await page.waitForURL(/\/print$/)
    const sheet = page.locator('[data-test="print-sheet"]')
    await sheet.locator('h1', { hasText: '患者信息表' }).waitFor()
    expect(await sheet.locator('[data-test="print-id_number"]').textContent()).toMatch(/\*{4}/)
    expect(await sheet.locator('[data-test="print-footer"]').textContent()).toContain('打印人：admin')
    await b.screenshot('more-09-print-view')
    expect(await seriousViolations(b)).toEqual([])
    // The print dialog itself is the browser's: count the call instead of opening it.
    await page.evaluate(() => {
      const w = window as Window & { printed?: number }
      w.printed = 0
      w.print = () => {
        w.printed = (w.printed ?? 0) + 1
      }
    })
    await page.locator('[data-test="print"]').click()
    expect(await page.evaluate(() => (window as Window & { printed?: number }).printed)).toBe(1)
    await page.emulateMedia({ media: 'print' })
    expect(await page.locator('.kd-shell__header').isVisible()).toBe(false)
    expect(await page.locator('[data-test="print"]').isVisible()).toBe(false)
    await b.screenshot('more-10-print-media')
    await page.emulateMedia({ media: 'screen' })
    expect(b.takeProblems()).toEqual([])
  })

  it('saves a list view, and applies it after a reload', async () => {
    const { page } = b
    await page.goto('/records/patient')
    await page.locator('[data-test="total"]', { hasText: '共 99 条' }).waitFor()
    await page.locator('[data-test="filter-dept"] .el-select').click()
    await page.locator('.el-select-dropdown__item', { hasText: '心内科' }).click()
    await page.keyboard.press('Escape')
    await page.locator('[data-test="total"]', { hasText: '共 34 条' }).waitFor()
    await page.locator('[data-test="records-table"] th', { hasText: '出生日期' }).locator('.sort-caret.ascending').click()
    await page.waitForURL((url) => url.searchParams.get('sort') === 'birth_date')

    await page.locator('[data-test="views-button"]').click()
    await page.locator('[data-test="view-save"]').click()
    await page.locator('[data-test="view-name"] input, input[data-test="view-name"]').first().fill('心内科患者')
    await b.screenshot('more-11-save-view')
    await page.locator('[data-test="view-name-save"]').click()
    await page.locator('[data-test="views-button"]', { hasText: '视图：心内科患者' }).waitFor()

    await page.goto('/records/patient')
    await page.reload()
    await page.locator('[data-test="total"]', { hasText: '共 99 条' }).waitFor()
    expect(await page.locator('[data-test="views-button"]').textContent()).not.toContain('心内科患者')
    await page.locator('[data-test="views-button"]').click()
    await page.locator('[data-test="view-心内科患者"]').waitFor()
    await b.screenshot('more-12-views-menu')
    expect(await seriousViolations(b)).toEqual([])
    await page.locator('[data-test="view-心内科患者"]').click()
    await page.locator('[data-test="total"]', { hasText: '共 34 条' }).waitFor()
    await page.locator('[data-test="views-button"]', { hasText: '视图：心内科患者' }).waitFor()
    expect(new URL(page.url()).searchParams.get('sort')).toBe('birth_date')
    await b.screenshot('more-13-view-applied')
    expect(b.takeProblems()).toEqual([])
  })
})
