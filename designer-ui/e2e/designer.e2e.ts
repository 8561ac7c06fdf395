// A nurse-manager who has never seen the product designs the patient form: 设计 → 表单, 新建表单
// 患者, fields dragged from the palette into two sections on two tabs, a problem the server's
// live check finds and its fix, the preview in both languages, and 保存. Then 数据 → 患者: a
// patient entered with a bad ID number first. Then the form changes (a required field with a
// default) and the version list shows both versions. Each step leaves a screenshot under
// target/ui-screenshots/ (designer-*.png); any console error, uncaught exception or unexpected
// failed request fails the step.
import type { Locator, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WatchedBrowser } from './support/browser'
import { ADMIN, startServer, type RunningServer } from './support/server'

const WHO_AM_I = { method: 'GET', path: '/api/v1/me', status: 401 }
/** The live check answers 400 while the draft has a problem: that is its answer, not a failure. */
const CHECK_REFUSED = { method: 'POST', path: '/api/v1/entity-checks', status: 400 }

/** SortableJS follows the pointer through several moves, as a hand does. */
async function drag(source: Locator, target: Locator, position?: { x: number; y: number }): Promise<void> {
  await source.dragTo(target, { steps: 12, ...(position ? { targetPosition: position } : {}) })
}

function palette(page: Page, type: string): Locator {
  return page.locator(`[data-test="palette-${type}"]`)
}

function sectionFields(page: Page, index: number): Locator {
  return page.locator(`[data-test="canvas-section"][data-section="${index}"] [data-test="section-fields"]`)
}

/** The identifiers of a section's fields, in order. */
function fieldOrder(page: Page, section: number): Promise<(string | null)[]> {
  return page
    .locator(`[data-test="canvas-section"][data-section="${section}"] [data-test="field-card"]`)
    .evaluateAll((cards) => cards.map((c) => c.getAttribute('data-field')))
}

function card(page: Page, name: string): Locator {
  return page.locator(`[data-test="field-card"][data-field="${name}"]`)
}

/**
 * Drops a field type at the end of a section and waits for the new field there, selected. The
 * drop point is the room below the last field, at the section's left edge: the pointer comes
 * from the palette without crossing the section's fields (SortableJS makes room under the
 * pointer as it passes, as it does for a hand).
 */
async function dropField(page: Page, type: string, section: number): Promise<void> {
  const cards = page.locator('[data-test="field-card"]')
  const before = await cards.count()
  const list = sectionFields(page, section)
  const box = await list.boundingBox()
  if (!box) throw new Error(`section ${section} is not on screen`)
  await drag(palette(page, type), list, { x: 6, y: box.height - 4 })
  await expect.poll(() => cards.count()).toBe(before + 1)
  await page.locator(`[data-section="${section}"] [data-test="field-card"].is-selected`).waitFor()
}

async function label(page: Page, zh: string, en: string): Promise<void> {
  await page.locator('input[data-test="prop-label-zh"]').fill(zh)
  await page.locator('input[data-test="prop-label-en"]').fill(en)
}

async function waitForCheck(page: Page, state: 'passed' | 'problems'): Promise<void> {
  await page.locator(`[data-test="check-status"][data-state="${state}"]`).waitFor()
}

async function chooseOption(page: Page, select: Locator, option: string): Promise<void> {
  await select.click()
  await page.locator('.el-select-dropdown:visible .el-select-dropdown__item', { hasText: option }).first().click()
}

