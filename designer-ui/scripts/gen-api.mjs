// Generates src/api/schema.d.ts, the client's types, from openapi.json (the server's OpenAPI
// document, kept current by a Rust test). The file is written only when its text changes, so
// builds that run this do not look like source changes to the next build.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import openapiTS, { astToString, COMMENT_HEADER } from 'openapi-typescript'
import ts from 'typescript'

const source = new URL('../openapi.json', import.meta.url)
const target = new URL('../src/api/schema.d.ts', import.meta.url)

// A binary body (an XLSX upload) is a Blob in the browser, not a string.
const BLOB = ts.factory.createTypeReferenceNode(ts.factory.createIdentifier('Blob'))
const ast = await openapiTS(source, {
  alphabetize: true,
  emptyObjectsUnknown: true,
  transform: (schema) => (schema.format === 'binary' ? BLOB : undefined),
})
const text = COMMENT_HEADER + astToString(ast)

let current = null
try {
  current = readFileSync(target, 'utf8')
} catch {
  // Not generated yet.
}
if (current !== text) {
  mkdirSync(new URL('.', target), { recursive: true })
  writeFileSync(target, text)
  console.log('src/api/schema.d.ts generated from openapi.json')
}
