import { beforeEach, describe, expect, it } from 'vitest'
import type { ListView } from '@/api/types'
import type { FakeCall } from '@/test/fixtures'
import { admin, json, nurse, patient } from '@/test/fixtures'
import { eventually, mountSignedIn, settle } from '@/test/mount'

const VIEW_ID = '0190c7d2-0000-7000-8000-0000000000f1'

function view(name: string, state: Record<string, unknown>): ListView {
  return { id: VIEW_ID, entity: 'patient', name, state: { v: 1, ...state }, created_at: '2026-12-01T00:00:00Z', updated_at: '2026-12-02T00:00:00Z' }
}

const cardiology = { q: '', filters: { dept: { options: ['cardiology'] } }, sort: '-total_spent', columns: null, perPage: 50 }
const emptyPage = () => json(200, { items: [], page: 1, per_page: 50, total: 0 })

async function openMenu(): Promise<void> {
  document.querySelector<HTMLElement>('[data-test="views-button"]')!.click()
  await settle()
}

async function pick(test: string): Promise<void> {
  await eventually(() => expect(document.querySelector(`[data-test="${test}"]`)).not.toBeNull())
  document.querySelector<HTMLElement>(`[data-test="${test}"]`)!.click()
  await settle()
}

async function typeName(name: string): Promise<void> {
  await eventually(() => expect(document.querySelector('[data-test="view-name"]')).not.toBeNull())
  const input = document.querySelector<HTMLInputElement>('[data-test="view-name"] input, input[data-test="view-name"]')!
  input.value = name
  input.dispatchEvent(new Event('input'))
  await settle()
  document.querySelector<HTMLElement>('[data-test="view-name-save"]')!.click()
  await settle()
}

async function answerBox(which: 'confirm' | 'cancel'): Promise<string> {
  await eventually(() => expect(document.querySelector('.el-message-box')).not.toBeNull())
  const box = document.querySelector<HTMLElement>('.el-message-box')!
  const text = box.textContent ?? ''
  const buttons = [...box.querySelectorAll<HTMLElement>('.el-message-box__btns .el-button')]
  ;(which === 'confirm' ? buttons[buttons.length - 1] : buttons[0])!.click()
  await settle()
  return text
}

const buttonText = () => document.querySelector('[data-test="views-button"]')!.textContent?.trim()

