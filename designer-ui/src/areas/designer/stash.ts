// A design in progress when the session ran out, kept in this tab until the designer is back on
// the same page after logging in again. A definition holds no patient data.
import type { EntityDefinition } from '@/api/types'

export interface StashedDesign {
  definition: EntityDefinition
  isNew: boolean
  /** The version the design was read at. */
  version: number | null
}

const key = (path: string) => `kangdao.design:${path}`

export function stashDesign(path: string, design: StashedDesign): void {
  try {
    sessionStorage.setItem(key(path), JSON.stringify(design))
  } catch {
    // Storage refused: nothing more can be done from here.
  }
}

function isStashedDesign(v: unknown): v is StashedDesign {
  if (typeof v !== 'object' || v === null) return false
  const d = v as Record<string, unknown>
  const definition = d.definition as Record<string, unknown> | undefined
  return (
    typeof d.isNew === 'boolean' &&
    (d.version === null || typeof d.version === 'number') &&
    typeof definition === 'object' &&
    definition !== null &&
    typeof definition.name === 'string' &&
    Array.isArray(definition.fields)
  )
}

export function takeDesign(path: string): StashedDesign | null {
  try {
    const text = sessionStorage.getItem(key(path))
    sessionStorage.removeItem(key(path))
    const v: unknown = text ? JSON.parse(text) : null
    return isStashedDesign(v) ? v : null
  } catch {
    return null
  }
}
