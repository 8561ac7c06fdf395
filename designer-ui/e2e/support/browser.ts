// The system Chromium (never a downloaded one), headless, at the 1366×768 of a ward PC, with a
// watch on everything that goes wrong: a console error, an uncaught exception, a request that
// fails or answers 4xx/5xx. A test declares the failures it expects (a 401 from "who am I"
// before log-in); anything else fails it.
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'

export const SCREENSHOTS = resolve(join(__dirname, '../../../target/ui-screenshots'))
const CHROMIUM = process.env.KANGDAO_CHROMIUM ?? '/usr/bin/chromium'

export interface ExpectedFailure {
  method: string
  /** The request path, query excluded. */
  path: string
  status: number
}

export class WatchedBrowser {
  readonly problems: string[] = []
  private expected: ExpectedFailure[] = []
  /** Failures allowed any number of times until `stopAllowing`. */
  private allowed: ExpectedFailure[] = []
  /** Compressed bytes of JavaScript the page downloaded, by URL. */
  readonly scriptBytes = new Map<string, number>()

  private constructor(
    readonly browser: Browser,
    readonly context: BrowserContext,
    readonly page: Page,
  ) {}

  static async launch(base: string): Promise<WatchedBrowser> {
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // Containers run tests as root, where Chromium's sandbox cannot start.
      args: ['--no-sandbox', '--disable-dev-shm-usage'],
    })
    const context = await browser.newContext({
      baseURL: base,
      viewport: { width: 1366, height: 768 },
      locale: 'zh-CN',
      acceptDownloads: true,
    })
    const page = await context.newPage()
    const watched = new WatchedBrowser(browser, context, page)
    watched.watch()
    mkdirSync(SCREENSHOTS, { recursive: true })
    return watched
  }

  /** Failures the next steps expect, each allowed once. */
  expect(...failures: ExpectedFailure[]): void {
    this.expected.push(...failures)
  }

  /**
   * Failures allowed any number of times until `stopAllowing`: answers a step produces as it
   * works, as many as the typing makes (the form designer's live check answers 400 while the
   * draft has a problem).
   */
  allowRepeatedly(...failures: ExpectedFailure[]): void {
    this.allowed.push(...failures)
  }

  stopAllowing(): void {
    this.allowed = []
  }

  private isExpected(method: string, url: string, status: number, consume: boolean): boolean {
    const path = new URL(url).pathname
    if (this.allowed.some((f) => f.method === method && f.path === path && f.status === status)) return true
    const i = this.expected.findIndex((f) => f.method === method && f.path === path && f.status === status)
    if (i >= 0 && consume) this.expected.splice(i, 1)
    return i >= 0
  }

  private watch(): void {
    const { page } = this
    page.on('console', (message) => {
      if (message.type() !== 'error') return
      // Chromium logs every 4xx/5xx answer; each is judged by its response below.
      if (/^Failed to load resource: the server responded with a status of \d{3}/.test(message.text())) return
      this.problems.push(`console error: ${message.text()} (${message.location().url})`)
    })
    page.on('pageerror', (error) => this.problems.push(`uncaught: ${error.message}`))
    page.on('requestfailed', (request) => {
      const reason = request.failure()?.errorText ?? ''
      // The browser cancelled it (the page moved on, a download was handed over): not a failure
      // of the server or the app.
      if (reason.includes('ERR_ABORTED')) return
      this.problems.push(`request failed: ${request.method()} ${request.url()} ${reason}`)
    })
    page.on('response', async (response) => {
      const request = response.request()
      const status = response.status()
      if (status >= 400) {
        if (!this.isExpected(request.method(), response.url(), status, true)) {
          this.problems.push(`unexpected ${status}: ${request.method()} ${response.url()}`)
        }
      }
      if (request.resourceType() === 'script' && response.ok()) {
        try {
          const sizes = await request.sizes()
          this.scriptBytes.set(response.url(), sizes.responseBodySize)
        } catch {
          // The page moved on before the sizes were known.
        }
      }
    })
  }

  /**
   * A screenshot once requests are done and no loading mask covers the page; transitions are
   * finished first (a tab's colour fades over 0.3 s), so the picture shows the state reached.
   */
  async screenshot(name: string): Promise<void> {
    await this.page.waitForLoadState('networkidle')
    await this.page.waitForFunction(() =>
      [...document.querySelectorAll<HTMLElement>('.el-loading-mask')].every((m) => m.offsetParent === null),
    )
    await this.page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true, animations: 'disabled' })
  }

  /** The problems so far, cleared: a step asserts none happened. */
  takeProblems(): string[] {
    return this.problems.splice(0)
  }

  async close(): Promise<void> {
    await this.context.close()
    await this.browser.close()
  }
}
