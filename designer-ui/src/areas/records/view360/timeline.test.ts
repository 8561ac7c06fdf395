import { describe, expect, it } from 'vitest'
import type { RecordChange, TimelineEntry } from '@/api/types'
import { buildTimeline, type TaskItem } from './timeline'

const PATIENT = '0190c7d2-0000-7000-8000-000000000001'
const VISIT = '0190c7d2-0000-7000-8000-0000000000v1'

function entry(entity: string, id: string, version: number, op: string, at: string, fields: string[] = []): TimelineEntry {
  return { entity, record_id: id, version, op, at, changed_fields: fields, actor: 'u1' }
}

function change(version: number, op: string, data: Record<string, unknown>, fields: string[]): RecordChange {
  return { version, op, data, changed_fields: fields, actor: 'u1', at: '2026-12-01T00:00:00Z' }
}

const viewed = { entity: 'patient', id: PATIENT }

describe('the 360° timeline', () => {
  it('puts the newest first, the record changes and those of the records referencing it', () => {
    const items = buildTimeline(
      viewed,
      [
        entry('patient', PATIENT, 1, 'create', '2026-12-01T08:00:00Z', ['name']),
        entry('visit', VISIT, 1, 'create', '2026-12-02T09:30:00Z', ['patient', 'date']),
        entry('patient', PATIENT, 2, 'update', '2026-12-03T10:00:00+08:00', ['phone']),
      ],
      null,
    )
    expect(items.map((i) => i.key)).toEqual([`patient/${PATIENT}/2`, `visit/${VISIT}/1`, `patient/${PATIENT}/1`])
    const [update, visit] = items
    expect(update).toMatchObject({ kind: 'change', op: 'update', own: true, fields: ['phone'], values: null })
    expect(visit).toMatchObject({ kind: 'change', op: 'create', own: false, entity: 'visit' })
  })

  it('shows the values before and after each update of the record, masked as the server sent them', () => {
    const history = [
      change(1, 'create', { name: '张三', phone: '138****5678' }, ['name', 'phone']),
      change(2, 'update', { name: '张三', phone: '139****0000', tags: ['VIP'] }, ['phone', 'tags']),
    ]
    const [update] = buildTimeline(viewed, [entry('patient', PATIENT, 2, 'update', '2026-12-03T02:00:00Z', ['phone', 'tags'])], history)
    expect(update).toMatchObject({
      values: [
        { field: 'phone', before: '138****5678', after: '139****0000' },
        { field: 'tags', before: undefined, after: ['VIP'] },
      ],
    })
  })

  it('orders changes made in the same instant by version, newest first', () => {
    const at = '2026-12-03T02:00:00Z'
    const items = buildTimeline(viewed, [entry('patient', PATIENT, 2, 'update', at), entry('patient', PATIENT, 3, 'delete', at)], null)
    expect(items.map((i) => i.kind === 'change' && i.version)).toEqual([3, 2])
    expect(items[0]).toMatchObject({ op: 'delete', values: null })
  })

  it('reads an operation it does not know as an update', () => {
    const [item] = buildTimeline(viewed, [entry('patient', PATIENT, 4, 'merge', '2026-12-03T02:00:00Z')], null)
    expect(item).toMatchObject({ op: 'update' })
  })

  it('takes tasks and messages in their own kind, in time order with the changes', () => {
    const task: TaskItem = { kind: 'task', key: 'task/1', at: '2026-12-02T12:00:00Z', title: '术后第3天回访', status: 'open', assignee: null }
    const items = buildTimeline(
      viewed,
      [entry('patient', PATIENT, 1, 'create', '2026-12-01T08:00:00Z'), entry('patient', PATIENT, 2, 'update', '2026-12-03T08:00:00Z')],
      null,
      [task],
    )
    expect(items.map((i) => i.kind)).toEqual(['change', 'task', 'change'])
  })
})
