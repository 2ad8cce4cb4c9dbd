// eslint's recommended rules for the SDK, its tests and the JavaScript
// functions in functions/ (scripts/test.sh runs it).
import js from "@eslint/js";
import globals from "globals";

export default [
  js.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2024,
      sourceType: "module",
      globals: { ...globals.node },
    },
    rules: {
      "no-throw-literal": "off",
    },
  },
  { ignores: ["**/node_modules/"] },
];
