import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The app runs behind the gateway, which serves /auth/client.js on the same
// origin. src/gateway.js loads it with a dynamic import of that absolute
// path, marked @vite-ignore, so that neither the dev server nor the build
// tries to resolve or bundle it: the browser fetches it from the gateway at
// run time, and always gets the gateway's current version.
export default defineConfig({
  plugins: [react()],
  server: {
    // `gateway serve` proxies / to the dev server (upstream "web").
    host: '127.0.0.1',
    port: 3000,
    strictPort: true,
  },
  preview: {
    host: '127.0.0.1',
    port: 3000,
    strictPort: true,
  },
  build: {
    // Built files under /assets/, which the repository's policy.csv lets
    // everyone load (p, anonymous, /assets/*, GET).
    assetsDir: 'assets',
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{js,jsx}'],
    restoreMocks: true,
  },
});
