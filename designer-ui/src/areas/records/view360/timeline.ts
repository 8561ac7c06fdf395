// The 360° view's timeline, newest first: the changes of the record and of the records that
// reference it (who, when, what changed, and for the record itself the values before and after,
// from its history). Tasks and messages join it as their own kinds once the server lists them
// per record; the builder takes them already shaped and only orders them.
import type { RecordChange, RecordData, TimelineEntry } from '@/api/types'
import { parseDateTime } from '@/lib/dates'

export type ChangeOp = 'create' | 'update' | 'delete' | 'restore'

export interface FieldChange {
  field: string
  before: unknown
  after: unknown
}

interface Dated {
  /** Unique within the timeline. */
  key: string
  /** RFC 3339, as the server wrote it. */
  at: string
}

export interface ChangeItem extends Dated {
  kind: 'change'
  op: ChangeOp
  entity: string
  recordId: string
  version: number
  /** The user id (or `system`) who made the change. */
  actor: string
  /** Whether the change is of the viewed record itself (else of a record referencing it). */
  own: boolean
  /** The fields the change wrote, as the server lists them (hidden ones left out). */
  fields: string[]
  /** Before and after of each changed field, where the record's history has both versions. */
  values: FieldChange[] | null
}

/** A follow-up task about the record (the flows engine's task inbox). */
export interface TaskItem extends Dated {
  kind: 'task'
  title: string
  status: 'open' | 'done' | 'overdue' | 'cancelled'
  assignee: string | null
}

/** A message sent about the record (the outbox: SMS, WeChat, e-mail). */
export interface MessageItem extends Dated {
  kind: 'message'
  channel: string
  summary: string
  status: 'queued' | 'sent' | 'failed'
}

export type TimelineItem = ChangeItem | TaskItem | MessageItem
export type TimelineKind = TimelineItem['kind']

const OPS: readonly ChangeOp[] = ['create', 'update', 'delete', 'restore']

/** The server's op; one this app does not know yet reads as an update. */
function opOf(op: string): ChangeOp {
  return OPS.find((known) => known === op) ?? 'update'
}

/** For each version of the record, the data before it (the previous version's). */
function previousData(history: RecordChange[]): Map<number, { before: RecordData; after: RecordData }> {
  const byVersion = [...history].sort((a, b) => a.version - b.version)
  const out = new Map<number, { before: RecordData; after: RecordData }>()
  byVersion.forEach((change, i) => {
    const prior = byVersion[i - 1]
    if (prior && prior.version === change.version - 1) out.set(change.version, { before: prior.data, after: change.data })
  })
  return out
}

function instant(at: string): number {
  return parseDateTime(at) ?? 0
}

/**
 * The timeline of a record: its changes and those of the records referencing it, with the
 * values of its own updates where the history has them, merged with any other items, newest first.
 */
export function buildTimeline(
  viewed: { entity: string; id: string },
  entries: TimelineEntry[],
  history: RecordChange[] | null,
  others: (TaskItem | MessageItem)[] = [],
): TimelineItem[] {
  const versions = history ? previousData(history) : new Map<number, { before: RecordData; after: RecordData }>()
  const changes: ChangeItem[] = entries.map((e) => {
    const own = e.entity === viewed.entity && e.record_id === viewed.id
    const op = opOf(e.op)
    const pair = own && op === 'update' ? versions.get(e.version) : undefined
    return {
      kind: 'change',
      key: `${e.entity}/${e.record_id}/${e.version}`,
      at: e.at,
      op,
      entity: e.entity,
      recordId: e.record_id,
      version: e.version,
      actor: e.actor,
      own,
      fields: e.changed_fields,
      values: pair ? e.changed_fields.map((field) => ({ field, before: pair.before[field], after: pair.after[field] })) : null,
    }
  })
  const items: TimelineItem[] = [...changes, ...others]
  return items
    .map((item, i) => ({ item, i, t: instant(item.at) }))
    .sort((a, b) => b.t - a.t || versionOf(b.item) - versionOf(a.item) || a.i - b.i)
    .map(({ item }) => item)
}

function versionOf(item: TimelineItem): number {
  return item.kind === 'change' ? item.version : 0
}
