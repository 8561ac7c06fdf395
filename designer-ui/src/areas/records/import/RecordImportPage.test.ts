import { beforeEach, describe, expect, it } from 'vitest'
import type { FakeCall } from '@/test/fixtures'
import { admin, json, nurse, patient } from '@/test/fixtures'
import { eventually, mountSignedIn, settle } from '@/test/mount'

const CSV = '姓名,电话,编号\n张三,13812345678,P1\n'

function report(extra: Record<string, unknown>) {
  return {
    dry_run: true,
    total_rows: 100,
    valid_rows: 100,
    imported: 0,
    errors: [],
    columns: [
      { column: '姓名', field: 'name' },
      { column: '电话', field: null },
      { column: '编号', field: 'code' },
    ],
    ...extra,
  }
}

const badLine = { line: 57, field: 'id_number', code: 'id_card_checksum', message: '身份证号 校验位不正确' }

const preview = (columns = report({}).columns) => () =>
  json(200, { columns, total_rows: 100, sample: [['张三', '010-1234', 'P1'], ['李四', '', 'P2']] })

/** The import endpoint: a dry run finds one bad line. */
function importer(onRun: (call: FakeCall) => Response = () => json(200, report({ dry_run: false, valid_rows: 99, imported: 99, errors: [badLine] }))) {
  return (call: FakeCall) => (call.query.get('dry_run') === 'false' ? onRun(call) : json(200, report({ valid_rows: 99, errors: [badLine] })))
}

async function chooseFile(name: string, text: string): Promise<void> {
  const input = document.querySelector<HTMLInputElement>('[data-test="import-drop"] input[type=file]')
  if (!input) throw new Error('no file input')
  const file = new File([text], name, { type: 'text/csv' })
  Object.defineProperty(input, 'files', { value: [file], configurable: true })
  input.dispatchEvent(new Event('change'))
  await settle()
}

function button(test: string): HTMLElement {
  const el = document.querySelector<HTMLElement>(`[data-test="${test}"]`)
  if (!el) throw new Error(`no ${test}`)
  return el
}

async function confirmBox(): Promise<void> {
  await eventually(() => expect(document.querySelector('.el-message-box')).not.toBeNull())
  document.querySelector<HTMLElement>('.el-message-box .el-button--primary')!.click()
  await settle()
}

const imports = (calls: FakeCall[]) => calls.filter((c) => c.path === '/api/v1/records/patient/import')
const previews = (calls: FakeCall[]) => calls.filter((c) => c.path === '/api/v1/records/patient/import-preview')

