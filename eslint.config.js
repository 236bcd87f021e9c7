// @ts-check
// Layering (DESIGN §2, STYLE §1): code that can run anywhere never imports code that can't.
//   src-shared   runs everywhere (incl. the renderer): no Node, no Electron, no React, no src-main.
//   src-renderer is the browser: no Node, no Electron, no src-main.
//   src-main     is Node: only src-main/electron may import 'electron'.
//   queen, hive and worker share only src-shared contracts and src-main's common/auth/audit/models.
//   queen/ knows remote hives only through its RemoteHiveManager port: no ssh/, no remote-hive/.
//   ssh/ is the transport (connection, tunnels, known_hosts, quoting): it knows no hive, no queen and
//   not the remote-hive feature built on it.
// Import cycles: `import-x/no-cycle` over src-main, src-shared and src-renderer. It runs in the lint
// stage `npm test` already has (no second tool, no second parse); imports are ESM with `.js` suffixes
// naming `.ts` files, hence the extension alias for the resolver.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';

const electronBan = {
  paths: [{ name: 'electron', message: "Only src-main/electron may import 'electron'." }],
  patterns: [{ group: ['electron/*'], message: "Only src-main/electron may import 'electron'." }],
};

// The hive never loads node-llama-cpp (docs/hive.md "Probe child"): its probe child does.
const noLlama = { name: 'node-llama-cpp', message: 'The hive never loads node-llama-cpp: ask its probe child (HardwareProbe) instead.' };
const noLlamaImportExpression = { selector: "ImportExpression[source.value='node-llama-cpp']", message: noLlama.message };

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
    files: ['src-main/**/*.ts', 'src-shared/**/*.ts', 'src-renderer/**/*.{ts,tsx}'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.tsx', '.js', '.mjs'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts', '.tsx'] },
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.tsx', '.js', '.mjs', '.json'], extensionAlias: { '.js': ['.ts', '.tsx', '.js'] } })],
    },
    rules: {
      // Value imports only (import-x skips `import type`): those are the cycles that change load order.
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
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
        { ...electronBan, patterns: [...electronBan.patterns, ban(['**/src-main/hive/**', '**/src-main/queen/**', '**/src-main/ssh/**', '**/src-main/remote-hive/**', '../hive/**', '../queen/**', '../ssh/**', '../remote-hive/**'], 'The worker knows nothing of its supervisors.')] },
      ],
    },
  },
  {
    files: ['src-main/hive/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [...electronBan.paths, noLlama],
          patterns: [
            ...electronBan.patterns,
            ban(['**/src-main/queen/**', '**/src-main/worker/**', '../queen/**', '../worker/**'], 'The hive talks to workers and the queen over HTTP only.'),
            ban(['**/llama-probe/**'], noLlama.message),
          ],
        },
      ],
      'no-restricted-syntax': ['error', noLlamaImportExpression],
    },
  },
  {
    // The catalog's GGUF reading lives here and runs in the hive.
    files: ['src-main/models/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: [...electronBan.paths, noLlama], patterns: electronBan.patterns }],
      'no-restricted-syntax': ['error', noLlamaImportExpression],
    },
  },
  {
    files: ['src-main/queen/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          ...electronBan,
          patterns: [
            ...electronBan.patterns,
            ban(['**/src-main/ssh/**', '**/src-main/remote-hive/**', '../ssh/**', '../../ssh/**', '../remote-hive/**', '../../remote-hive/**'], 'The queen reaches remote hives through its RemoteHiveManager port; the assembly points pick the SSH implementation.'),
          ],
        },
      ],
    },
  },
  {
    files: ['src-main/ssh/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          ...electronBan,
          patterns: [
            ...electronBan.patterns,
            ban(['**/src-main/remote-hive/**', '**/src-main/queen/**', '**/src-main/hive/**', '../remote-hive/**', '../queen/**', '../hive/**'], 'ssh/ is the transport: the remote-hive feature builds on it, never the other way round.'),
          ],
        },
      ],
    },
  },
  {
    files: ['src-main/electron/**/*.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
);
