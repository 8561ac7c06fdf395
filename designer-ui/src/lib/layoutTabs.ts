// Tabs of a form layout, by the engine's rule (engine/src/forms/definition.rs, LayoutSection):
// sections with the same tab label form one tab, tabs in the order they first appear, sections
// in layout order; sections without a tab show outside any tab. The tabs stand where the first
// tabbed section stands, so a form reads top to bottom as its layout does.
import type { Label } from '@/api/types'

export interface TabGroup<T> {
  /** Equal for equal labels (the engine compares labels, both languages). */
  key: string
  label: Label
  sections: T[]
}

export type LayoutBlock<T> = { kind: 'section'; section: T } | { kind: 'tabs'; tabs: TabGroup<T>[] }

export function tabKey(label: Label): string {
  return JSON.stringify([label.zh ?? null, label.en ?? null])
}

export function layoutBlocks<T>(sections: readonly T[], tabOf: (section: T) => Label | null | undefined): LayoutBlock<T>[] {
  const blocks: LayoutBlock<T>[] = []
  let tabs: TabGroup<T>[] | null = null
  for (const section of sections) {
    const label = tabOf(section)
    if (!label) {
      blocks.push({ kind: 'section', section })
      continue
    }
    if (!tabs) {
      tabs = []
      blocks.push({ kind: 'tabs', tabs })
    }
    const key = tabKey(label)
    const group = tabs.find((g) => g.key === key)
    if (group) group.sections.push(section)
    else tabs.push({ key, label, sections: [section] })
  }
  return blocks
}
