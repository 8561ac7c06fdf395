import { describe, expect, it } from 'vitest'
import { layoutBlocks } from './layoutTabs'

interface S {
  name: string
  tab?: { zh?: string; en?: string }
}

const names = (blocks: ReturnType<typeof layoutBlocks<S>>) =>
  blocks.map((b) => (b.kind === 'section' ? b.section.name : b.tabs.map((g) => `${g.label.zh}:${g.sections.map((s) => s.name).join('+')}`)))

describe('layout tabs', () => {
  it('group sections by tab label, tabs in order of first appearance, where the first tabbed section stands', () => {
    const sections: S[] = [
      { name: 'head' },
      { name: 'basics', tab: { zh: '基本', en: 'Basics' } },
      { name: 'visits', tab: { zh: '就诊', en: 'Visits' } },
      { name: 'middle' },
      { name: 'contact', tab: { zh: '基本', en: 'Basics' } },
    ]
    expect(names(layoutBlocks(sections, (s) => s.tab))).toEqual(['head', ['基本:basics+contact', '就诊:visits'], 'middle'])
  })

  it('tell tabs apart by both languages, as the engine compares labels', () => {
    const sections: S[] = [
      { name: 'a', tab: { zh: '基本' } },
      { name: 'b', tab: { zh: '基本', en: 'Basics' } },
    ]
    const blocks = layoutBlocks(sections, (s) => s.tab)
    expect(blocks).toHaveLength(1)
    expect(blocks[0]!.kind === 'tabs' && blocks[0]!.tabs.length).toBe(2)
  })

  it('leave a form without tabs as its sections', () => {
    const plain: S[] = [{ name: 'a' }, { name: 'b' }]
    expect(names(layoutBlocks(plain, (s) => s.tab))).toEqual(['a', 'b'])
  })
})
