/**
 * What a task name may be. It becomes an export (`export const <name> = defineTask(…)`), an import
 * in src/config.ts, a key of TASK_REGISTRY and the `type` the server sends — so it must be a plain
 * JavaScript identifier that shadows nothing and never matches a property every object has.
 */
import { TEMPLATE_IDENTIFIERS } from './templates.ts';

/** Longest task name accepted, in characters. */
export const MAX_TASK_NAME_CHARS = 64;

const SNAKE_CASE = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/;
const CAMEL_CASE = /^[a-z][a-zA-Z0-9]*$/;

/** Reserved words (ES2024, strict mode), the literals, and the two contextual keywords an import list trips over. */
const RESERVED_WORDS = new Set([
  ...['await', 'break', 'case', 'catch', 'class', 'const', 'continue', 'debugger', 'default'],
  ...['delete', 'do', 'else', 'enum', 'export', 'extends', 'false', 'finally', 'for'],
  ...['function', 'if', 'implements', 'import', 'in', 'instanceof', 'interface', 'let', 'new'],
  ...['null', 'package', 'private', 'protected', 'public', 'return', 'static', 'super'],
  ...['switch', 'this', 'throw', 'true', 'try', 'typeof', 'var', 'void', 'while', 'with'],
  ...['yield', 'as', 'type'],
]);

/** Names a module may not (or should not: Biome's noShadowRestrictedNames) declare. */
const RESTRICTED_NAMES = new Set(['arguments', 'eval', 'undefined', 'NaN', 'Infinity']);

/** `constructor`, `toString`, `__proto__`, …: a plain-object lookup would find these anywhere. */
const OBJECT_PROTOTYPE_NAMES = new Set(Object.getOwnPropertyNames(Object.prototype));

/** Problems with `name` as a task name, one line each; empty when it is fine. */
export function taskNameProblems(name: string): string[] {
  if (name === '') return ['the task name is empty'];
  if (name.length > MAX_TASK_NAME_CHARS) {
    return [`"${clip(name)}" is ${name.length} characters long; keep it to ${MAX_TASK_NAME_CHARS}`];
  }
  if (!SNAKE_CASE.test(name) && !CAMEL_CASE.test(name)) {
    const suggestion = suggestName(name);
    return [
      `${JSON.stringify(name)} is not a task name: use snake_case (resize_image) or camelCase ` +
        `(resizeImage) — a lowercase letter, then letters and digits, with single underscores ` +
        `between words${suggestion === undefined ? '' : `; did you mean "${suggestion}"?`}`,
    ];
  }
  if (RESERVED_WORDS.has(name)) {
    return [`"${name}" is a reserved word in JavaScript; pick another name (e.g. ${name}_task)`];
  }
  if (RESTRICTED_NAMES.has(name)) {
    return [`"${name}" names a built-in a module must not redeclare; pick another name`];
  }
  if (OBJECT_PROTOTYPE_NAMES.has(name)) {
    return [
      `"${name}" is a property of every object (Object.prototype); a task type must never look ` +
        `like one — pick another name`,
    ];
  }
  if (Object.hasOwn(globalThis, name)) {
    return [
      `"${name}" would hide the global \`${name}\` in the task's module and its test; pick ` +
        `another name (e.g. ${name}_task)`,
    ];
  }
  if (TEMPLATE_IDENTIFIERS.includes(name)) {
    return [
      `"${name}" is a name the generated files already use (${TEMPLATE_IDENTIFIERS.join(', ')}); ` +
        `pick another name`,
    ];
  }
  return [];
}

/** `Resize-Image` → `resize_image`, when that is a valid name. */
function suggestName(name: string): string | undefined {
  const snake = name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^[_0-9]+|_+$/g, '');
  return SNAKE_CASE.test(snake) && snake !== name ? snake : undefined;
}

function clip(text: string): string {
  return text.length > 20 ? `${text.slice(0, 20)}…` : text;
}
