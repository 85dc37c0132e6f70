// The rules that guard the design (npm run lint; CI runs it):
//   - protocol/ is pure: no I/O, no threads, nothing of server/, client/ or common/;
//   - client/ and server/ never import each other; common/ imports neither;
//   - no import cycles;
//   - typescript-eslint's recommended rules, with type information.
// Formatting is Prettier's business (npm run format), so no style rules here.
import { defineConfig } from 'eslint/config';
import prettier from 'eslint-config-prettier';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

const restrict = (...groups) => ['error', { patterns: groups }];

export default defineConfig(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.tap/**', 'test/helpers/faultfs/**'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { 'import-x': importX },
    // Imports name the compiled .js; the TypeScript resolver maps them back to the .ts sources.
    settings: {
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/extensions': ['.ts', '.js'],
      'import-x/resolver-next': [createTypeScriptImportResolver()],
    },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // A `let` read by a callback before its one assignment cannot be a const.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // Unused promises are how a worker fires its answer loop; awaited where it matters.
      '@typescript-eslint/no-floating-promises': ['error', { ignoreVoid: true }],
    },
  },
  {
    files: ['protocol/**/*.ts'],
    rules: {
      'no-restricted-imports': restrict(
        { group: ['node:*', '!node:buffer'], message: 'protocol/ is pure codecs: no I/O or threads (node:buffer only).' },
        { group: ['**/server/**', '**/client/**', '**/common/**'], message: 'protocol/ depends on nothing of the programs.' },
      ),
    },
  },
  {
    files: ['client/**/*.ts'],
    rules: { 'no-restricted-imports': restrict({ group: ['**/server/**'], message: 'the agency never reaches into the central.' }) },
  },
  {
    files: ['server/**/*.ts'],
    rules: { 'no-restricted-imports': restrict({ group: ['**/client/**'], message: 'the central never reaches into the agency.' }) },
  },
  {
    files: ['common/**/*.ts'],
    rules: {
      'no-restricted-imports': restrict({
        group: ['**/server/**', '**/client/**'],
        message: 'common/ is shared by both programs: it imports neither.',
      }),
    },
  },
  {
    // tap's t.test() returns promises it tracks itself, and its callbacks need not await.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-floating-promises': 'off', '@typescript-eslint/require-await': 'off' },
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
  prettier,
);