describe('the import wizard', () => {
  beforeEach(() => {
    document.body.innerHTML = ''
  })

  it('goes from the file to its columns, a dry run naming the bad line, and imports the good rows', async () => {
    const { wrapper, server } = await mountSignedIn({
      me: admin,
      entities: [patient],
      route: '/records/patient/import',
      handlers: { 'POST /api/v1/records/patient/import-preview': preview(), 'POST /api/v1/records/patient/import': importer() },
    })
    expect(wrapper.find('h1').text()).toBe('导入患者')
    expect(button('import-next').hasAttribute('disabled')).toBe(true)

    await chooseFile('患者.csv', CSV)
    expect(button('import-file').textContent).toContain('患者.csv')
    expect(button('import-file').textContent).toContain('B')
    button('import-next').click()
    await settle()

    // The file goes as it is to the preview: the server reads the header and proposes.
    const [first] = previews(server.calls)
    expect(first!.headers.get('content-type')).toBe('text/csv')
    expect(first!.body).toBe(CSV)
    expect(imports(server.calls)).toEqual([])

    const mapping = button('import-mapping').textContent ?? ''
    expect(mapping).toContain('列名一致')
    expect(mapping).toContain('系统生成，不导入')
    expect(mapping).toContain('未匹配，将忽略')
    expect(mapping).toContain('张三、李四')
    button('import-next').click()
    await settle()

    // The check sends every column with its field; ignored ones empty.
    const second = imports(server.calls)[0]!
    expect(second.query.get('dry_run')).toBe('true')
    expect(JSON.parse(second.query.get('mapping')!)).toEqual({ 姓名: 'name', 电话: '', 编号: '' })
    expect(button('import-total').textContent).toBe('100')
    expect(button('import-valid').textContent).toBe('99')
    expect(button('import-bad').textContent).toBe('1')
    const problems = button('import-problems').textContent ?? ''
    expect(problems).toContain('57')
    expect(problems).toContain('身份证号')
    expect(problems).toContain('身份证号 校验位不正确')

    button('import-next').click()
    await settle()
    ;(document.querySelector('[data-test="import-skip"] input') as HTMLInputElement).click()
    await settle()
    expect(button('import-plan').textContent).toContain('将导入 99 条患者，跳过 1 行')
    button('import-run').click()
    await confirmBox()

    const run = imports(server.calls)[1]!
    expect(run.query.get('dry_run')).toBe('false')
    expect(run.query.get('atomic')).toBe('false')
    await eventually(() => expect(button('import-done').textContent).toContain('已导入 99 条患者'))
    expect(button('import-done').textContent).toContain('跳过了 1 行有问题的数据')
    expect(wrapper.find('[data-test="import-to-list"]').exists()).toBe(true)
  })

  it('checks a fixed file again under the same mapping', async () => {
    let fixed = false
    const { server } = await mountSignedIn({
      me: admin,
      entities: [patient],
      route: '/records/patient/import',
      handlers: {
        'POST /api/v1/records/patient/import-preview': preview(),
        'POST /api/v1/records/patient/import': () => json(200, fixed ? report({}) : report({ valid_rows: 99, errors: [badLine] })),
      },
    })
    await chooseFile('患者.csv', CSV)
    button('import-next').click()
    await settle()
    button('import-next').click()
    await settle()
    expect(button('import-bad').textContent).toBe('1')

    fixed = true
    const input = document.querySelector<HTMLInputElement>('[data-test="import-reupload-file"]')!
    Object.defineProperty(input, 'files', { value: [new File(['fixed'], '患者-改.csv', { type: 'text/csv' })], configurable: true })
    input.dispatchEvent(new Event('change'))
    await settle()
    await eventually(() => expect(button('import-bad').textContent).toBe('0'))
    expect(document.body.textContent).toContain('全部 100 行都可以导入')
    expect(document.body.textContent).toContain('患者-改.csv')
    const [, again] = imports(server.calls)
    expect(again!.body).toBe('fixed')
    expect(JSON.parse(again!.query.get('mapping')!)).toEqual({ 姓名: 'name', 电话: '', 编号: '' })
    expect(previews(server.calls)).toHaveLength(2)
  })

  it('shows the rows again when an all-or-nothing import is refused, having written nothing', async () => {
    await mountSignedIn({
      me: admin,
      entities: [patient],
      route: '/records/patient/import',
      handlers: {
        'POST /api/v1/records/patient/import-preview': preview(),
        'POST /api/v1/records/patient/import': importer(() =>
          json(422, { error: { code: 'validation_failed', message: '导入数据有误，未写入任何记录', details: [{ ...badLine, line: 80 }] } }),
        ),
      },
    })
    await chooseFile('患者.csv', CSV)
    button('import-next').click()
    await settle()
    button('import-next').click()
    await settle()
    button('import-next').click()
    await settle()
    ;(document.querySelector('[data-test="import-atomic"] input') as HTMLInputElement).click()
    await settle()
    expect(document.body.textContent).toContain('选择“全部成功才导入”将不会导入任何数据')
    button('import-run').click()
    await confirmBox()
    await eventually(() => expect(document.body.textContent).toContain('导入没有执行'))
    expect(button('import-problems').textContent).toContain('80')
  })

  it('says which line of the file the server could not read', async () => {
    await mountSignedIn({
      me: admin,
      entities: [patient],
      route: '/records/patient/import',
      handlers: {
        'POST /api/v1/records/patient/import-preview': () =>
          json(400, {
            error: {
              code: 'bad_request',
              message: '第 3 行含有无法识别的字符',
              details: [{ line: 3, field: '', code: 'invalid_encoding', message: '第 3 行含有无法识别的字符' }],
            },
          }),
      },
    })
    await chooseFile('坏文件.csv', 'x')
    button('import-next').click()
    await settle()
    const error = button('import-file-error').textContent ?? ''
    expect(error).toContain('第 3 行含有无法识别的字符')
    expect(error).toContain('第 3 行 ·')
    expect(document.querySelector('[data-test="import-mapping"]')).toBeNull()
  })

  it('does not propose for a column a field another column fills', async () => {
    const { server } = await mountSignedIn({
      me: admin,
      entities: [patient],
      route: '/records/patient/import',
      handlers: {
        'POST /api/v1/records/patient/import-preview': preview([
          { column: '手机号', field: 'phone' },
          { column: '联系手机号', field: null },
          { column: '姓名', field: 'name' },
        ]),
      },
    })
    await chooseFile('患者.csv', CSV)
    button('import-next').click()
    await settle()
    // The browser proposed nothing for 联系手机号: 手机号 holds the phone already.
    expect(button('import-mapping').textContent).toContain('未匹配，将忽略')
    expect(document.querySelector('[data-test="mapping-duplicate"]')).toBeNull()
    expect(imports(server.calls)).toHaveLength(0)
  })

  it('is not offered to a user who may not create the records', async () => {
    const { wrapper } = await mountSignedIn({ me: nurse, entities: [patient], route: '/records/patient/import' })
    expect(wrapper.text()).toContain('您没有新建患者的权限，不能导入')
    expect(wrapper.find('[data-test="import-drop"]').exists()).toBe(false)
  })
})
