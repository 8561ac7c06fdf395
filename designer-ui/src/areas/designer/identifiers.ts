// Identifiers of entities, fields and options: the slugs the engine accepts
// (`[a-z][a-z0-9]*(_[a-z0-9]+)*`, at most 28 characters, so table names stay under PostgreSQL's
// limit), proposed from the English label so staff never have to invent one.

export const IDENTIFIER_PATTERN = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/
export const MAX_IDENTIFIER_LENGTH = 28

export type IdentifierProblem = 'empty' | 'format' | 'too_long'

export function identifierProblem(name: string): IdentifierProblem | null {
  if (name === '') return 'empty'
  if (name.length > MAX_IDENTIFIER_LENGTH) return 'too_long'
  return IDENTIFIER_PATTERN.test(name) ? null : 'format'
}

/** Cuts a slug to `max` characters, at a word boundary when one is near. */
function cut(slug: string, max: number): string {
  if (slug.length <= max) return slug
  const head = slug.slice(0, max)
  const boundary = head.lastIndexOf('_')
  return (boundary >= max / 2 ? head.slice(0, boundary) : head).replace(/_+$/, '')
}

/**
 * The slug of a label: `Birth date` → `birth_date`, `E-mail (work)` → `e_mail_work`. Letters
 * outside ASCII are dropped (a Chinese label gives nothing: the caller falls back); a slug
 * that would start with a digit gets `prefix` before it.
 */
export function slugify(text: string, prefix = 'f', max = MAX_IDENTIFIER_LENGTH): string {
  const words = text
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, ' ')
    .trim()
    .split(' ')
    .filter((w) => w !== '')
  if (words.length === 0) return ''
  let slug = words.join('_')
  if (/^[0-9]/.test(slug)) slug = `${prefix}_${slug}`
  return cut(slug, max)
}

/**
 * An identifier for `label` that no other holds: its slug, else `fallback`, with `_2`, `_3` …
 * when taken.
 */
export function proposeIdentifier(label: string | undefined, taken: ReadonlySet<string>, fallback: string): string {
  const base = slugify(label ?? '') || slugify(fallback) || 'field'
  if (!taken.has(base)) return base
  for (let n = 2; ; n++) {
    const suffix = `_${n}`
    const candidate = `${cut(base, MAX_IDENTIFIER_LENGTH - suffix.length)}${suffix}`
    if (!taken.has(candidate)) return candidate
  }
}