describe('the 视图 menu of a list', () => {
  beforeEach(() => {
    document.body.innerHTML = ''
    localStorage.clear()
  })

  it('saves the list as it is under a name, and shows it as the view in use', async () => {
    const f = encodeURIComponent(JSON.stringify(cardiology.filters))
    const { server } = await mountSignedIn({
      me: admin,
      entities: [patient],
      route: `/records/patient?sort=-total_spent&f=${f}`,
      handlers: {
        'GET /api/v1/records/patient': emptyPage,
        'GET /api/v1/list-views': () => json(200, { items: [], page: 1, per_page: 1 }),
        'POST /api/v1/list-views': (call: FakeCall) => {
          const body = call.body as { name: string; state: Record<string, unknown> }
          return json(201, { ...view(body.name, {}), state: body.state })
        },
      },
    })
    expect(server.calls.find((c) => c.path === '/api/v1/list-views')!.query.get('entity')).toBe('patient')
    expect(buttonText()).toBe('视图')
    await openMenu()
    await pick('view-save')
    await typeName('心内科高消费')
    const post = server.calls.find((c) => c.method === 'POST' && c.path === '/api/v1/list-views')!
    expect(post.body).toEqual({ entity: 'patient', name: '心内科高消费', state: { v: 1, ...cardiology } })
    await eventually(() => expect(buttonText()).toBe('视图：心内科高消费'))
  })

  it('puts a taken name under the name field', async () => {
    await mountSignedIn({
      me: admin,
      entities: [patient],
      route: '/records/patient',
      handlers: {
        'GET /api/v1/records/patient': emptyPage,
        'GET /api/v1/list-views': () => json(200, { items: [], page: 1, per_page: 1 }),
        'POST /api/v1/list-views': () => json(409, { error: { code: 'conflict', message: '名称已存在', details: [] } }),
      },
    })
    await openMenu()
    await pick('view-save')
    await typeName('我的患者')
    await eventually(() =>
      expect(document.querySelector('[data-test="view-name-dialog"] .el-form-item__error')?.textContent).toContain('已有名为“我的患者”的视图'),
    )
  })

  it('applies a view: its search, filters, sort and page size go to the address', async () => {
    const { router, server } = await mountSignedIn({
      me: admin,
      entities: [patient],
      route: '/records/patient?q=李',
      handlers: {
        'GET /api/v1/records/patient': emptyPage,
        'GET /api/v1/list-views': () => json(200, { items: [view('心内科', cardiology)], page: 1, per_page: 1, total: 1 }),
      },
    })
    await openMenu()
    await pick('view-心内科')
    await eventually(() => expect(router.currentRoute.value.query).toEqual({ sort: '-total_spent', f: JSON.stringify(cardiology.filters) }))
    const last = server.calls.filter((c) => c.path === '/api/v1/records/patient').pop()!
    expect(JSON.parse(last.query.get('filter')!)).toEqual({ field: 'dept', op: 'eq', value: 'cardiology' })
    expect(buttonText()).toBe('视图：心内科')
  })

  it('says why the server refused a view, and deletes it when asked', async () => {
    const f = JSON.stringify(cardiology.filters)
    const { router, server } = await mountSignedIn({
      me: admin,
      entities: [patient],
      route: '/records/patient',
      handlers: {
        'GET /api/v1/records/patient': (call: FakeCall) =>
          call.query.get('filter') ? json(400, { error: { code: 'bad_request', message: '未知字段：dept', details: [] } }) : emptyPage(),
        'GET /api/v1/list-views': () => json(200, { items: [view('心内科', cardiology)], page: 1, per_page: 1, total: 1 }),
        [`DELETE /api/v1/list-views/${VIEW_ID}`]: () => new Response(null, { status: 204 }),
      },
    })
    await openMenu()
    await pick('view-心内科')
    expect(router.currentRoute.value.query.f).toBe(f)
    const text = await answerBox('confirm')
    expect(text).toContain('视图“心内科”无法应用：未知字段：dept')
    await eventually(() => expect(server.calls.some((c) => c.method === 'DELETE')).toBe(true))
    await eventually(() => expect(router.currentRoute.value.query).toEqual({}))
  })

  it('warns before applying a view on fields the user no longer sees', async () => {
    const { router, server } = await mountSignedIn({
      me: nurse,
      entities: [patient],
      route: '/records/patient',
      handlers: {
        'GET /api/v1/records/patient': emptyPage,
        'GET /api/v1/list-views': () => json(200, { items: [view('过敏', { filters: { allergies: { text: '青霉素' } } })], page: 1, per_page: 1, total: 1 }),
        [`DELETE /api/v1/list-views/${VIEW_ID}`]: () => new Response(null, { status: 204 }),
      },
    })
    await openMenu()
    await pick('view-过敏')
    const text = await answerBox('confirm')
    expect(text).toContain('allergies')
    await eventually(() => expect(server.calls.some((c) => c.method === 'DELETE' && c.path === `/api/v1/list-views/${VIEW_ID}`)).toBe(true))
    expect(router.currentRoute.value.query).toEqual({})
  })

  it('overwrites a view with the list as it is, renames and deletes it from the manager', async () => {
    const { server } = await mountSignedIn({
      me: admin,
      entities: [patient],
      route: '/records/patient?q=王',
      handlers: {
        'GET /api/v1/records/patient': emptyPage,
        'GET /api/v1/list-views': () => json(200, { items: [view('心内科', cardiology)], page: 1, per_page: 1, total: 1 }),
        [`PUT /api/v1/list-views/${VIEW_ID}`]: (call: FakeCall) => {
          const body = call.body as { name: string; state: Record<string, unknown> }
          return json(200, { ...view(body.name, {}), state: body.state })
        },
        [`DELETE /api/v1/list-views/${VIEW_ID}`]: () => new Response(null, { status: 204 }),
      },
    })
    await openMenu()
    await pick('view-manage')
    await pick('overwrite-心内科')
    await answerBox('confirm')
    const put = server.calls.find((c) => c.method === 'PUT')!
    expect(put.body).toEqual({ name: '心内科', state: { v: 1, q: '王', filters: {}, sort: '', columns: null, perPage: 50 } })
    await eventually(() => expect(buttonText()).toBe('视图：心内科'))

    await pick('rename-心内科')
    await typeName('王姓患者')
    const renamed = server.calls.filter((c) => c.method === 'PUT')[1]!
    expect((renamed.body as { name: string }).name).toBe('王姓患者')

    await pick('delete-王姓患者')
    await answerBox('confirm')
    await eventually(() => expect(server.calls.some((c) => c.method === 'DELETE')).toBe(true))
    await eventually(() => expect(buttonText()).toBe('视图'))
  })
})
