// Douglas–Peucker for closed rings given as flat [x, y, ...] lists. Used to shrink exported
// polygons; the result never has fewer than 3 points (COCO consumers reject smaller rings).

/** Simplifies a closed ring so that no dropped vertex lies farther than `tol` from the kept outline. */
export function simplifyRing(ring: readonly number[], tol: number): number[] {
  const n = ring.length >> 1;
  if (n <= 3 || !(tol > 0)) return ring.slice();
  // Anchor the closed ring at vertex 0 and the vertex farthest from it, then simplify both chains.
  let far = 0, best = -1;
  for (let i = 1; i < n; i++) {
    const d = (ring[2 * i] - ring[0]) ** 2 + (ring[2 * i + 1] - ring[1]) ** 2;
    if (d > best) { best = d; far = i; }
  }
  const keep = new Uint8Array(n);
  keep[0] = keep[far] = 1;
  const tol2 = tol * tol;
  const stack: number[] = [0, far, far, n]; // index n stands for vertex 0 again
  while (stack.length) {
    const j = stack.pop()!, i = stack.pop()!;
    const ax = ring[2 * i], ay = ring[2 * i + 1];
    const bx = ring[2 * (j % n)], by = ring[2 * (j % n) + 1];
    let worst = -1, wd = tol2;
    for (let k = i + 1; k < j; k++) {
      const d = segDist2(ring[2 * k], ring[2 * k + 1], ax, ay, bx, by);
      if (d > wd) { wd = d; worst = k; }
    }
    if (worst >= 0) {
      keep[worst] = 1;
      stack.push(i, worst, worst, j);
    }
  }
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (keep[i]) out.push(ring[2 * i], ring[2 * i + 1]);
  return out.length >= 6 ? out : ring.slice();
}

function segDist2(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax, dy = by - ay;
  const len2 = dx * dx + dy * dy;
  let t = len2 > 0 ? ((px - ax) * dx + (py - ay) * dy) / len2 : 0;
  t = t < 0 ? 0 : t > 1 ? 1 : t;
  const ex = ax + t * dx - px, ey = ay + t * dy - py;
  return ex * ex + ey * ey;
}
