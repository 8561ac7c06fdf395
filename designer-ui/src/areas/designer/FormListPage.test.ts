import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { EntityInfo, Me } from '@/api/types'
import { admin, json, nurse, patient } from '@/test/fixtures'
import { eventually, mountSignedIn, settle, unmountAll } from '@/test/mount'

const visit: EntityInfo = {
  name: 'visit',
  version: 4,
  label: { zh: '就诊', en: 'Visit' },
  fields: [
    { name: 'at', type: 'date' },
    { name: 'doctor', type: 'user' },
  ],
}

const everything = () => json(200, { items: [patient, visit], page: 1, per_page: 50 })

function typeInto(selector: string, value: string): void {
  const input = document.querySelector<HTMLInputElement>(selector)
  if (!input) throw new Error(`nothing matches ${selector}`)
  input.value = value
  input.dispatchEvent(new Event('input'))
}

describe('the forms list', () => {
  beforeEach(() => {
    document.body.innerHTML = ''
  })
  afterEach(unmountAll)

  it('lists the forms the user may design, with field count and version, and no 新建表单 without the right', async () => {
    const designer: Me = { ...nurse, permissions: [...nurse.permissions, { entity: 'visit', actions: ['read', 'design'] }] }
    const { wrapper } = await mountSignedIn({
      me: designer,
      entities: [patient, visit],
      route: '/design/forms',
      handlers: { 'GET /api/v1/entities': everything },
    })
    await eventually(() => expect(wrapper.findAll('[data-test="forms-table"] .el-table__body tr')).toHaveLength(1))
    const row = wrapper.find('[data-test="forms-table"] .el-table__body tr').text()
    expect(row).toContain('就诊')
    expect(row).toContain('visit')
    expect(row).toContain('2 个字段')
    expect(row).toContain('v4')
    expect(wrapper.find('[data-test="new-form"]').exists()).toBe(false)
  })

  it('says what to do when there is no form yet', async () => {
    const { wrapper } = await mountSignedIn({
      me: admin,
      entities: [],
      route: '/design/forms',
      handlers: { 'GET /api/v1/entities': () => json(200, { items: [], page: 1, per_page: 50 }) },
    })
    await eventually(() => expect(wrapper.find('[data-test="forms-empty"]').text()).toContain('还没有表单 — 点击“新建表单”开始设计'))
  })

  it('starts a new form: the identifier follows the English name, is checked here and on the server', async () => {
    let taken = true
    const { wrapper, server, router } = await mountSignedIn({
      me: admin,
      entities: [patient, visit],
      route: '/design/forms',
      handlers: {
        'GET /api/v1/entities': everything,
        'POST /api/v1/entity-checks': () =>
          taken
            ? json(409, { error: { code: 'conflict', message: '实体 follow_up 已存在', details: [] } })
            : json(200, { ok: true, name: 'follow_up_call', change: 'created', version: 1, fields_added: [], fields_restored: [], indexes_added: [], unique_added: [], unique_dropped: [], schema: {} }),
      },
    })
    await wrapper.find('[data-test="new-form"]').trigger('click')
    await settle()
    typeInto('input[data-test="new-form-zh"]', '随访')
    typeInto('input[data-test="new-form-en"]', 'Follow-up')
    await settle()
    const name = () => document.querySelector<HTMLInputElement>('input[data-test="new-form-name"]')!
    expect(name().value).toBe('follow_up')
    const dialogText = () => document.querySelector('[data-test="new-form-dialog"]')!.textContent ?? ''

    // An entity the user cannot see holds it: the server says so.
    document.querySelector<HTMLElement>('[data-test="new-form-start"]')!.click()
    await eventually(() => expect(dialogText()).toContain('标识 follow_up 已被使用，请换一个'))
    const check = server.calls.find((c) => c.path === '/api/v1/entity-checks')!
    expect(check.query.get('intent')).toBe('create')
    expect(check.body).toEqual({ name: 'follow_up', label: { zh: '随访', en: 'Follow-up' }, fields: [] })

    // One the browser knows, and one that is not a slug.
    typeInto('input[data-test="new-form-name"]', 'visit')
    await eventually(() => expect(dialogText()).toContain('标识 visit 已被使用'))
    typeInto('input[data-test="new-form-name"]', 'Follow Up')
    await eventually(() => expect(dialogText()).toContain('只能用小写英文字母、数字和单个下划线'))

    taken = false
    typeInto('input[data-test="new-form-name"]', 'follow_up_call')
    await settle()
    document.querySelector<HTMLElement>('[data-test="new-form-start"]')!.click()
    await eventually(() => expect(router.currentRoute.value.path).toBe('/design/forms/new/follow_up_call'))
    expect(router.currentRoute.value.query).toEqual({ zh: '随访', en: 'Follow-up' })
  })

  it('asks for the Chinese name', async () => {
    const { wrapper, server } = await mountSignedIn({
      me: admin,
      entities: [],
      route: '/design/forms',
      handlers: { 'GET /api/v1/entities': () => json(200, { items: [], page: 1, per_page: 50 }) },
    })
    await wrapper.find('[data-test="new-form"]').trigger('click')
    await settle()
    typeInto('input[data-test="new-form-en"]', 'Survey')
    await settle()
    document.querySelector<HTMLElement>('[data-test="new-form-start"]')!.click()
    await eventually(() => expect(document.querySelector('[data-test="new-form-dialog"]')!.textContent).toContain('请填写中文名称'))
    expect(server.calls.some((c) => c.path === '/api/v1/entity-checks')).toBe(false)
  })
})
