// Copying a value shown once. Hospital servers are often reached over plain http on the
// intranet, where browsers offer no Clipboard API: then the old copy command on a selected
// input does it.

/** Copies `text`; `input` (showing the same text) is selected for the fallback. False if neither worked. */
export async function copyText(text: string, input: HTMLInputElement | null): Promise<boolean> {
  if (typeof navigator !== 'undefined' && navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text)
      return true
    } catch {
      // Refused (no permission, no focus): try the fallback.
    }
  }
  if (!input) return false
  input.focus()
  input.select()
  try {
    return document.execCommand('copy')
  } catch {
    return false
  }
}
