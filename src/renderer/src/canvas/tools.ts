// The tools and every keyboard shortcut, in one table: the key handler, the help overlay and the shortcuts dialog all
// read it. The one-key actions can be given other keys (kept per user in localStorage); the rest are fixed. The tools
// that prompt a pipeline come from their registry (prompts/).
import { PROMPT_TOOLS } from './prompts';

export type Tool = 'select' | 'polygon' | 'brush' | 'eraser' | 'wand' | 'box' | 'point' | (typeof PROMPT_TOOLS)[number]['id'];

export const TOOLS: { id: Tool; label: string; key: string; hint: string }[] = [
  { id: 'select', label: 'Select', key: 'V', hint: 'Click a mask to select it (Shift: add to selection); drag vertices of a polygon; drag empty space to pan' },
  { id: 'polygon', label: 'Polygon', key: 'P', hint: 'Click vertices; close on the first vertex or with Enter' },
  { id: 'brush', label: 'Brush', key: 'B', hint: 'Paint into the selected mask where the stroke touches it, else a new mask (Shift: a separate part of the selected mask)' },
  { id: 'eraser', label: 'Eraser', key: 'E', hint: 'Erase from the selected mask; cuts holes' },
  {
    id: 'wand',
    label: 'Wand',
    key: 'W',
    hint: 'Flood fill similar colours from the click; press and drag away to raise the tolerance, watching the region (Shift: add to the selected mask)',
  },
  ...PROMPT_TOOLS.map(({ id, label, key, hint }) => ({ id, label, key, hint })),
  { id: 'box', label: 'Box', key: 'R', hint: 'Drag a box (current category); drag a box to move it, its corners to resize it' },
  { id: 'point', label: 'Point', key: 'T', hint: 'Click to place a point (current category); drag a point to move it' },
];

/** Whether a tool prompts a pipeline (shown only while the chosen pipeline takes its prompt). */
export const isPromptTool = (id: Tool): boolean => PROMPT_TOOLS.some((t) => t.id === id);

export type ActionId = Tool | 'fillHoles' | 'merge' | 'split' | 'example' | 'acceptSuggested' | 'fit' | 'toggleMasks' | 'outline' | 'done' | 'convert';

/** The actions a labeler may give another key, with their default keys (upper case; the key handler ignores case). */
export const ACTIONS: { id: ActionId; key: string; action: string }[] = [
  ...TOOLS.map((t) => ({ id: t.id, key: t.key, action: `${t.id === 'wand' ? 'Magic wand' : t.label} tool` })),
  { id: 'fillHoles', key: 'G', action: 'Fill holes of the selected mask' },
  { id: 'merge', key: 'M', action: 'Merge the selected masks' },
  { id: 'split', key: 'X', action: 'Split the selected mask into its connected parts' },
  { id: 'example', key: 'U', action: 'Use the selected mask as an example (pipelines that find from an example)' },
  { id: 'acceptSuggested', key: 'A', action: 'Accept the selected proposals in the category they are offered in (✓ in their row)' },
  { id: 'fit', key: 'F', action: 'Fit the image' },
  { id: 'toggleMasks', key: 'H', action: 'Show / hide all masks' },
  { id: 'outline', key: 'O', action: 'Masks as outlines only / filled' },
  { id: 'done', key: 'D', action: 'Mark the image done and go to the next; after the last, back to the first' },
  { id: 'convert', key: 'J', action: 'Box from the selected mask, or mask from the selected box (the click segmenter inside it)' },
];

export type KeyMap = Record<ActionId, string>;

export const DEFAULT_KEYS = Object.fromEntries(ACTIONS.map((a) => [a.id, a.key])) as KeyMap;

/** Keys with a fixed meaning (below): no action can be given them. */
const FIXED_KEYS = new Set([...'0123456789[]{}+-=_.,?', ' ']);

/** A key as the map keeps it: one printable character, letters upper case; null for any other key (Shift, F1, …). */
export function keyName(key: string): string | null {
  return [...key].length === 1 && key.trim() !== '' ? key.toUpperCase() : null;
}

/** The action `key` runs in `keys`, if any. */
export function actionFor(keys: KeyMap, key: string): ActionId | undefined {
  const k = keyName(key);
  return k === null ? undefined : ACTIONS.find((a) => keys[a.id] === k)?.id;
}

