// Shapes the unit tests share: a patient definition, users as /me answers them, a fake server.
import { vi } from 'vitest'
import type { EntityInfo, Me } from '@/api/types'

export const patient: EntityInfo = {
  name: 'patient',
  version: 3,
  label: { zh: '患者', en: 'Patient' },
  fields: [
    { name: 'name', type: 'text', label: { zh: '姓名', en: 'Name' }, required: true, max_length: 20 },
    { name: 'id_number', type: 'id_card', label: { zh: '身份证号', en: 'ID number' }, unique: true },
    { name: 'phone', type: 'phone', label: { zh: '手机号', en: 'Mobile' } },
    {
      name: 'dept',
      type: 'select',
      label: { zh: '科室', en: 'Department' },
      options: [
        { value: 'cardiology', label: { zh: '心内科', en: 'Cardiology' }, color: '#d9480f' },
        { value: 'oncology', label: { zh: '肿瘤科', en: 'Oncology' } },
      ],
    },
    { name: 'birth_date', type: 'date', label: { zh: '出生日期', en: 'Birth date' } },
    { name: 'total_spent', type: 'money', label: { zh: '累计消费', en: 'Total spent' }, min: 0, default: 0 },
    { name: 'pregnant', type: 'boolean', label: { zh: '妊娠', en: 'Pregnant' }, visible_if: { field: 'sex', op: 'eq', value: 'F' } },
    { name: 'sex', type: 'select', label: { zh: '性别', en: 'Sex' }, options: [{ value: 'F' }, { value: 'M' }] },
    { name: 'closed', type: 'boolean', label: { zh: '已结案', en: 'Closed' } },
    { name: 'summary', type: 'textarea', label: { zh: '结案小结', en: 'Summary' }, readonly_if: { field: 'closed', op: 'eq', value: true } },
    { name: 'code', type: 'autonumber', label: { zh: '编号', en: 'Number' }, prefix: 'P' },
    { name: 'allergies', type: 'text', label: { zh: '过敏史', en: 'Allergies' } },
    { name: 'seen_at', type: 'datetime', label: { zh: '就诊时间', en: 'Seen at' } },
    { name: 'tags', type: 'tags', label: { zh: '标签', en: 'Tags' } },
  ],
  layout: [
    { section: { zh: '基本信息', en: 'Basics' }, columns: 2, fields: ['name', 'id_number', 'phone', 'dept', 'sex', 'pregnant'] },
    { section: { zh: '消费', en: 'Spending' }, columns: 1, fields: ['total_spent', 'code'] },
  ],
}

function user(overrides: Partial<Me['user']> = {}): Me['user'] {
  return {
    id: '0190c7d2-0000-7000-8000-0000000000aa',
    username: 'nurse_li',
    display_name: '李护士',
    is_admin: false,
    roles: ['nurse'],
    departments: ['cardiology'],
    disabled: false,
    created_at: '2026-12-01T00:00:00.000000Z',
    updated_at: '2026-12-01T00:00:00.000000Z',
    version: 1,
    ...overrides,
  }
}

/** A nurse: reads and updates patients, sees the ID number masked and allergies not at all. */
export const nurse: Me = {
  user: user(),
  permissions: [
    { entity: 'patient', actions: ['read', 'update'], rows: 'department', fields: { id_number: 'masked', allergies: 'hidden', phone: 'read' } },
  ],
  rights: [],
  csrf_token: 'nurse-csrf',
  timezone: 'Asia/Shanghai',
}

export const admin: Me = {
  user: user({ id: '0190c7d2-0000-7000-8000-0000000000ad', username: 'admin', display_name: null, is_admin: true, roles: [] }),
  permissions: [],
  rights: [],
  csrf_token: 'admin-csrf',
  timezone: 'Asia/Shanghai',
}

export interface FakeCall {
  method: string
  path: string
  query: URLSearchParams
  headers: Headers
  body: unknown
}

/** A fake server: each handler answers by method and path; every call is kept. */
export function fakeServer(handlers: Record<string, (call: FakeCall) => Response | Promise<Response>>) {
  const calls: FakeCall[] = []
  const fetch = vi.fn(async (request: Request) => {
    const url = new URL(request.url)
    const text = await request.text()
    const call: FakeCall = {
      method: request.method,
      path: url.pathname,
      query: url.searchParams,
      headers: request.headers,
      body: text ? parseBody(text, request.headers.get('content-type')) : undefined,
    }
    calls.push(call)
    const handler = handlers[`${request.method} ${url.pathname}`]
    if (!handler) return json(404, { error: { code: 'not_found', message: `no fake for ${request.method} ${url.pathname}`, details: [] } })
    return handler(call)
  })
  return { fetch, calls }
}

/** JSON bodies parsed; anything else (an imported file) as its text. */
function parseBody(text: string, type: string | null): unknown {
  return type?.includes('json') ? (JSON.parse(text) as unknown) : text
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } })
}
