// JSON.parse for files DiffLabel did not write (bundle.json, configs, vocabularies, safetensors headers). V8's
// syntax errors quote the input ("Unexpected token 'x', "…" is not valid JSON"), and the input may be a file
// the user never meant to show, so the error says where the text breaks, never what it holds.
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const at = /at position (\d+)/.exec((e as Error).message)?.[1];
    throw new SyntaxError(`not valid JSON${at ? ` (at character ${at})` : ''}`);
  }
}
