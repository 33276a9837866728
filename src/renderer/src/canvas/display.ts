// How the labeler likes masks shown and drawn: fill opacity, outline-only, and "no overlap" (a new or edited mask
// takes its pixels from the others). Preferences of the person, not of the project: kept in localStorage.
import { useEffect, useState } from 'react';
import { DEFAULT_MASK_STYLE, type MaskStyle } from './sprites';

export interface Display extends MaskStyle {
  noOverlap: boolean;
}

const KEY = 'difflabel.display';
const DEFAULTS: Display = { ...DEFAULT_MASK_STYLE, noOverlap: false };

/** The stored settings; a value that is missing or does not fit falls back to its default. */
function load(): Display {
  let v: Partial<Record<keyof Display, unknown>> = {};
  try {
    v = JSON.parse(localStorage.getItem(KEY) ?? '{}') ?? {};
  } catch {
    // A hand-edited or foreign value: the defaults.
  }
  const opacity = typeof v.opacity === 'number' && v.opacity >= 0 && v.opacity <= 1 ? v.opacity : DEFAULTS.opacity;
  return {
    opacity,
    outline: typeof v.outline === 'boolean' ? v.outline : DEFAULTS.outline,
    noOverlap: typeof v.noOverlap === 'boolean' ? v.noOverlap : DEFAULTS.noOverlap,
  };
}

export function useDisplay(): [Display, (change: Partial<Display>) => void] {
  const [display, setDisplay] = useState(load);
  useEffect(() => localStorage.setItem(KEY, JSON.stringify(display)), [display]);
  return [display, (change) => setDisplay((d) => ({ ...d, ...change }))];
}
