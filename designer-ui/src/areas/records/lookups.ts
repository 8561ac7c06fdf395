// Names for ids: the records a reference points at (by the target entity's title field) and
// the users a `user` field names. Fetched in batches and remembered for the session.
import { reactive } from 'vue'
import { recordsApi, usersApi } from '@/api/endpoints'
import type { EntityInfo, User } from '@/api/types'
import { recordTitle } from './fields'

const titles = reactive(new Map<string, string>())
const userNames = reactive(new Map<string, string>())
let usersLoad: Promise<User[]> | null = null

const titleKey = (entity: string, id: string) => `${entity}/${id}`

export function referenceTitle(entity: string, id: string): string | undefined {
  return titles.get(titleKey(entity, id))
}

/** Looks up the titles of `ids` in `target` that are not known yet (one request). */
export async function loadReferenceTitles(target: EntityInfo, ids: string[]): Promise<void> {
  const missing = [...new Set(ids)].filter((id) => !titles.has(titleKey(target.name, id)))
  if (missing.length === 0) return
  const page = await recordsApi.list(target.name, {
    filter: { field: 'id', op: 'in', value: missing },
    perPage: Math.min(missing.length, 1000),
  })
  for (const record of page.items) titles.set(titleKey(target.name, record.id), recordTitle(target, record))
}

export function rememberTitle(entity: string, id: string, title: string): void {
  titles.set(titleKey(entity, id), title)
}

export function userName(id: string): string | undefined {
  return userNames.get(id)
}

export function rememberUser(user: Pick<User, 'id' | 'username' | 'display_name'>): void {
  userNames.set(user.id, user.display_name || user.username)
}

/** Every user, for callers with the `users` right (one request per session). */
export function loadUsers(): Promise<User[]> {
  usersLoad ??= usersApi.list().then(
    (page) => {
      for (const u of page.items) rememberUser(u)
      return page.items
    },
    (e: unknown) => {
      usersLoad = null
      throw e
    },
  )
  return usersLoad
}

export function forgetLookups(): void {
  titles.clear()
  userNames.clear()
  usersLoad = null
}