/** Why `action` cannot have `key` in `keys` (null: it can). */
export function refuseKey(keys: KeyMap, action: ActionId, key: string): string | null {
  const k = keyName(key);
  if (k === null) return 'Press a letter, digit or sign key';
  if (FIXED_KEYS.has(k)) return `${k} is taken by a fixed shortcut (see the help)`;
  const holder = ACTIONS.find((a) => a.id !== action && keys[a.id] === k);
  return holder ? `${k} is already used by "${holder.action}": give that one another key first` : null;
}

const KEYS_STORE = 'difflabel.keys';

/** The labeler's keys: the stored ones over the defaults; a stored key that does not fit is dropped. */
export function loadKeys(): KeyMap {
  let stored: Record<string, unknown> = {};
  try {
    stored = JSON.parse(localStorage.getItem(KEYS_STORE) ?? '{}') ?? {};
  } catch {
    // A hand-edited or foreign value: the defaults.
  }
  const keys = { ...DEFAULT_KEYS };
  const own = new Set<string>();
  for (const a of ACTIONS) {
    const k = typeof stored[a.id] === 'string' ? keyName(stored[a.id] as string) : null;
    if (k === null || FIXED_KEYS.has(k) || own.has(k)) continue;
    keys[a.id] = k;
    own.add(k);
  }
  // A default key the labeler gave to another action leaves its own action without a key (the dialog gives it one),
  // never two actions on one key.
  for (const a of ACTIONS) if (keys[a.id] === a.key && own.has(a.key) && stored[a.id] !== a.key) keys[a.id] = '';
  return keys;
}

/** Stores only what differs from the defaults, so a later change of a default reaches every labeler who kept it. */
export function saveKeys(keys: KeyMap): void {
  const changed = Object.fromEntries(ACTIONS.filter((a) => keys[a.id] !== a.key).map((a) => [a.id, keys[a.id]]));
  if (Object.keys(changed).length) localStorage.setItem(KEYS_STORE, JSON.stringify(changed));
  else localStorage.removeItem(KEYS_STORE);
}

/** Every shortcut with its current key, for the help overlay. */
export function shortcuts(keys: KeyMap): { keys: string; action: string }[] {
  return [
    ...ACTIONS.filter((a) => a.id in TOOLS_BY_ID).map((a) => ({ keys: keys[a.id] || '—', action: a.action })),
    { keys: 'Enter', action: 'Close the polygon being drawn / accept the click-segment mask' },
    {
      keys: 'Backspace',
      action: 'Remove the last polygon vertex / click point (in the Polygon and Click segment tools it never deletes a mask); other tools: delete the selected masks',
    },
    { keys: 'Esc', action: 'Cancel the drawing, clear the click points / clear the selection' },
    { keys: 'Click / right click', action: 'Click segment tool: + point / − point (Alt/Shift+click: − too)' },
    { keys: 'Alt+click', action: 'Delete a polygon vertex (Select tool); click an edge to insert one' },
    { keys: '[  ]', action: 'Brush size smaller / bigger' },
    { keys: '{  }', action: 'Magic wand tolerance lower / higher (or press and drag away from the spot)' },
    { keys: '1 – 9', action: 'Category for the selected masks and for new ones' },
    { keys: 'Delete', action: 'Delete the selected masks (any tool)' },
    ...ACTIONS.filter((a) => !(a.id in TOOLS_BY_ID)).map((a) => ({ keys: keys[a.id] || '—', action: a.action })),
    { keys: 'Ctrl+Z', action: 'Undo' },
    { keys: 'Ctrl+Shift+Z, Ctrl+Y', action: 'Redo' },
    { keys: 'Space+drag, middle drag', action: 'Pan' },
    { keys: 'Wheel', action: 'Zoom at the cursor' },
    { keys: '+  −', action: 'Zoom in / out' },
    { keys: '0', action: 'Zoom 1:1' },
    { keys: '→  .', action: 'Next image in the strip\'s filter (skips broken files; stops at the last)' },
    { keys: '←  ,', action: 'Previous image (skips broken files; stops at the first)' },
    { keys: 'Esc in a text box or list', action: 'Give the keyboard back to these shortcuts' },
    { keys: 'Ctrl+E', action: 'Export (COCO, YOLO, VOC, labelme, mask PNGs)' },
    { keys: '?', action: 'This help' },
  ];
}

const TOOLS_BY_ID = Object.fromEntries(TOOLS.map((t) => [t.id, t]));
