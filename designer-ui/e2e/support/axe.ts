// The axe-core check the browser tests share: serious and critical violations of the WCAG 2.1 A
// and AA rules on the page as it stands, each with the elements it found.
import AxeBuilder from '@axe-core/playwright'
import type { WatchedBrowser } from './browser'

export async function seriousViolations(b: WatchedBrowser): Promise<string[]> {
  const results = await new AxeBuilder({ page: b.page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze()
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => `${n.target.join(' ')} ${n.html.slice(0, 200)}`).join(', ')}`)
}
