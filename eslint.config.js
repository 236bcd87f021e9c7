// @ts-check
// Layering (DESIGN §2, STYLE §1): code that can run anywhere never imports code that can't.
//   src-shared   runs everywhere (incl. the renderer): no Node, no Electron, no React, no src-main.
//   src-renderer is the browser: no Node, no Electron, no src-main.
//   src-main     is Node: only src-main/electron may import 'electron'.
//   queen, hive and worker share only src-shared contracts and src-main's common/auth/audit/models.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const electronBan = {
  paths: [{ name: 'electron', message: "Only src-main/electron may import 'electron'." }],
  patterns: [{ group: ['electron/*'], message: "Only src-main/electron may import 'electron'." }],
};

const nodeBuiltins = ['node:*', 'fs', 'path', 'os', 'child_process', 'http', 'https', 'net', 'crypto', 'stream'];

/** @param {string[]} groups @param {string} message */
const ban = (groups, message) => ({ group: groups, message });

export default tseslint.config(
  {
    ignores: ['node_modules/**', 'out/**', 'dist/**', 'coverage/**', 'test-results/**', 'playwright-report/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': ['error', electronBan],
    },
  },
  {
    files: ['src-shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: electronBan.paths,
          patterns: [
            ...electronBan.patterns,
            ban(nodeBuiltins, 'src-shared runs everywhere: no Node built-ins.'),
            ban(['**/src-main/**', '**/src-renderer/**', 'react', 'react-dom', 'zustand'], 'src-shared imports nothing above it.'),
          ],
        },
      ],
    },
  },
  {
    files: ['src-renderer/**/*.{ts,tsx}'],
    languageOptions: { globals: { ...globals.browser } },
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: electronBan.paths,
          patterns: [
            ...electronBan.patterns,
            ban(nodeBuiltins, 'The renderer is a browser: no Node built-ins.'),
            ban(['**/src-main/**'], 'The renderer talks to the host only through ControlApi.'),
          ],
        },
      ],
    },
  },
  {
    files: ['src-main/worker/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { ...electronBan, patterns: [...electronBan.patterns, ban(['**/src-main/hive/**', '**/src-main/queen/**', '**/src-main/ssh/**', '../hive/**', '../queen/**', '../ssh/**'], 'The worker knows nothing of its supervisors.')] },
      ],
    },
  },
  {
    files: ['src-main/hive/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { ...electronBan, patterns: [...electronBan.patterns, ban(['**/src-main/queen/**', '**/src-main/worker/**', '../queen/**', '../worker/**'], 'The hive talks to workers and the queen over HTTP only.')] },
      ],
    },
  },
  {
    files: ['src-main/electron/**/*.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
);
