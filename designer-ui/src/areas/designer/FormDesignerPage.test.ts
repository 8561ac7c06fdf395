import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { EntityDefinition, EntityInfo } from '@/api/types'
import { admin, json, nurse, patient, type FakeCall } from '@/test/fixtures'
import { eventually, mountSignedIn, settle, unmountAll } from '@/test/mount'
import { VueDraggable } from 'vue-draggable-plus'

function passed(definition: EntityDefinition, change: 'created' | 'changed' | 'unchanged' = 'created') {
  return json(200, {
    ok: true,
    name: definition.name,
    change,
    version: 1,
    fields_added: definition.fields.map((f) => f.name),
    fields_restored: [],
    indexes_added: [],
    unique_added: [],
    unique_dropped: [],
    schema: {},
  })
}

const body = (call: FakeCall) => call.body as EntityDefinition

function click(selector: string): void {
  const target = document.querySelector<HTMLElement>(selector)
  if (!target) throw new Error(`nothing matches ${selector}`)
  target.click()
}

async function type(wrapper: { find: (s: string) => { setValue: (v: string) => Promise<void> } }, selector: string, value: string) {
  await wrapper.find(selector).setValue(value)
}

describe('the form designer', () => {
  beforeEach(() => {
    document.body.innerHTML = ''
  })
  afterEach(unmountAll)

  it('shows every field type in its group, and adds a clicked one to the form, selected', async () => {
    const { wrapper } = await mountSignedIn({
      me: admin,
      entities: [],
      route: '/design/forms/new/patient?zh=患者&en=Patient',
      handlers: { 'POST /api/v1/entity-checks': (call) => passed(body(call)) },
    })
    expect(wrapper.find('h1').text()).toBe('新建表单：患者')
    const groups = wrapper.findAll('.kd-palette__group-title').map((g) => g.text())
    expect(groups).toEqual(['基础', '选择', '日期与数字', '联系与证件', '关联与高级'])
    expect(wrapper.findAll('.kd-palette__item')).toHaveLength(21)
    expect(wrapper.find('[data-test="palette-id_card"]').text()).toBe('身份证号')
    expect(wrapper.find('[data-test="palette-id_card"] .el-icon svg').exists()).toBe(true)

    await wrapper.find('[data-test="palette-id_card"]').trigger('click')
    const card = wrapper.find('[data-test="field-card"]')
    expect(card.attributes('data-field')).toBe('id_number')
    expect(card.classes()).toContain('is-selected')
    expect(card.text()).toContain('敏感')
    expect((wrapper.find('[data-test="prop-label-zh"]').element as HTMLInputElement).value).toBe('身份证号')
    expect((wrapper.find('[data-test="prop-name"]').element as HTMLInputElement).value).toBe('id_number')
  })

  it('creates a field where the palette’s drag lands in a section', async () => {
    const { wrapper } = await mountSignedIn({
      me: admin,
      entities: [],
      route: '/design/forms/new/patient?zh=患者&en=Patient',
      handlers: { 'POST /api/v1/entity-checks': (call) => passed(body(call)) },
    })
    const sectionList = wrapper.findAllComponents(VueDraggable).find((c) => c.attributes('data-test') === 'section-fields')!
    sectionList.vm.$emit('update:modelValue', [{ newFieldType: 'money' }])
    await settle()
    const card = wrapper.find('[data-test="field-card"]')
    expect(card.attributes('data-field')).toBe('amount')
    expect(card.classes()).toContain('is-selected')
    expect(wrapper.find('[data-test="prop-min"]').exists()).toBe(true)
  })

  it('checks the draft on the server as it changes, shows each problem on its property, and blocks saving until fixed', async () => {
    let checks = 0
    const { wrapper, server } = await mountSignedIn({
      me: admin,
      entities: [],
      route: '/design/forms/new/patient?zh=患者&en=Patient',
      handlers: {
        'POST /api/v1/entity-checks': (call) => {
          checks++
          const definition = body(call)
          const bad = definition.fields.findIndex((f) => f.pattern === '[0-9')
          if (bad >= 0) {
            return json(400, {
              error: {
                code: 'bad_request',
                message: '实体定义有 1 处错误',
                details: [{ field: `fields.${bad}.pattern`, code: 'invalid_pattern', message: '正则表达式无效：unclosed character class' }],
              },
            })
          }
          return passed(definition)
        },
        'POST /api/v1/entities': (call) => json(201, { ...body(call), version: 1 }),
        'GET /api/v1/entities': () => json(200, { items: [], page: 1, per_page: 50 }),
      },
    })
    await wrapper.find('[data-test="palette-text"]').trigger('click')
    await type(wrapper, '[data-test="prop-label-zh"]', '姓名')
    await type(wrapper, '[data-test="prop-label-en"]', 'Name')
    await type(wrapper, '[data-test="prop-pattern"]', '[0-9')

    await eventually(() => expect(wrapper.find('[data-test="problem-count"]').text()).toBe('1 处问题'))
    const request = server.calls.filter((c) => c.path === '/api/v1/entity-checks').at(-1)!
    expect(request.query.get('intent')).toBe('create')
    expect(body(request)).toEqual({
      name: 'patient',
      label: { zh: '患者', en: 'Patient' },
      fields: [{ name: 'name', type: 'text', label: { zh: '姓名', en: 'Name' }, pattern: '[0-9' }],
      layout: [{ section: { zh: '基本信息', en: 'Basics' }, columns: 1, fields: ['name'] }],
    })
    await eventually(() =>
      expect(wrapper.find('[data-test="prop-pattern-item"] .el-form-item__error').text()).toBe('正则表达式无效：unclosed character class'),
    )
    expect(wrapper.find('[data-test="field-card"] [data-test="field-problem-count"]').text()).toBe('1')
    expect(wrapper.find('[data-test="save-form"]').attributes('disabled')).toBeDefined()

    // Typing on: checks wait for a pause, then the fixed draft passes.
    const before = checks
    await type(wrapper, '[data-test="prop-pattern"]', '^[0-9]')
    await eventually(() => expect(wrapper.find('[data-test="check-status"]').attributes('data-state')).toBe('passed'))
    expect(checks).toBe(before + 1)
    expect(wrapper.find('[data-test="problem-count"]').exists()).toBe(false)
    expect(wrapper.find('[data-test="save-form"]').attributes('disabled')).toBeUndefined()
  })

  it('duplicates and removes fields on the canvas, and takes a removal back', async () => {
    const { wrapper } = await mountSignedIn({
      me: admin,
      entities: [],
      route: '/design/forms/new/patient?zh=患者&en=Patient',
      handlers: { 'POST /api/v1/entity-checks': (call) => passed(body(call)) },
    })
    await wrapper.find('[data-test="palette-date"]').trigger('click')
    const cards = () => wrapper.findAll('[data-test="field-card"]').map((c) => c.attributes('data-field'))
    await wrapper.find('[data-test="field-duplicate"]').trigger('click')
    expect(cards()).toEqual(['date', 'date_2'])
    expect(wrapper.find('[data-test="field-card"].is-selected').attributes('data-field')).toBe('date_2')
    await wrapper.find('[data-test="field-remove"]').trigger('click')
    await settle()
    expect(cards()).toEqual(['date'])
    await eventually(() => expect(document.querySelector('.el-message')?.textContent).toContain('已删除“日期”'))
    click('[data-test="undo-remove"]')
    await settle()
    expect(cards()).toEqual(['date', 'date_2'])
  })

  it('says in staff’s words what a link field still needs', async () => {
    const { wrapper } = await mountSignedIn({
      me: admin,
      entities: [patient],
      route: '/design/forms/new/visit?zh=就诊',
      handlers: {
        'POST /api/v1/entity-checks': (call) => {
          const missing = body(call).fields.findIndex((f) => f.type === 'reference' && !f.entity)
          if (missing < 0) return passed(body(call))
          return json(400, {
            error: {
              code: 'bad_request',
              message: '实体定义有 1 处错误',
              details: [{ field: `fields.${missing}.entity`, code: 'required', message: 'reference 类型的字段必须设置 entity' }],
            },
          })
        },
      },
    })
    await wrapper.find('[data-test="palette-reference"]').trigger('click')
    await eventually(() => expect(wrapper.find('[data-test="field-properties"]').text()).toContain('请选择要关联的表单'))
    expect(wrapper.text()).not.toContain('必须设置 entity')
  })

  it('does not send a draft whose identifier is not a slug, and says so under the identifier', async () => {
    const { wrapper, server } = await mountSignedIn({
      me: admin,
      entities: [],
      route: '/design/forms/new/patient?zh=患者&en=Patient',
      handlers: { 'POST /api/v1/entity-checks': (call) => passed(body(call)) },
    })
    await wrapper.find('[data-test="palette-text"]').trigger('click')
    await eventually(() => expect(wrapper.find('[data-test="check-status"]').attributes('data-state')).toBe('passed'))
    const sent = server.calls.length
    await type(wrapper, '[data-test="prop-name"]', 'Full Name')
    await eventually(() =>
      expect(wrapper.find('[data-test="prop-name-item"] .el-form-item__error').text()).toBe(
        '标识“Full Name”只能用小写英文字母、数字和单个下划线，并以字母开头',
      ),
    )
    await new Promise((r) => setTimeout(r, 600))
    expect(server.calls.length).toBe(sent)
  })

  it('does not open a form for someone who may only read it', async () => {
    const { wrapper, server } = await mountSignedIn({ me: nurse, entities: [patient], route: '/design/forms/patient' })
    expect(wrapper.text()).toContain('找不到这个表单')
    expect(wrapper.text()).toContain('“patient”不存在，或您没有设计它的权限。')
    expect(wrapper.find('[data-test="palette"]').exists()).toBe(false)
    expect(server.calls).toEqual([])
  })

  it('says when the server cannot check, and does not save unchecked', async () => {
    const { wrapper, server } = await mountSignedIn({
      me: admin,
      entities: [],
      route: '/design/forms/new/patient?zh=患者&en=Patient',
      handlers: {
        'POST /api/v1/entity-checks': () => json(500, { error: { code: 'internal', message: 'internal', details: [] } }),
      },
    })
    await wrapper.find('[data-test="palette-text"]').trigger('click')
    await eventually(() => expect(wrapper.find('[data-test="check-status"]').text()).toContain('暂时无法检查'))
    await wrapper.find('[data-test="save-form"]').trigger('click')
    await eventually(() => expect(document.querySelector('.el-message')?.textContent).toContain('服务器内部错误'))
    expect(server.calls.some((c) => c.path === '/api/v1/entities')).toBe(false)
  })

  it('creates a new form with POST and moves to its address', async () => {
    const { wrapper, server, router } = await mountSignedIn({
      me: admin,
      entities: [],
      route: '/design/forms/new/patient?zh=患者&en=Patient',
      handlers: {
        'POST /api/v1/entity-checks': (call) => passed(body(call)),
        'POST /api/v1/entities': (call) => json(201, { ...body(call), version: 1 }),
        'GET /api/v1/entities': () => json(200, { items: [{ ...patient, version: 1 }], page: 1, per_page: 50 }),
      },
    })
    await wrapper.find('[data-test="palette-text"]').trigger('click')
    await eventually(() => expect(wrapper.find('[data-test="check-status"]').attributes('data-state')).toBe('passed'))
    await wrapper.find('[data-test="save-form"]').trigger('click')
    await eventually(() => expect(router.currentRoute.value.fullPath).toBe('/design/forms/patient'))
    const post = server.calls.find((c) => c.method === 'POST' && c.path === '/api/v1/entities')!
    expect(body(post).fields.map((f) => f.name)).toEqual(['text'])
    expect(body(post).version).toBeUndefined()
    expect(wrapper.find('[data-test="designer-meta"]').text()).toContain('版本 1')
    // The saved field's identifier is fixed now.
    await wrapper.find('[data-test="field-card"]').trigger('click')
    expect(wrapper.find('[data-test="prop-name"]').attributes('disabled')).toBeDefined()
  })

  it('saves a change after the impact preview, on the version it read', async () => {
    const saved: EntityInfo = { ...patient, version: 3 }
    const { wrapper, server } = await mountSignedIn({
      me: admin,
      entities: [saved],
      route: '/design/forms/patient',
      handlers: {
        'GET /api/v1/entities/patient': () => json(200, saved),
        'POST /api/v1/entity-checks': (call) => passed(body(call), 'changed'),
        'POST /api/v1/entities/patient/impact': () =>
          json(200, {
            invalid_records: 2,
            checked_records: 40,
            examples: [{ id: '0190c7d2-0000-7000-8000-000000000001', errors: [{ field: 'allergies', code: 'required', message: '过敏史 为必填项' }] }],
          }),
        'PUT /api/v1/entities/patient': (call) => json(200, { ...body(call), version: 4 }),
        'GET /api/v1/entities': () => json(200, { items: [saved], page: 1, per_page: 50 }),
      },
    })
    expect(wrapper.find('h1').text()).toBe('设计表单：患者')
    const titles = wrapper.findAll('.kd-canvas-section__title').map((s) => s.text())
    expect(titles).toEqual(['基本信息', '消费', '其他'])
    await wrapper.find('[data-field="allergies"]').trigger('click')
    await wrapper.find('[data-test="prop-required"] input').setValue(true)
    await eventually(() => expect(wrapper.find('[data-test="check-status"]').attributes('data-state')).toBe('passed'))
    expect(server.calls.filter((c) => c.path === '/api/v1/entity-checks').at(-1)!.query.get('intent')).toBe('update')
    await wrapper.find('[data-test="save-form"]').trigger('click')
    await eventually(() => expect(document.querySelector('[data-test="impact-dialog"]')?.textContent).toContain('其中 2 条不符合'))
    expect(document.querySelector('[data-test="impact-examples"]')?.textContent).toContain('过敏史 为必填项')
    expect(server.calls.some((c) => c.method === 'PUT')).toBe(false)
    click('[data-test="impact-confirm"]')
    await eventually(() => expect(server.calls.some((c) => c.method === 'PUT')).toBe(true))
    const put = server.calls.find((c) => c.method === 'PUT')!
    expect(body(put).version).toBe(3)
    expect(body(put).fields.find((f) => f.name === 'allergies')?.required).toBe(true)
    await eventually(() => expect(wrapper.find('[data-test="designer-meta"]').text()).toContain('版本 4'))
  })

  it('on a 409 says who saved first, and keeps editing mine on top of theirs', async () => {
    const saved: EntityInfo = { ...patient, version: 3 }
    const theirs: EntityInfo = { ...patient, version: 4, label: { zh: '门诊患者', en: 'Patient' } }
    let puts = 0
    const { wrapper, server } = await mountSignedIn({
      me: admin,
      entities: [saved],
      route: '/design/forms/patient',
      handlers: {
        'GET /api/v1/entities/patient': () => json(200, puts === 0 ? saved : theirs),
        'POST /api/v1/entity-checks': (call) => passed(body(call), 'changed'),
        'POST /api/v1/entities/patient/impact': () => json(200, { invalid_records: 0, checked_records: 0, examples: [] }),
        'PUT /api/v1/entities/patient': (call) => {
          puts++
          if (puts === 1) return json(409, { error: { code: 'version_conflict', message: '已被他人修改（当前版本 4）', details: [] } })
          return json(200, { ...body(call), version: 5 })
        },
        'GET /api/v1/entities/patient/versions': () =>
          json(200, {
            items: [{ version: 4, saved_at: '2026-12-02T06:30:00.000000Z', saved_by: admin.user.id, summary: { fields_added: [], fields_removed: [], fields_changed: [], other_changed: true } }],
            page: 1,
            per_page: 1,
          }),
        'GET /api/v1/entities': () => json(200, { items: [theirs], page: 1, per_page: 50 }),
      },
    })
    await wrapper.find('[data-field="allergies"]').trigger('click')
    await type(wrapper, '[data-test="prop-label-zh"]', '过敏史（药物）')
    await eventually(() => expect(wrapper.find('[data-test="check-status"]').attributes('data-state')).toBe('passed'))
    await wrapper.find('[data-test="save-form"]').trigger('click')
    await eventually(() => expect(document.querySelector('[data-test="save-conflict-dialog"]')?.textContent).toContain('保存了版本 4'))
    click('[data-test="conflict-keep-mine"]')
    await settle()
    expect(wrapper.find('h1').text()).toBe('设计表单：门诊患者')
    expect(wrapper.find('[data-field="allergies"]').text()).toContain('过敏史（药物）')
    await eventually(() => expect(wrapper.find('[data-test="check-status"]').attributes('data-state')).toBe('passed'))
    await wrapper.find('[data-test="save-form"]').trigger('click')
    await eventually(() => expect(puts).toBe(2))
    const second = server.calls.filter((c) => c.method === 'PUT')[1]!
    expect(body(second).version).toBe(4)
    expect(body(second).label).toEqual({ zh: '门诊患者', en: 'Patient' })
  })

  it('asks before leaving unsaved changes, and stays when told to', async () => {
    const saved: EntityInfo = { ...patient, version: 3 }
    const { wrapper, router } = await mountSignedIn({
      me: admin,
      entities: [saved],
      route: '/design/forms/patient',
      handlers: {
        'GET /api/v1/entities/patient': () => json(200, saved),
        'POST /api/v1/entity-checks': (call) => passed(body(call), 'changed'),
      },
    })
    // Nothing changed yet: no question.
    expect(wrapper.find('[data-test="designer-meta"]').text()).not.toContain('有未保存的修改')
    await wrapper.find('[data-test="palette-email"]').trigger('click')
    expect(wrapper.find('[data-test="designer-meta"]').text()).toContain('有未保存的修改')
    const leaving = router.push('/design/forms')
    await eventually(() => expect(document.querySelector('.el-message-box')?.textContent).toContain('离开此页将丢失对表单的修改'))
    const stay = [...document.querySelectorAll<HTMLButtonElement>('.el-message-box button')].find((b) => b.textContent?.includes('留在此页'))!
    stay.click()
    await leaving
    await settle()
    expect(router.currentRoute.value.fullPath).toBe('/design/forms/patient')
    expect(wrapper.find('[data-field="email"]').exists()).toBe(true)
  })

  it('keeps a design across an expired session and puts it back after log-in', async () => {
    const saved: EntityInfo = { ...patient, version: 3 }
    const { wrapper, router, session } = await mountSignedIn({
      me: admin,
      entities: [saved],
      route: '/design/forms/patient',
      handlers: {
        'GET /api/v1/entities/patient': () => json(200, saved),
        'POST /api/v1/entity-checks': (call) => passed(body(call), 'changed'),
      },
    })
    await wrapper.find('[data-test="palette-email"]').trigger('click')
    await type(wrapper, '[data-test="prop-label-zh"]', '邮箱')
    session.expire()
    await router.push({ name: 'login', query: { redirect: '/design/forms/patient' } })
    await settle()
    session.me = admin
    session.status = 'signed_in'
    await router.push('/design/forms/patient')
    await settle()
    await eventually(() => expect(wrapper.find('[data-field="email"]').exists()).toBe(true))
    expect(wrapper.find('[data-field="email"]').text()).toContain('邮箱')
    expect(wrapper.find('[data-test="designer-meta"]').text()).toContain('有未保存的修改')
    await wrapper.find('[data-field="email"]').trigger('click')
    // Not saved yet: its identifier may still change; the saved ones stay fixed.
    expect(wrapper.find('[data-test="prop-name"]').attributes('disabled')).toBeUndefined()
    await wrapper.find('[data-field="name"]').trigger('click')
    expect(wrapper.find('[data-test="prop-name"]').attributes('disabled')).toBeDefined()
  })

  it('previews the draft through the record form, with its display rules', async () => {
    const saved: EntityInfo = { ...patient, version: 3 }
    const { wrapper } = await mountSignedIn({
      me: admin,
      entities: [saved],
      route: '/design/forms/patient',
      handlers: {
        'GET /api/v1/entities/patient': () => json(200, saved),
        'POST /api/v1/entity-checks': (call) => passed(body(call), 'unchanged'),
      },
    })
    await wrapper.find('[data-test="preview-toggle"] input').setValue(true)
    await settle()
    const preview = wrapper.find('[data-test="form-preview"]')
    expect(preview.findAll('.kd-record-form__section-title').map((s) => s.text())).toEqual(['基本信息', '消费', '其他'])
    expect(preview.find('[data-test="form-item-name"] label').text()).toBe('姓名')
    // 妊娠 shows only for 性别 F.
    expect(preview.find('[data-test="form-item-pregnant"]').exists()).toBe(false)
    await preview.find('[data-test="preview-language"] input[value="en"]').setValue(true)
    await settle()
    expect(preview.find('[data-test="form-item-name"] label').text()).toBe('Name')
  })

  it('lists the saved versions and opens one read-only', async () => {
    const saved: EntityInfo = { ...patient, version: 2 }
    const { wrapper, server } = await mountSignedIn({
      me: admin,
      entities: [saved],
      route: '/design/forms/patient',
      handlers: {
        'GET /api/v1/entities/patient': () => json(200, saved),
        'POST /api/v1/entity-checks': (call) => passed(body(call), 'unchanged'),
        'GET /api/v1/entities/patient/versions': () =>
          json(200, {
            items: [
              { version: 2, saved_at: '2026-12-02T06:30:00.000000Z', saved_by: admin.user.id, summary: { fields_added: ['tags'], fields_removed: [], fields_changed: ['name'], other_changed: false } },
              { version: 1, saved_at: '2026-12-01T06:30:00.000000Z', saved_by: admin.user.id, summary: { fields_added: ['name', 'phone'], fields_removed: [], fields_changed: [], other_changed: false } },
            ],
            total: 2,
            page: 1,
            per_page: 50,
          }),
        'GET /api/v1/entities/patient/versions/1': () =>
          json(200, {
            version: 1,
            saved_at: '2026-12-01T06:30:00.000000Z',
            saved_by: admin.user.id,
            definition: { name: 'patient', fields: [{ name: 'name', type: 'text', label: { zh: '姓名' } }, { name: 'phone', type: 'phone', label: { zh: '手机号' } }] },
          }),
      },
    })
    await wrapper.find('[data-test="open-versions"]').trigger('click')
    await eventually(() => expect(document.querySelectorAll('[data-test="version-list"] li')).toHaveLength(2))
    const list = document.querySelector('[data-test="version-list"]')!.textContent!
    expect(list).toContain('版本 2')
    expect(list).toContain('当前版本')
    expect(list).toContain('新增 1 个字段')
    expect(list).toContain('修改 1 个字段')
    click('[data-test="version-1"]')
    await eventually(() => expect(document.querySelector('[data-test="version-preview"] [data-test="form-item-phone"]')).not.toBeNull())
    expect(server.calls.some((c) => c.path === '/api/v1/entities/patient/versions/1')).toBe(true)
    expect(document.querySelector(`[data-test="version-preview"] .el-input__inner`)).toBeNull()
  })
})
