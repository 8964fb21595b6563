/**
 * Registers a task in src/config.ts by editing its text: one import line and one TASK_REGISTRY
 * entry. Works on any layout Biome produces (the registry on one line or one entry per line,
 * trailing commas, comments); new-task runs Biome afterwards, which sorts and wraps.
 */

const REGISTRY_DECLARATION = /export\s+const\s+TASK_REGISTRY\b[^=;]*=\s*/;
const IMPORT_STATEMENT = /^import\s[^;]*?\bfrom\s*(['"])([^'"\n]+)\1[^\S\n]*;?/gm;
const TOP_LEVEL_DECLARATION = /^(?:export\s+)?(?:const|let|var|function|class)\s+([\w$]+)/gm;

/** Why a registration could not be made, for a person to act on. */
export class RegistryEditError extends Error {
  override readonly name = 'RegistryEditError';
}

/** The text of src/config.ts with `name` imported from tasks/<name>.ts and added to TASK_REGISTRY. */
export function registerTask(configText: string, name: string): string {
  const body = findRegistryBody(configText);
  const registered =
    configText.slice(0, body.start) +
    withEntry(configText.slice(body.start, body.end), name) +
    configText.slice(body.end);
  return insertImport(registered, `import { ${name} } from '../tasks/${name}.ts';`);
}

/** Every name src/config.ts binds at the top level: imports and declarations. */
export function boundNames(configText: string): Set<string> {
  const names = new Set<string>();
  for (const match of configText.matchAll(IMPORT_STATEMENT)) {
    const clause = match[0].slice('import'.length, match[0].lastIndexOf('from')).trim();
    const named = /\{([^}]*)\}/.exec(clause)?.[1] ?? '';
    for (const specifier of named.split(',')) {
      const local = specifier
        .trim()
        .split(/\s+as\s+/)
        .at(-1)
        ?.replace(/^type\s+/, '');
      if (local !== undefined && local !== '') names.add(local);
    }
    const outside = clause.replace(/\{[^}]*\}/, '').replace(/^type\s+/, '');
    for (const part of outside.split(',')) {
      const local = part.trim().replace(/^\*\s+as\s+/, '');
      if (/^[\w$]+$/.test(local)) names.add(local);
    }
  }
  for (const match of configText.matchAll(TOP_LEVEL_DECLARATION)) {
    if (match[1] !== undefined) names.add(match[1]);
  }
  return names;
}

/** The span between the braces of `export const TASK_REGISTRY = { … }`. */
function findRegistryBody(text: string): { start: number; end: number } {
  const declaration = REGISTRY_DECLARATION.exec(text);
  if (declaration === null) {
    throw new RegistryEditError(
      'could not find `export const TASK_REGISTRY = { … }` in src/config.ts',
    );
  }
  const open = declaration.index + declaration[0].length;
  if (text[open] !== '{') {
    throw new RegistryEditError(
      'TASK_REGISTRY in src/config.ts is not an object literal (`{ echo, sleep, … }`)',
    );
  }
  let depth = 0;
  for (const index of codeIndexes(text, open, text.length)) {
    if (text[index] === '{') depth += 1;
    else if (text[index] === '}' && --depth === 0) return { start: open + 1, end: index };
  }
  throw new RegistryEditError('the TASK_REGISTRY object in src/config.ts has no closing brace');
}

/** The registry's body with `name` as its last entry, keeping the body's layout. */
function withEntry(body: string, name: string): string {
  const last = codeIndexes(body, 0, body.length).at(-1);
  if (last === undefined) {
    return body.includes('\n') ? `${body.trimEnd()}\n  ${name},\n` : ` ${name} `;
  }
  const head = body.slice(0, last + 1) + (body[last] === ',' ? '' : ',');
  const rest = body.slice(last + 1);
  const lineBreak = rest.indexOf('\n');
  // One line, `{ echo, sleep }`: the entry goes right after the last one.
  if (lineBreak === -1) return `${head} ${name}${rest}`;
  // One entry per line: the new one gets its own line, after any comment ending the last line.
  const lineStart = body.lastIndexOf('\n', last) + 1;
  const indent = /^[ \t]*/.exec(body.slice(lineStart))?.[0] ?? '  ';
  return `${head}${rest.slice(0, lineBreak)}\n${indent}${name},${rest.slice(lineBreak)}`;
}

function insertImport(text: string, statement: string): string {
  const imports = [...text.matchAll(IMPORT_STATEMENT)];
  const anchor =
    imports.filter((match) => match[2]?.startsWith('../tasks/') === true).at(-1) ?? imports.at(-1);
  if (anchor === undefined) return `${statement}\n${text}`;
  const end = anchor.index + anchor[0].length;
  return `${text.slice(0, end)}\n${statement}${text.slice(end)}`;
}

/**
 * Indexes of the code characters in text[start, end): not whitespace, not inside a comment or a
 * string (a string counts by its closing quote). Enough of a lexer for src/config.ts.
 */
function codeIndexes(text: string, start: number, end: number): number[] {
  const indexes: number[] = [];
  let index = start;
  while (index < end) {
    const char = text[index] ?? '';
    const next = text[index + 1];
    if (char === '/' && next === '/') {
      const lineEnd = text.indexOf('\n', index);
      index = lineEnd === -1 ? end : lineEnd;
    } else if (char === '/' && next === '*') {
      const close = text.indexOf('*/', index + 2);
      index = close === -1 ? end : close + 2;
    } else if (char === "'" || char === '"' || char === '`') {
      let close = index + 1;
      while (close < end && text[close] !== char) close += text[close] === '\\' ? 2 : 1;
      indexes.push(Math.min(close, end - 1));
      index = close + 1;
    } else {
      if (!/\s/.test(char)) indexes.push(index);
      index += 1;
    }
  }
  return indexes;
}
