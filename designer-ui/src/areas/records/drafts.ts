// What a user typed when their session ran out, kept in this tab until they are back on the
// same page after logging in again: nothing they entered is lost.
import type { RecordData } from '@/api/types'

const key = (path: string) => `kangdao.draft:${path}`

export function stashDraft(path: string, changes: RecordData): void {
  try {
    sessionStorage.setItem(key(path), JSON.stringify(changes))
  } catch {
    // Storage refused: nothing more can be done from here.
  }
}

export function takeDraft(path: string): RecordData | null {
  try {
    const text = sessionStorage.getItem(key(path))
    sessionStorage.removeItem(key(path))
    const v: unknown = text ? JSON.parse(text) : null
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as RecordData) : null
  } catch {
    return null
  }
}
