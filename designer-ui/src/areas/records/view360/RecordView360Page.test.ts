import { beforeEach, describe, expect, it } from 'vitest'
import type { EntityInfo, RecordItem } from '@/api/types'
import { admin, json, patient } from '@/test/fixtures'
import { eventually, mountSignedIn } from '@/test/mount'

const PATIENT = '0190c7d2-0000-7000-8000-000000000001'
const visit: EntityInfo = {
  name: 'visit',
  version: 1,
  label: { zh: '就诊', en: 'Visit' },
  fields: [
    { name: 'patient', type: 'reference', entity: 'patient', label: { zh: '患者', en: 'Patient' }, required: true },
    { name: 'visit_date', type: 'date', label: { zh: '就诊日期', en: 'Date' } },
    { name: 'summary', type: 'text', label: { zh: '诊断', en: 'Diagnosis' } },
  ],
}

function rec(entity: string, id: string, version: number, data: Record<string, unknown>, at = '2026-12-01T00:00:00Z'): RecordItem {
  return { id, entity, version, data, created_at: at, created_by: admin.user.id, updated_at: at, updated_by: admin.user.id }
}

const visits = [
  rec('visit', '0190c7d2-0000-7000-8000-0000000000b2', 1, { patient: PATIENT, visit_date: '2026-12-02', summary: '高血压复诊' }, '2026-12-02T02:00:00Z'),
  rec('visit', '0190c7d2-0000-7000-8000-0000000000b1', 1, { patient: PATIENT, visit_date: '2026-11-20', summary: '初诊' }, '2026-11-20T02:00:00Z'),
]

const view = {
  record: rec('patient', PATIENT, 2, { name: '张三', id_number: '110105********002X', phone: '138****5678', dept: 'cardiology', birth_date: '1949-12-31', tags: ['高血压'] }),
  related: [{ entity: 'visit', field: 'patient', total: 2, items: visits }],
  timeline: [
    { entity: 'patient', record_id: PATIENT, version: 2, op: 'update', changed_fields: ['phone'], actor: admin.user.id, at: '2026-12-03T02:00:00Z' },
    { entity: 'visit', record_id: visits[0]!.id, version: 1, op: 'create', changed_fields: ['patient', 'visit_date'], actor: 'someone-else-0000', at: '2026-12-02T02:00:00Z' },
    { entity: 'patient', record_id: PATIENT, version: 1, op: 'create', changed_fields: ['name', 'phone'], actor: 'system', at: '2026-11-01T02:00:00Z' },
  ],
}

const history = {
  page: 1,
  per_page: 1000,
  total: 2,
  items: [
    { version: 1, op: 'create', data: { name: '张三', phone: '139****0000' }, changed_fields: ['name', 'phone'], actor: 'system', at: '2026-11-01T02:00:00Z' },
    { version: 2, op: 'update', data: { name: '张三', phone: '138****5678' }, changed_fields: ['phone'], actor: admin.user.id, at: '2026-12-03T02:00:00Z' },
  ],
}

describe('the 360° view', () => {
  beforeEach(() => {
    document.body.innerHTML = ''
  })

  it('shows the header card, the related records by entity with their count, and the timeline', async () => {
    const { wrapper } = await mountSignedIn({
      me: admin,
      entities: [patient, visit],
      route: `/records/patient/${PATIENT}/360`,
      handlers: {
        [`GET /api/v1/records/patient/${PATIENT}/view360`]: () => json(200, view),
        [`GET /api/v1/records/patient/${PATIENT}/history`]: () => json(200, history),
        'GET /api/v1/users': () => json(200, { items: [], page: 1, per_page: 1000, total: 0 }),
      },
    })
    await eventually(() => expect(wrapper.find('[data-test="profile-card"]').exists()).toBe(true))
    expect(wrapper.find('h1').text()).toBe('张三 · 360° 视图')
    const card = wrapper.find('[data-test="profile-card"]').text()
    expect(card).toContain('张三')
    expect(card).toContain('110105********002X')
    expect(card).toContain('138****5678')
    expect(card).toContain('心内科')
    expect(card).toContain('高血压')
    expect(card).toMatch(/\d+ 岁/)
    expect(wrapper.find('.kd-profile__avatar').text()).toBe('张')

    const group = wrapper.find('[data-test="related-visit-patient"]')
    expect(group.find('h3').text()).toBe('就诊 2')
    expect(group.text()).toContain('高血压复诊')
    expect(group.text()).toContain('初诊')
    // Each related record links to its form; the reference back to the patient is no column.
    expect(group.findAll('a').map((a) => a.attributes('href'))).toContain(`/records/visit/${visits[0]!.id}`)
    expect(group.text()).not.toContain('患者')

    const items = wrapper.findAll('.el-timeline-item').map((i) => i.text())
    expect(items).toHaveLength(3)
    // Newest first: the phone change with its values before and after, masked as sent.
    expect(items[0]).toContain('修改了')
    expect(items[0]).toContain('手机号')
    expect(items[0]).toContain('139****0000')
    expect(items[0]).toContain('138****5678')
    expect(items[1]).toContain('新建了')
    expect(items[1]).toContain('就诊“高血压复诊”')
    expect(items[1]).toContain('用户 someone-')
    expect(items[2]).toContain('系统')
  })

  it('still shows the timeline when the history cannot be read', async () => {
    const { wrapper } = await mountSignedIn({
      me: admin,
      entities: [patient, visit],
      route: `/records/patient/${PATIENT}/360`,
      handlers: {
        [`GET /api/v1/records/patient/${PATIENT}/view360`]: () => json(200, { ...view, related: [] }),
        [`GET /api/v1/records/patient/${PATIENT}/history`]: () => json(403, { error: { code: 'forbidden', message: '无权查看', details: [] } }),
        'GET /api/v1/users': () => json(200, { items: [], page: 1, per_page: 1000, total: 0 }),
      },
    })
    await eventually(() => expect(wrapper.find('[data-test="timeline"]').exists()).toBe(true))
    expect(wrapper.findAll('.el-timeline-item')[0]!.text()).toContain('修改的字段：手机号')
    expect(wrapper.text()).toContain('没有引用此记录的数据')
  })

  it('says why when the record cannot be read', async () => {
    const { wrapper } = await mountSignedIn({
      me: admin,
      entities: [patient],
      route: `/records/patient/${PATIENT}/360`,
      handlers: {
        [`GET /api/v1/records/patient/${PATIENT}/view360`]: () => json(404, { error: { code: 'not_found', message: '记录不存在', details: [] } }),
        [`GET /api/v1/records/patient/${PATIENT}/history`]: () => json(404, { error: { code: 'not_found', message: '记录不存在', details: [] } }),
      },
    })
    await eventually(() => expect(wrapper.text()).toContain('记录不存在'))
    expect(wrapper.text()).toContain('加载失败')
  })
})
