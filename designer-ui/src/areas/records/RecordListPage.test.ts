import { beforeEach, describe, expect, it } from 'vitest'
import type { RecordItem } from '@/api/types'
import { admin, json, nurse, patient } from '@/test/fixtures'
import { mountSignedIn } from '@/test/mount'

function record(n: number, data: Record<string, unknown>): RecordItem {
  return {
    id: `0190c7d2-0000-7000-8000-00000000000${n}`,
    entity: 'patient',
    version: 1,
    data,
    created_at: '2026-12-01T00:00:00.000000Z',
    created_by: 'x',
    updated_at: '2026-12-02T06:30:00.000000Z',
    updated_by: 'x',
  }
}

/** The user's saved views of the list: none. */
const noViews = { 'GET /api/v1/list-views': () => json(200, { items: [], page: 1, per_page: 1 }) }

const page = (items: RecordItem[], extra: Record<string, unknown>) => json(200, { items, page: 1, per_page: 50, ...extra })

describe('the record list page', () => {
  beforeEach(() => {
    document.body.innerHTML = ''
    localStorage.clear()
  })

  it('shows the records formatted, with the total', async () => {
    const { wrapper, server } = await mountSignedIn({
      me: admin,
      entities: [patient],
      route: '/records/patient',
      handlers: {
        ...noViews,
        'GET /api/v1/records/patient': () =>
          page(
            [
              record(1, { name: '张三', id_number: '110105********002X', dept: 'cardiology', total_spent: 1234.5, birth_date: '1949-12-31' }),
              record(2, { name: '李四', dept: 'oncology', total_spent: 0 }),
            ],
            { total: 2 },
          ),
      },
    })
    expect(wrapper.find('h1').text()).toBe('患者')
    const text = wrapper.find('[data-test="records-table"]').text()
    expect(text).toContain('¥1,234.50')
    expect(text).toContain('心内科')
    expect(text).toContain('肿瘤科')
    expect(text).toContain('110105********002X')
    expect(text).toContain('1949-12-31')
    expect(wrapper.find('[data-test="total"]').text()).toBe('共 2 条')
    expect(server.calls[0]!.query.get('deleted')).toBeNull()
    // Each row opens its 360° view; the toolbar offers the import.
    const views360 = wrapper.findAll('[data-test="row-360"]').map((a) => a.attributes('href'))
    expect(views360).toContain('/records/patient/0190c7d2-0000-7000-8000-000000000001/360')
    expect(wrapper.find('[data-test="open-import"]').element.closest('a')?.getAttribute('href')).toBe('/records/patient/import')
  })

  it('says "10,000+" style when the server only estimates the total', async () => {
    const { wrapper } = await mountSignedIn({
      me: admin,
      entities: [patient],
      route: '/records/patient',
      handlers: { ...noViews, 'GET /api/v1/records/patient': () => page([record(1, { name: '张三' })], { total_estimate: 12_345 }) },
    })
    expect(wrapper.find('[data-test="total"]').text()).toBe('约 12,000+ 条')
  })

  it('says what to do next on an empty list', async () => {
    const { wrapper } = await mountSignedIn({
      me: admin,
      entities: [patient],
      route: '/records/patient',
      handlers: { ...noViews, 'GET /api/v1/records/patient': () => page([], { total: 0 }) },
    })
    const empty = wrapper.find('[data-test="empty-state"]')
    expect(empty.text()).toContain('还没有患者 — 新建 或 导入')
    expect(empty.text()).toContain('新建')
  })

  it('asks the server for the page, sort, search and filters in the address', async () => {
    const f = JSON.stringify({ dept: { options: ['cardiology'] }, total_spent: { min: 100 } })
    const { server } = await mountSignedIn({
      me: admin,
      entities: [patient],
      route: `/records/patient?page=2&sort=-total_spent&q=zs&f=${encodeURIComponent(f)}`,
      handlers: { ...noViews, 'GET /api/v1/records/patient': () => page([], { total: 0 }) },
    })
    const query = server.calls[0]!.query
    expect(query.get('page')).toBe('2')
    expect(query.get('sort')).toBe('-total_spent')
    expect(query.get('q')).toBe('zs')
    expect(JSON.parse(query.get('filter')!)).toEqual({
      and: [
        { field: 'dept', op: 'eq', value: 'cardiology' },
        { field: 'total_spent', op: 'gte', value: 100 },
      ],
    })
  })

  it('offers only what the role allows', async () => {
    const { wrapper } = await mountSignedIn({
      me: nurse,
      entities: [patient],
      route: '/records/patient',
      handlers: { ...noViews, 'GET /api/v1/records/patient': () => page([record(1, { name: '张三', id_number: '110105********002X' })], { total: 1 }) },
    })
    // The nurse reads and updates: no 新建, no delete, no recycle bin, no export.
    expect(wrapper.find('[data-test="new-record"]').exists()).toBe(false)
    expect(wrapper.find('[data-test="toggle-bin"]').exists()).toBe(false)
    expect(wrapper.find('[data-test="open-import"]').exists()).toBe(false)
    expect(wrapper.text()).not.toContain('导出')
    expect(wrapper.find('.el-table-column--selection').exists()).toBe(false)
    // Allergies are hidden from her: no column, no filter.
    expect(wrapper.find('[data-test="filter-allergies"]').exists()).toBe(false)
    // The ID number is masked for her: shown masked, no 显示.
    const row = wrapper.find('.el-table__body tr').text()
    expect(row).toContain('110105********002X')
    expect(row).not.toContain('显示')
  })

  it('says so when the entity is unknown or not readable', async () => {
    const { wrapper, server } = await mountSignedIn({
      me: admin,
      entities: [patient],
      route: '/records/nothing',
    })
    expect(wrapper.text()).toContain('找不到这类数据')
    expect(server.calls).toEqual([])
  })
})
