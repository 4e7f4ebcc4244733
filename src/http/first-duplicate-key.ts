interface Frame {
  /** the keys seen so far in an object; null for an array */
  keys: Set<string> | null;
  /** the member being read (object) or the element index (array) */
  at: string | number;
}

const pathOf = (stack: readonly Frame[]): string => stack.map((f) => (typeof f.at === 'number' ? `[${f.at}]` : `.${f.at}`)).join('');

/**
 * The path of the first key that appears twice in one object of a JSON text (".tests.failed",
 * "[2].name"), or null when every object's keys are distinct. JSON.parse keeps the last value of
 * a repeated key; a stored copy of the text read by another parser may keep the first, so a
 * document the gate summarises and stores verbatim must not have any. Keys are compared as
 * parsed ("a" and "\u0061" are one key). Expects text JSON.parse has accepted.
 */
export function firstDuplicateKey(text: string): string | null {
  const stack: Frame[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      while (j < text.length && text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c /* \ */ ? 2 : 1;
      const top = stack[stack.length - 1];
      if (expectKey && top?.keys) {
        // a key without escapes is its text; one with escapes is read as JSON reads it
        const raw = text.slice(i + 1, j);
        const key = raw.includes('\\') ? (JSON.parse(text.slice(i, j + 1)) as string) : raw;
        top.at = key;
        if (top.keys.has(key)) return pathOf(stack);
        top.keys.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b /* { */) {
      stack.push({ keys: new Set(), at: '' });
      expectKey = true;
    } else if (c === 0x5b /* [ */) {
      stack.push({ keys: null, at: 0 });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      expectKey = false;
    } else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top?.keys) expectKey = true;
      else if (top) top.at = (top.at as number) + 1;
    }
  }
  return null;
}
