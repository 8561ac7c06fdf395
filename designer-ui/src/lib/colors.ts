// Colours a definition gives its options (a tier's orange, a department's blue) carry white text
// on tags. A designer's pick may be too light for that; it is darkened, hue kept, until white
// reads at 4.5:1 (WCAG AA).

type Rgb = [number, number, number]

function channels(hex: string): Rgb | null {
  const digits = /^#?([0-9a-f]{6}|[0-9a-f]{3})$/i.exec(hex.trim())?.[1]
  if (!digits) return null
  const h = digits.length === 3 ? [...digits].map((c) => c + c).join('') : digits
  const at = (i: number) => parseInt(h.slice(i, i + 2), 16)
  return [at(0), at(2), at(4)]
}

function luminance([r, g, b]: Rgb): number {
  const lin = (c: number) => {
    const s = c / 255
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4
  }
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
}

/** White text's contrast on the colour; null for a colour that is not `#rgb` or `#rrggbb`. */
export function whiteContrast(hex: string): number | null {
  const rgb = channels(hex)
  return rgb ? 1.05 / (luminance(rgb) + 0.05) : null
}

/** The colour, darkened as little as needed for white text to read at 4.5:1; others unchanged. */
export function tagBackground(hex: string): string {
  let rgb: Rgb | null = channels(hex)
  if (!rgb) return hex
  const darker = ([r, g, b]: Rgb): Rgb => [Math.floor(r * 0.95), Math.floor(g * 0.95), Math.floor(b * 0.95)]
  for (let step = 0; step < 40 && 1.05 / (luminance(rgb) + 0.05) < 4.5; step++) rgb = darker(rgb)
  return `#${rgb.map((c) => c.toString(16).padStart(2, '0')).join('')}`
}
