import { beforeEach, describe, expect, it } from 'vitest'
import type { RecordItem } from '@/api/types'
import { admin, json, patient } from '@/test/fixtures'
import { eventually, mountSignedIn, settle } from '@/test/mount'

const ID = '0190c7d2-0000-7000-8000-000000000001'

function stored(version: number, data: Record<string, unknown>): RecordItem {
  return {
    id: ID,
    entity: 'patient',
    version,
    data,
    created_at: '2026-12-01T00:00:00.000000Z',
    created_by: admin.user.id,
    updated_at: '2026-12-02T00:00:00.000000Z',
    updated_by: admin.user.id,
  }
}

function click(selector: string): void {
  const target = document.querySelector<HTMLElement>(selector)
  if (!target) throw new Error(`nothing matches ${selector}`)
  target.click()
}

describe('the record form page', () => {
  beforeEach(() => {
    document.body.innerHTML = ''
  })

  it('creates a record from what was filled and goes back to the list', async () => {
    const { wrapper, server, router } = await mountSignedIn({
      me: admin,
      entities: [patient],
      route: '/records/patient/new',
      handlers: {
        'GET /api/v1/list-views': () => json(200, { items: [], page: 1, per_page: 1 }),
        'POST /api/v1/records/patient': (call) => json(201, stored(1, (call.body as { data: Record<string, unknown> }).data), { etag: '"1"' }),
      },
    })
    expect(wrapper.find('h1').text()).toBe('新建患者')
    expect(wrapper.find('[data-test="open-360"]').exists()).toBe(false)
    await wrapper.find('#field-name').setValue('张三')
    await wrapper.find('#field-phone').setValue('13812345678')
    await wrapper.find('[data-test="save"]').trigger('click')
    await settle()
    const post = server.calls.find((c) => c.method === 'POST')
    expect(post?.body).toEqual({ data: { name: '张三', phone: '13812345678', total_spent: 0 } })
    expect(post?.headers.get('X-CSRF-Token')).toBe('admin-csrf')
    await eventually(() => expect(router.currentRoute.value.fullPath).toBe('/records/patient'))
  })

  it('does not send a form the browser finds wrong', async () => {
    const { wrapper, server } = await mountSignedIn({
      me: admin,
      entities: [patient],
      route: '/records/patient/new',
    })
    await wrapper.find('#field-id_number').setValue('11010519491231002Y')
    await wrapper.find('[data-test="save"]').trigger('click')
    await settle()
    expect(server.calls.filter((c) => c.method === 'POST')).toEqual([])
    expect(wrapper.find('[data-test="form-errors"]').text()).toContain('请修正标出的字段后再保存')
    await eventually(() => {
      expect(wrapper.find('[data-test="form-item-name"] .el-form-item__error').text()).toBe('姓名 为必填项')
      expect(wrapper.find('[data-test="form-item-id_number"] .el-form-item__error').text()).toBe('身份证号 应为 18 位身份证号')
    })
  })

  it('places the server’s field errors under their fields, and the rest in the banner', async () => {
    const { wrapper } = await mountSignedIn({
      me: admin,
      entities: [patient],
      route: '/records/patient/new',
      handlers: {
        'POST /api/v1/records/patient': () =>
          json(409, {
            error: {
              code: 'unique_violation',
              message: '身份证号 已存在',
              details: [
                { field: 'id_number', code: 'unique_violation', message: '身份证号 与已有记录重复' },
                { field: 'nickname', code: 'unknown_field', message: '未知字段 nickname' },
              ],
            },
          }),
      },
    })
    await wrapper.find('#field-name').setValue('张三')
    await wrapper.find('#field-id_number').setValue('11010519491231002X')
    await wrapper.find('[data-test="save"]').trigger('click')
    await settle()
    await eventually(() =>
      expect(wrapper.find('[data-test="form-item-id_number"] .el-form-item__error').text()).toBe('身份证号 与已有记录重复'),
    )
    const banner = wrapper.find('[data-test="form-errors"]').text()
    expect(banner).toContain('请修正标出的字段后再保存')
    expect(banner).toContain('未知字段 nickname')
  })

  it('on a 409 shows what the user typed beside the server’s values, and re-applies on the new version', async () => {
    let reads = 0
    let patches = 0
    const { wrapper, server } = await mountSignedIn({
      me: admin,
      entities: [patient],
      route: `/records/patient/${ID}`,
      handlers: {
        [`GET /api/v1/records/patient/${ID}`]: () => {
          reads++
          return reads === 1
            ? json(200, stored(3, { name: '张三', dept: 'cardiology' }))
            : json(200, stored(4, { name: '张三', dept: 'oncology', total_spent: 88 }))
        },
        [`PATCH /api/v1/records/patient/${ID}`]: (call) => {
          patches++
          if (patches === 1) {
            return json(409, { error: { code: 'version_conflict', message: '记录已被修改', details: [] } })
          }
          return json(200, stored(5, { name: '张三丰', dept: 'oncology', total_spent: 88, ...(call.body as { data: object }).data }))
        },
      },
    })
    expect(wrapper.find('h1').text()).toBe('张三')
    await wrapper.find('#field-name').setValue('张三丰')
    await wrapper.find('[data-test="save"]').trigger('click')
    await settle()

    await eventually(() => {
      expect(document.body.textContent).toContain('记录已被他人修改')
      const rows = [...document.querySelectorAll('.el-dialog .el-table__body tr')].map((r) => r.textContent)
      expect(rows).toEqual(['姓名张三丰张三'])
    })

    click('[data-test="conflict-reapply"]')
    await settle()
    await eventually(() => expect(server.calls.filter((c) => c.method === 'PATCH')).toHaveLength(2))
    const second = server.calls.filter((c) => c.method === 'PATCH')[1]
    expect(second?.headers.get('If-Match')).toBe('"4"')
    expect(second?.body).toEqual({ data: { name: '张三丰' } })
    await eventually(() => expect(wrapper.find('.kd-record-page__meta').text()).toContain('版本 5'))
  })

  it('unmasks a sensitive value on request, and does not send it back unchanged', async () => {
    const { wrapper, server } = await mountSignedIn({
      me: admin,
      entities: [patient],
      route: `/records/patient/${ID}`,
      handlers: {
        [`GET /api/v1/records/patient/${ID}`]: (call) =>
          json(200, stored(2, { name: '张三', phone: call.query.get('unmask') === 'phone' ? '13812345678' : '138****5678' })),
        [`PATCH /api/v1/records/patient/${ID}`]: (call) => json(200, stored(3, { name: '张三', ...(call.body as { data: object }).data })),
      },
    })
    const phone = wrapper.find('[data-test="form-item-phone"]')
    expect((phone.find('input').element as HTMLInputElement).value).toBe('138****5678')
    // A stored record leads to its 360° view and its print view.
    expect(wrapper.find('[data-test="open-360"]').element.closest('a')?.getAttribute('href')).toBe(`/records/patient/${ID}/360`)
    expect(wrapper.find('[data-test="open-print"]').element.closest('a')?.getAttribute('href')).toBe(`/records/patient/${ID}/print`)
    await phone.find('button').trigger('click')
    await eventually(() => expect((phone.find('input').element as HTMLInputElement).value).toBe('13812345678'))
    await wrapper.find('#field-name').setValue('张三丰')
    await wrapper.find('[data-test="save"]').trigger('click')
    await eventually(() => expect(server.calls.find((c) => c.method === 'PATCH')?.body).toEqual({ data: { name: '张三丰' } }))
  })

  it('keeps what the user typed when the session runs out, and gives it back after log-in', async () => {
    const { wrapper, router, session } = await mountSignedIn({
      me: admin,
      entities: [patient],
      route: '/records/patient/new',
      handlers: {
        'POST /api/v1/records/patient': () => json(401, { error: { code: 'unauthenticated', message: '请先登录', details: [] } }),
      },
    })
    await wrapper.find('#field-name').setValue('张三')
    await wrapper.find('#field-phone').setValue('13812345678')
    await wrapper.find('[data-test="save"]').trigger('click')
    await settle()
    expect(session.status).toBe('anonymous')
    expect(session.expired).toBe(true)
    // The app sends the user to log in; leaving asks nothing and keeps the draft.
    await router.push({ name: 'login', query: { redirect: '/records/patient/new' } })
    await settle()
    expect(document.body.textContent).not.toContain('有未保存的修改')

    session.me = admin
    session.status = 'signed_in'
    await router.push('/records/patient/new')
    await eventually(() => {
      expect((wrapper.find('#field-name').element as HTMLInputElement).value).toBe('张三')
      expect((wrapper.find('#field-phone').element as HTMLInputElement).value).toBe('13812345678')
    })
    expect(document.body.textContent).toContain('已恢复您登录前未保存的内容')
  })
})