describe('the form designer in the browser', () => {
  let server: RunningServer
  let b: WatchedBrowser

  beforeAll(async () => {
    server = await startServer()
    b = await WatchedBrowser.launch(server.base)
  })

  afterAll(async () => {
    await b?.close()
    await server?.stop()
  })

  it('logs in and opens 设计 → 表单, which lists the core forms', async () => {
    const { page } = b
    b.expect(WHO_AM_I)
    await page.goto('/')
    await page.locator('input[name="username"]').fill(ADMIN.username)
    await page.locator('input[name="password"]').fill(ADMIN.password)
    await page.getByRole('button', { name: '登录' }).click()
    await page.waitForURL((url) => url.pathname === '/')
    await page.locator('.el-sub-menu__title', { hasText: '设计' }).hover()
    await page.locator('.el-menu--popup .el-menu-item', { hasText: '表单' }).click()
    await page.waitForURL(/\/design\/forms$/)
    // A new server already has the core forms (tasks, messages, consents): the list shows them.
    await page.locator('[data-test="forms-table"]').waitFor()
    const listed = await page.locator('[data-test="forms-table"]').textContent()
    for (const core of ['任务', '消息', '知情同意']) expect(listed).toContain(core)
    await b.screenshot('designer-01-forms-core')
    expect(b.takeProblems()).toEqual([])
  })

  it('starts the patient form: names in both languages, the identifier proposed from the English one', async () => {
    const { page } = b
    await page.locator('[data-test="new-form"]').click()
    await page.locator('input[data-test="new-form-zh"]').fill('患者')
    await page.locator('input[data-test="new-form-en"]').fill('Patient')
    expect(await page.locator('input[data-test="new-form-name"]').inputValue()).toBe('patient')
    await b.screenshot('designer-02-new-form')
    await page.locator('[data-test="new-form-start"]').click()
    await page.waitForURL(/\/design\/forms\/new\/patient\?/)
    await page.getByRole('heading', { name: '新建表单：患者' }).waitFor()
    expect(b.takeProblems()).toEqual([])
  })

  it('drags six field types into 基本信息, two columns, and reorders them', async () => {
    const { page } = b
    await page.locator('[data-test="section-head"]').first().click()
    await page.locator('[data-test="section-columns"] .el-radio-button', { hasText: '2' }).click()

    await dropField(page, 'text', 0)
    await label(page, '姓名', 'Name')
    await page.locator('[data-test="prop-required"]').click()
    await card(page, 'name').waitFor()

    await dropField(page, 'id_card', 0)
    expect(await page.locator('input[data-test="prop-name"]').inputValue()).toBe('id_number')
    // An ID number is sensitive unless the designer says otherwise.
    expect(await page.locator('[data-test="prop-sensitive"] input').isChecked()).toBe(true)
    await page.locator('[data-test="prop-unique"]').click()

    await dropField(page, 'phone', 0)
    await label(page, '手机号', 'Mobile')

    await dropField(page, 'select', 0)
    await label(page, '科室', 'Department')
    // A choice field starts with two options to rename.
    for (const [i, [zh, en]] of [
      ['心内科', 'Cardiology'],
      ['骨科', 'Orthopedics'],
    ].entries()) {
      await page.locator(`[data-test="option-${i}"] input[data-test="option-label-zh"]`).fill(zh!)
      await page.locator(`[data-test="option-${i}"] input[data-test="option-label-en"]`).fill(en!)
    }
    expect(await page.locator('[data-test="option-1"] input[data-test="option-value"]').inputValue()).toBe('orthopedics')
    // Each option gets a colour; 骨科's is changed to red from the palette of colours.
    await page.locator('[data-test="option-1"] .el-color-picker__trigger').click()
    const colours = page.locator('.el-color-picker__panel:visible')
    await colours.locator('.el-color-predefine__color-selector').nth(3).click()
    await colours.getByRole('button', { name: '确定' }).click()
    const swatches = card(page, 'department').locator('.kd-field-card__swatch')
    await expect.poll(() => swatches.evaluateAll((els) => els.map((e) => getComputedStyle(e).backgroundColor))).toEqual([
      'rgb(64, 158, 255)',
      'rgb(245, 108, 108)',
    ])

    await dropField(page, 'date', 0)
    await label(page, '出生日期', 'Birth date')

    await dropField(page, 'autonumber', 0)
    await label(page, '病历号', 'Record number')

    expect(await fieldOrder(page, 0)).toEqual(['name', 'id_number', 'mobile', 'department', 'birth_date', 'record_number'])
    // Reordered within the section: 科室, beside 手机号 in the second row, dragged onto it.
    await drag(card(page, 'department').locator('.kd-field-card__head'), card(page, 'mobile'))
    await expect.poll(() => fieldOrder(page, 0)).toEqual(['name', 'id_number', 'department', 'mobile', 'birth_date', 'record_number'])
    await waitForCheck(page, 'passed')
    await b.screenshot('designer-03-first-section')
    expect(b.takeProblems()).toEqual([])
  })

  it('adds a second section, moves a field into it, and puts the sections on two tabs', async () => {
    const { page } = b
    await page.locator('[data-test="add-section"]').click()
    await page.locator('input[data-test="section-title-zh"]').fill('会员信息')
    await page.locator('input[data-test="section-title-en"]').fill('Membership')
    // Across sections: 病历号 down into the new one.
    await drag(card(page, 'record_number').locator('.kd-field-card__head'), sectionFields(page, 1))
    await expect.poll(() => fieldOrder(page, 1)).toEqual(['record_number'])

    await page.locator('[data-test="canvas-section"][data-section="0"] [data-test="section-head"]').click()
    await chooseOption(page, page.locator('[data-test="section-tab"]'), '新标签页')
    await page.locator('input[data-test="section-tab-zh"]').fill('基本资料')
    await page.locator('input[data-test="section-tab-en"]').fill('Profile')
    await page.locator('[data-test="canvas-section"][data-section="1"] [data-test="section-head"]').click()
    await chooseOption(page, page.locator('[data-test="section-tab"]'), '新标签页')
    await page.locator('input[data-test="section-tab-zh"]').fill('会员')
    await page.locator('input[data-test="section-tab-en"]').fill('Membership')
    const tabs = page.locator('[data-test="canvas-tabs"] .el-tabs__item')
    await expect.poll(() => tabs.allTextContents()).toEqual(['基本资料', '会员'])
    expect(b.takeProblems()).toEqual([])
  })

  it('drags four more field types into the second tab’s section', async () => {
    const { page } = b
    await dropField(page, 'money', 1)
    await label(page, '累计消费', 'Total spent')
    await page.locator('[data-test="prop-min"] input').fill('0')
    await page.locator('[data-test="prop-min"] input').press('Tab')

    await dropField(page, 'boolean', 1)
    await label(page, 'VIP', 'VIP')

    await dropField(page, 'tags', 1)
    await label(page, '标签', 'Tags')

    await dropField(page, 'textarea', 1)
    await label(page, '备注', 'Notes')
    expect(await fieldOrder(page, 1)).toEqual(['record_number', 'total_spent', 'vip', 'tags', 'notes'])
    await waitForCheck(page, 'passed')
    await b.screenshot('designer-04-second-tab')
    expect(b.takeProblems()).toEqual([])
  })

  it('sees the server’s live check find a duplicate identifier, on the field, and fixes it', async () => {
    const { page } = b
    b.allowRepeatedly(CHECK_REFUSED)
    await card(page, 'notes').click()
    await page.locator('input[data-test="prop-name"]').fill('name')
    await page.locator('[data-test="problem-count"]').waitFor()
    expect(await page.locator('[data-test="problem-count"]').textContent()).toContain('1 处问题')
    const error = page.locator('[data-test="prop-name-item"] .el-form-item__error')
    await error.waitFor()
    expect(await error.textContent()).toContain('字段名 name 重复')
    expect(await page.locator('[data-test="save-form"]').isDisabled()).toBe(true)
    await page.locator('[data-test="problem-count"]').click()
    await page.locator('[data-test="problem-list"]').waitFor()
    await b.screenshot('designer-05-check-error')
    await page.keyboard.press('Escape')

    await page.locator('input[data-test="prop-name"]').fill('note')
    await waitForCheck(page, 'passed')
    await error.waitFor({ state: 'detached' })
    expect(await page.locator('[data-test="save-form"]').isDisabled()).toBe(false)
    b.stopAllowing()
    expect(b.takeProblems()).toEqual([])
  })

  it('shows 备注 only for VIPs, with a display rule built from the form’s fields', async () => {
    const { page } = b
    await card(page, 'note').click()
    const rule = page.locator('[data-test="prop-visible-if"]')
    await rule.locator('[data-test="condition-add"]').click()
    await chooseOption(page, rule.locator('[data-test="condition-field"]'), 'VIP')
    expect(await rule.locator('[data-test="condition-op"]').textContent()).toContain('等于')
    await card(page, 'note').locator('.el-tag', { hasText: '条件显示' }).waitFor()
    await waitForCheck(page, 'passed')
    await b.screenshot('designer-06-display-rule')
    expect(b.takeProblems()).toEqual([])
  })

  it('previews the form as staff will see it, in Chinese and in English', async () => {
    const { page } = b
    await page.locator('[data-test="preview-toggle"]').click()
    const preview = page.locator('[data-test="form-preview"]')
    await preview.waitFor()
    await preview.getByRole('tab', { name: '基本资料' }).waitFor()
    await preview.locator('[data-test="form-item-name"]').waitFor()
    await b.screenshot('designer-07-preview')
    await preview.locator('[data-test="preview-language"] .el-radio-button', { hasText: 'English' }).click()
    await preview.getByRole('tab', { name: 'Membership' }).click()
    expect(await preview.locator('.el-tabs__item.is-active').textContent()).toBe('Membership')
    await preview.locator('[data-test="form-item-total_spent"] label', { hasText: 'Total spent' }).waitFor()
    // The display rule works as staff fill the form in: Notes shows once VIP is on.
    expect(await preview.locator('[data-test="form-item-note"]').count()).toBe(0)
    await preview.locator('[data-test="form-item-vip"] .el-switch').click()
    await preview.locator('[data-test="form-item-note"] label', { hasText: 'Notes' }).waitFor()
    await b.screenshot('designer-08-preview-english')
    await page.locator('[data-test="designer-mode"] .el-radio-button', { hasText: '设计' }).click()
    await page.locator('[data-test="canvas"]').waitFor()
    expect(b.takeProblems()).toEqual([])
  })

  it('saves the new form and lands on its address', async () => {
    const { page } = b
    await page.locator('[data-test="save-form"]').click()
    await page.waitForURL(/\/design\/forms\/patient$/)
    await page.locator('.el-message--success', { hasText: '表单“患者”已创建' }).waitFor()
    expect(await page.locator('[data-test="designer-meta"]').textContent()).toContain('版本 1')
    await b.screenshot('designer-09-saved')
    expect(b.takeProblems()).toEqual([])
  })

  it('enters a patient under 数据 → 患者, with the error under a bad ID number first', async () => {
    const { page } = b
    await page.locator('.el-sub-menu__title', { hasText: '数据' }).hover()
    await page.locator('.el-menu--popup .el-menu-item', { hasText: '患者' }).click()
    await page.waitForURL(/\/records\/patient$/)
    await page.locator('[data-test="new-record"]').click()
    await page.getByRole('heading', { name: '新建患者' }).waitFor()
    await page.getByRole('tab', { name: '基本资料' }).waitFor()

    await page.getByLabel('姓名').fill('张三')
    await page.getByLabel('身份证号').fill('110105199001011235')
    await page.getByLabel('手机号').click()
    const idError = page.locator('[data-test="form-item-id_number"] .el-form-item__error')
    await idError.waitFor()
    expect(await idError.textContent()).toContain('身份证号 校验位不正确')
    await b.screenshot('designer-10-record-bad-id')

    await page.getByLabel('身份证号').fill('110105199001011232')
    await page.getByLabel('手机号').fill('13812345678')
    await page.getByLabel('姓名').click()
    await idError.waitFor({ state: 'detached' })
    await page.getByLabel('科室').click()
    await page.locator('.el-select-dropdown__item', { hasText: '心内科' }).click()
    await page.getByRole('tab', { name: '会员' }).click()
    await page.getByLabel('累计消费').fill('1234.5')
    await page.locator('[data-test="form-item-vip"] .el-switch').click()
    await page.getByLabel('备注').fill('高血压随访')
    expect(await page.locator('[data-test="form-tabs"] .el-tabs__item.is-active').textContent()).toBe('会员')
    await b.screenshot('designer-11-record-filled')
    await page.locator('[data-test="save"]').click()
    await page.waitForURL(/\/records\/patient$/)
    await page.locator('[data-test="records-table"]').getByText('张三').waitFor()
    expect(b.takeProblems()).toEqual([])
  })

  it('changes the form — a required field with a default — and sees two versions', async () => {
    const { page } = b
    await page.locator('.el-sub-menu__title', { hasText: '设计' }).hover()
    await page.locator('.el-menu--popup .el-menu-item', { hasText: '表单' }).click()
    await page.locator('[data-test="forms-table"]').getByText('患者').waitFor()
    await b.screenshot('designer-12-forms')
    await page.locator('[data-test="design-patient"]').click()
    await page.getByRole('heading', { name: '设计表单：患者' }).waitFor()

    await dropField(page, 'text', 0)
    await label(page, '过敏史', 'Allergies')
    await page.locator('[data-test="prop-required"]').click()
    await page.locator('[data-test="prop-default"] input').fill('无')
    await waitForCheck(page, 'passed')
    await page.locator('[data-test="save-form"]').click()
    // The patient entered above has no allergies yet: saving says so before anything changes.
    const impact = page.locator('[data-test="impact-dialog"]')
    const savedMessage = page.locator('.el-message--success', { hasText: '已保存为版本 2' })
    await Promise.race([impact.waitFor(), savedMessage.waitFor()])
    if (await impact.isVisible()) {
      expect(await impact.textContent()).toContain('不符合修改后的规则')
      await b.screenshot('designer-13-impact')
      await page.locator('[data-test="impact-confirm"]').click()
    }
    await savedMessage.waitFor()
    expect(await page.locator('[data-test="designer-meta"]').textContent()).toContain('版本 2')

    await page.locator('[data-test="open-versions"]').click()
    const versions = page.locator('[data-test="version-list"] li')
    await expect.poll(() => versions.count()).toBe(2)
    expect(await versions.first().textContent()).toContain('版本 2')
    expect(await versions.first().textContent()).toContain('新增 1 个字段')
    expect(await versions.nth(1).textContent()).toContain('版本 1')
    await b.screenshot('designer-14-versions')
    await page.locator('[data-test="version-1"]').click()
    const old = page.locator('[data-test="version-preview"]')
    await old.locator('[data-test="form-item-name"]').waitFor()
    expect(await old.locator('[data-test="form-item-allergies"]').count()).toBe(0)
    await b.screenshot('designer-15-version-1')
    expect(b.takeProblems()).toEqual([])
  })

  it('reads the same in English', async () => {
    const { page } = b
    await page.getByRole('button', { name: '关闭', exact: true }).click()
    await page.locator('[data-test="version-preview"]').waitFor({ state: 'hidden' })
    await page.locator('.el-drawer__close-btn:visible').click()
    await page.locator('[data-test="versions-drawer"]').waitFor({ state: 'hidden' })
    await page.locator('[data-test="user-menu"]').click()
    await page.locator('[data-test="language-en"]').click()
    await page.getByRole('heading', { name: 'Design form: Patient' }).waitFor()
    expect(await page.locator('[data-test="palette"]').textContent()).toContain('Dates and numbers')
    await card(page, 'id_number').click()
    expect(await page.locator('[data-test="property-panel"]').textContent()).toContain('Sensitive (encrypted, shown masked)')
    await b.screenshot('designer-16-english')
    await page.locator('[data-test="user-menu"]').click()
    await page.locator('[data-test="language-zh-CN"]').click()
    await page.getByRole('heading', { name: '设计表单：患者' }).waitFor()
    expect(b.takeProblems()).toEqual([])
  })

  it('loads at most 1 MB of compressed JavaScript on the way', () => {
    const total = [...b.scriptBytes.values()].reduce((a, n) => a + n, 0)
    expect(b.scriptBytes.size).toBeGreaterThan(0)
    expect(total).toBeLessThanOrEqual(1024 * 1024)
  })
})
