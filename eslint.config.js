import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import reactHooks from 'eslint-plugin-react-hooks'
import globals from 'globals'

export default tseslint.config(
  { ignores: ['out/**', 'dist/**', 'node_modules/**', 'test-results/**', 'playwright-report/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    files: ['src/renderer/**/*.{ts,tsx}'],
    languageOptions: { globals: { ...globals.browser } },
    plugins: { 'react-hooks': reactHooks },
    rules: reactHooks.configs.recommended.rules,
  },
  {
    // Platform-neutral code never imports the platform layer.
    files: [
      'src/shared/**/*.ts',
      'src/main/server/**/*.ts',
      'src/main/libvirt/**/*.ts',
      'src/main/hypervisor/**/*.ts',
      'src/main/vnc/**/*.ts',
      'src/main/terminal/**/*.ts',
      'src/main/host/**/*.ts',
      'src/main/headless.ts',
    ],
    rules: { 'no-restricted-imports': ['error', { paths: ['electron'] }] },
  },
)
