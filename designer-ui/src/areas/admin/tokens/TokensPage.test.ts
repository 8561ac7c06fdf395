import { beforeEach, describe, expect, it } from 'vitest'
import type { ApiToken } from '@/api/types'
import { json, nurse, patient } from '@/test/fixtures'
import { eventually, mountSignedIn, settle } from '@/test/mount'

const future = new Date(Date.now() + 30 * 86_400_000).toISOString()
const his: ApiToken = { id: '0190c7d2-0000-7000-8000-0000000000c1', user_id: nurse.user.id, name: 'HIS 同步', created_at: '2026-12-01T00:00:00Z', last_used_at: '2026-12-02T01:00:00Z', expires_at: future, revoked_at: null }
const old: ApiToken = { ...his, id: '0190c7d2-0000-7000-8000-0000000000c2', name: '旧接口', last_used_at: null, revoked_at: '2026-12-01T05:00:00Z' }
const page = (items: unknown[]) => json(200, { items, total: items.length, page: 1, per_page: items.length || 1 })
const VALUE = 'kd_3q2XhQ9m1V0xYbqPZz8dY7h2nM4cR5tU6wE0aS1dF2g'

function button(text: string): HTMLElement {
  const found = [...document.querySelectorAll<HTMLElement>('button')].find((b) => b.textContent?.trim() === text)
  if (!found) throw new Error(`no button ${text}`)
  return found
}

describe('my API tokens', () => {
  beforeEach(() => {
    document.body.innerHTML = ''
  })

  it('lists the caller’s tokens with their state, to anyone (no right needed)', async () => {
    const { wrapper } = await mountSignedIn({
      me: nurse,
      entities: [patient],
      route: '/account/tokens',
      handlers: { 'GET /api/v1/tokens': () => page([old, his]) },
    })
    const rows = wrapper.findAll('[data-test="tokens-table"] .el-table__body-wrapper tr')
    expect(rows[0]!.text()).toContain('HIS 同步')
    expect(rows[0]!.text()).toContain('有效')
    expect(rows[0]!.text()).toContain('撤销')
    expect(rows[1]!.text()).toContain('已撤销')
    expect(rows[1]!.text()).toContain('从未使用')
    expect(rows[1]!.find('[data-test="revoke-token"]').exists()).toBe(false)
  })

  it('creates a token and shows its value once', async () => {
    let tokens: ApiToken[] = []
    const { wrapper, server } = await mountSignedIn({
      me: nurse,
      entities: [patient],
      route: '/account/tokens',
      handlers: {
        'GET /api/v1/tokens': () => page(tokens),
        'POST /api/v1/tokens': (call) => {
          tokens = [his]
          return json(201, { ...his, name: (call.body as { name: string }).name, token: VALUE })
        },
      },
    })
    expect(wrapper.find('[data-test="tokens-empty"]').text()).toContain('您还没有 API 令牌')
    await wrapper.find('[data-test="new-token"]').trigger('click')
    await settle()
    button('创建').click()
    await eventually(() => expect(document.querySelector('[data-test="form-item-token-name"] .el-form-item__error')?.textContent).toContain('请输入名称'))
    const name = document.querySelector<HTMLInputElement>('input[name="token-name"]')!
    name.value = 'HIS 同步'
    name.dispatchEvent(new Event('input'))
    button('创建').click()
    await eventually(() => expect(document.querySelector<HTMLInputElement>('[data-test="token-value"]')?.value).toBe(VALUE))
    const body = server.calls.find((c) => c.method === 'POST')?.body as { name: string; expires_at: string }
    expect(body.name).toBe('HIS 同步')
    // 90 days by default.
    expect(Math.round((Date.parse(body.expires_at) - Date.now()) / 86_400_000)).toBe(90)
    expect(document.querySelector('[data-test="token-created"]')?.textContent).toContain('关闭此窗口后，任何人（包括您和管理员）都无法再查看此令牌')
    button('我已保存，关闭').click()
    await settle()
    expect(document.body.innerHTML).not.toContain(VALUE)
    expect(wrapper.find('[data-test="tokens-table"]').text()).toContain('HIS 同步')
  })

  it('revokes a token after asking', async () => {
    const { wrapper, server } = await mountSignedIn({
      me: nurse,
      entities: [patient],
      route: '/account/tokens',
      handlers: {
        'GET /api/v1/tokens': () => page([his]),
        [`DELETE /api/v1/tokens/${his.id}`]: () => new Response(null, { status: 204 }),
      },
    })
    await wrapper.find('[data-test="revoke-token"]').trigger('click')
    await eventually(() => expect(document.querySelector('.el-message-box')?.textContent).toContain('撤销令牌“HIS 同步”？'))
    ;[...document.querySelectorAll<HTMLElement>('.el-message-box button')].find((b) => b.textContent?.trim() === '撤销')!.click()
    await eventually(() => expect(server.calls.some((c) => c.method === 'DELETE')).toBe(true))
  })

  it('puts the server’s cap on the expiry under its field', async () => {
    const { wrapper } = await mountSignedIn({
      me: nurse,
      entities: [patient],
      route: '/account/tokens',
      handlers: {
        'GET /api/v1/tokens': () => page([]),
        'POST /api/v1/tokens': () =>
          json(400, { error: { code: 'bad_request', message: '令牌有效期最长 30 天 / A token expires at most 30 days from now', details: [{ field: 'expires_at', code: 'too_late', message: '令牌有效期最长 30 天 / A token expires at most 30 days from now' }] } }),
      },
    })
    await wrapper.find('[data-test="new-token"]').trigger('click')
    await settle()
    const name = document.querySelector<HTMLInputElement>('input[name="token-name"]')!
    name.value = 'LIS'
    name.dispatchEvent(new Event('input'))
    button('创建').click()
    await eventually(() => expect(document.querySelector('[data-test="form-item-token-days"] .el-form-item__error')?.textContent?.trim()).toBe('令牌有效期最长 30 天'))
  })
})
