import { describe, expect, it } from 'vitest'
import { tagBackground, whiteContrast } from './colors'

describe('option colours behind white text', () => {
  it('darkens a colour too light for white text until it reads at 4.5:1, keeping its hue', () => {
    for (const light of ['#e8590c', '#1c7ed6', '#40c057', '#fab005']) {
      const dark = tagBackground(light)
      expect(whiteContrast(dark)!).toBeGreaterThanOrEqual(4.5)
      expect(dark).not.toBe(light)
    }
    const [r, g, b] = [1, 3, 5].map((i) => parseInt(tagBackground('#e8590c').slice(i, i + 2), 16))
    expect(r! > g! && g! > b!).toBe(true)
  })

  it('leaves a dark enough colour, and anything that is not a hex colour, as it is', () => {
    expect(tagBackground('#d9480f'.replace('d9', '9a'))).toBe('#9a480f')
    expect(tagBackground('#333')).toBe('#333333')
    expect(tagBackground('red')).toBe('red')
    expect(whiteContrast('red')).toBeNull()
  })
})
