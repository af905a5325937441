import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';

// The core folders run in a Worker, in Node tests and in the CLI: no React, no zustand, no DOM-only modules.
const coreFolders = [
  'src/onnx/**',
  'src/passes/**',
  'src/pipeline/**',
  'src/metrics/**',
  'src/data/**',
  'src/report/**',
  'src/layout/**',
  'src/graph/**',
  'src/train/**',
];

export default tseslint.config(
  { ignores: ['dist', 'node_modules', 'src/onnx/proto/onnx_pb.ts', 'test-results', 'playwright-report'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.browser, ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/ui/**/*.{ts,tsx}', 'src/store/**/*.ts'],
    plugins: { 'react-hooks': reactHooks },
    rules: {
      'react-hooks/rules-of-hooks': 'error',
      'react-hooks/exhaustive-deps': 'warn',
    },
  },
  {
    files: coreFolders,
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'react', message: 'Core code must not import React.' },
            { name: 'react-dom', message: 'Core code must not import React.' },
            { name: 'zustand', message: 'Core code must not import the UI store.' },
            { name: '@xyflow/react', message: 'Core code must not import UI libraries.' },
            { name: 'recharts', message: 'Core code must not import UI libraries.' },
          ],
          patterns: [
            { group: ['**/ui/**', '**/store/**'], message: 'Core code must not import UI or store modules.' },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'document', message: 'Core code must not touch the DOM.' },
        { name: 'window', message: 'Core code must not touch the DOM.' },
      ],
    },
  },
);
