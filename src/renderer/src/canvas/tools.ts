// The tools and every keyboard shortcut, in one table: the key handler and the help overlay both read it. The tools
// that prompt a pipeline come from their registry (prompts/).
import { PROMPT_TOOLS } from './prompts';

export type Tool = 'select' | 'polygon' | 'brush' | 'eraser' | 'wand' | (typeof PROMPT_TOOLS)[number]['id'];

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
];

/** Whether a tool prompts a pipeline (shown only while the chosen pipeline takes its prompt). */
export const isPromptTool = (id: Tool): boolean => PROMPT_TOOLS.some((t) => t.id === id);

export const SHORTCUTS: { keys: string; action: string }[] = [
  ...TOOLS.map((t) => ({ keys: t.key, action: `${t.id === 'wand' ? 'Magic wand' : t.label} tool` })),
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
  { keys: 'G', action: 'Fill holes of the selected mask' },
  { keys: 'M', action: 'Merge the selected masks' },
  { keys: 'X', action: 'Split the selected mask into its connected parts' },
  { keys: 'U', action: 'Use the selected mask as an example (pipelines that find from an example)' },
  { keys: 'A', action: 'Accept the selected proposals in the category they are offered in (✓ in their row)' },
  { keys: 'Ctrl+Z', action: 'Undo' },
  { keys: 'Ctrl+Shift+Z, Ctrl+Y', action: 'Redo' },
  { keys: 'Space+drag, middle drag', action: 'Pan' },
  { keys: 'Wheel', action: 'Zoom at the cursor' },
  { keys: '+  −', action: 'Zoom in / out' },
  { keys: 'F', action: 'Fit the image' },
  { keys: '0', action: 'Zoom 1:1' },
  { keys: 'H', action: 'Show / hide all masks' },
  { keys: '→  .', action: 'Next image in the strip\'s filter (skips broken files; stops at the last)' },
  { keys: '←  ,', action: 'Previous image (skips broken files; stops at the first)' },
  { keys: 'D', action: 'Mark the image done and go to the next; after the last, back to the first' },
  { keys: 'Esc in a text box or list', action: 'Give the keyboard back to these shortcuts' },
  { keys: 'Ctrl+E', action: 'Export COCO' },
  { keys: '?', action: 'This help' },
];
