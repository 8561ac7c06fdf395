// The columns a user chose for an entity's list, kept on this PC.
const key = (entity: string) => `kangdao.columns.${entity}`

export function loadColumns(entity: string): string[] | null {
  try {
    const v: unknown = JSON.parse(localStorage.getItem(key(entity)) ?? 'null')
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : null
  } catch {
    return null
  }
}

export function saveColumns(entity: string, columns: string[] | null): void {
  try {
    if (columns) localStorage.setItem(key(entity), JSON.stringify(columns))
    else localStorage.removeItem(key(entity))
  } catch {
    // Storage refused: the choice lasts until the page is left.
  }
}
