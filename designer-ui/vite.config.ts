/// <reference types="vitest/config" />
import { fileURLToPath, URL } from 'node:url'
import vue from '@vitejs/plugin-vue'
import Components from 'unplugin-vue-components/vite'
import { ElementPlusResolver } from 'unplugin-vue-components/resolvers'
import { defineConfig } from 'vite'

// Hospital PCs: Chrome 109 (the last on Windows 7) and the 360 / QQ browsers on Chromium 86+.
const browsers = ['chrome86']

// `npm run dev` proxies the API to a running server (`cargo run -p kangdao -- serve`).
const apiServer = process.env.KANGDAO_URL ?? 'http://127.0.0.1:8080'

export default defineConfig({
  plugins: [
    vue(),
    // Element Plus components and their CSS, imported where a template uses them.
    Components({
      resolvers: [ElementPlusResolver({ importStyle: 'css' })],
      dts: 'components.d.ts',
    }),
  ],
  resolve: {
    alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) },
  },
  build: {
    target: browsers,
    cssTarget: browsers,
    // Hashed file names under assets/: the server caches them for a year.
    assetsDir: 'assets',
    chunkSizeWarningLimit: 600,
    rolldownOptions: {
      output: {
        // Chunks of Element Plus are named after their first module, a `style/css` import:
        // call them what they are.
        chunkFileNames: (chunk) => `assets/${chunk.name === 'css' ? 'element-plus' : '[name]'}-[hash].js`,
        assetFileNames: (asset) =>
          `assets/${asset.names.some((n) => n.startsWith('css')) ? 'element-plus' : '[name]'}-[hash][extname]`,
      },
    },
  },
  server: {
    proxy: {
      '/api': { target: apiServer, changeOrigin: false },
    },
  },
  test: {
    environment: 'happy-dom',
    include: ['src/**/*.test.ts'],
    // Mounting Element Plus pages in happy-dom takes seconds on a busy 2-core machine.
    testTimeout: 60_000,
    // Element Plus components come with CSS imports, which only Vite (not Node) can load.
    server: { deps: { inline: ['element-plus'] } },
  },
})
