/**
 * Exact SHAP values of the probability we serve, by path-dependent TreeSHAP (Lundberg, Erion, Lee 2018,
 * "Consistent Individualized Feature Attribution for Tree Ensembles", Algorithm 2; polynomial time: for a tree
 * with L leaves and depth D, O(L D^2) per row).
 *
 * What is explained: the served probability, the share of trees voting "survived". Each tree is a function
 * that is 1/nTrees at a leaf voting class 1 and 0 elsewhere (`ml-random-forest` counts votes, it does not average
 * leaf distributions), so the forest's output is exactly the sum of its trees and the SHAP values of the forest
 * are the sums of the trees' SHAP values.
 *
 * The game: v(S) = E[f(x) | x_S], computed path-dependently. At a split on a feature in S the row's own branch is
 * followed; on a feature outside S both branches are followed, weighted by the share of training rows (the node
 * covers, `covers.ts`) that went each way. A node whose cover is 0 splits its weight evenly (this only happens
 * with covers counted on rows the tree was not grown on). The base value is v({}), the cover-weighted mean vote:
 * base value + sum of contributions = the served probability, exactly up to floating-point rounding.
 *
 * The recursion below is the reference implementation's (`tree_shap_recursive` of the shap package), on typed
 * arrays: one flat buffer holds the unique path of every depth, so a row allocates nothing but its result.
 */
import { AppError } from '../errors.ts';
import type { CompiledForest } from './compiled-forest.ts';
import { preorder } from './covers.ts';

export interface ForestExplainer {
  readonly nFeatures: number;
  /** v({}): the expected served probability under the covers (the mean vote of the training rows). */
  readonly baseValue: number;
  /**
   * The SHAP value of every feature for one row (length nFeatures, in column order):
   * baseValue + their sum = the served probability of the row. A feature no tree splits on gets exactly 0.
   */
  explain(row: ArrayLike<number>): Float64Array;
}

function invalid(message: string): AppError {
  return new AppError('ARTIFACT_INVALID', `node covers: ${message}`);
}

/**
 * Builds the explainer of a compiled forest from its node covers (`NodeCovers.trees`: per tree, pre-order).
 * Throws AppError ARTIFACT_INVALID when the covers do not fit the forest (wrong count, negative, or a parent
 * whose cover is not the sum of its children's).
 */
export function createExplainer(forest: CompiledForest, covers: readonly (readonly number[])[]): ForestExplainer {
  const { nodes, nTrees, nFeatures } = forest;
  const { feature, threshold, left, roots } = nodes;
  const nNodes = feature.length;
  if (covers.length !== nTrees) throw invalid(`${covers.length} trees of covers for a forest of ${nTrees}`);

  // Share of a node's cover that went to each child (indexed by the child's slot); the root gets 1.
  const share = new Float64Array(nNodes);
  // The value of a leaf: 1/nTrees when it votes "survived", else 0.
  const value = new Float64Array(nNodes);
  let maxDepth = 0;
  for (let t = 0; t < nTrees; t++) {
    const order = preorder(nodes, t);
    const list = covers[t] as readonly number[];
    if (list.length !== order.length) {
      throw invalid(`tree ${t} has ${order.length} nodes and ${list.length} covers`);
    }
    const cover = new Float64Array(nNodes);
    order.forEach((n, k) => {
      const c = list[k] as number;
      if (!Number.isFinite(c) || c < 0) throw invalid(`tree ${t} node ${k}: cover ${c} is not a count`);
      cover[n] = c;
    });
    share[roots[t] as number] = 1;
    for (const n of order) {
      if ((feature[n] as number) < 0) {
        value[n] = left[n] === 1 ? 1 / nTrees : 0;
        continue;
      }
      const l = left[n] as number;
      const c = cover[n] as number;
      if ((cover[l] as number) + (cover[l + 1] as number) !== c) {
        throw invalid(`tree ${t}: a node's cover ${c} is not the sum of its children's`);
      }
      share[l] = c > 0 ? (cover[l] as number) / c : 0.5;
      share[l + 1] = c > 0 ? (cover[l + 1] as number) / c : 0.5;
    }
    maxDepth = Math.max(maxDepth, treeDepth(forest, t));
  }

  // A subtree whose leaves all vote the same is a constant function: every v(S) reaches it with some weight and
  // gets the same value whichever way its splits go, so it is explained exactly as one leaf (the game is the
  // same game). Forests grown deep have many such subtrees (splits that purify without changing the vote); a
  // constant-0 subtree is then skipped outright. NaN marks a subtree with both votes.
  const constant = new Float64Array(nNodes).fill(Number.NaN);
  for (let t = 0; t < nTrees; t++) {
    const order = preorder(nodes, t);
    for (let k = order.length - 1; k >= 0; k--) {
      // reverse pre-order visits both children before their parent
      const n = order[k] as number;
      if ((feature[n] as number) < 0) {
        constant[n] = value[n] as number;
      } else {
        const l = left[n] as number;
        if (constant[l] === constant[l + 1]) constant[n] = constant[l] as number;
      }
    }
  }

  // v({}) of every tree: the share-weighted mean of its leaf values.
  let baseValue = 0;
  for (let t = 0; t < nTrees; t++) {
    const stack: Array<[number, number]> = [[roots[t] as number, 1]];
    while (stack.length > 0) {
      const [n, weight] = stack.pop() as [number, number];
      if ((feature[n] as number) < 0) {
        baseValue += weight * (value[n] as number);
        continue;
      }
      const l = left[n] as number;
      stack.push([l, weight * (share[l] as number)], [l + 1, weight * (share[l + 1] as number)]);
    }
  }

  // The unique path at depth d (d + 1 elements, element 0 a placeholder) lives at offset d(d+1)/2 + d: each
  // level copies its parent's path just after it, as the reference implementation does.
  const pathSize = ((maxDepth + 2) * (maxDepth + 3)) / 2 + 1;
  const pFeature = new Int32Array(pathSize);
  const pZero = new Float64Array(pathSize);
  const pOne = new Float64Array(pathSize);
  const pWeight = new Float64Array(pathSize);

  let phi = new Float64Array(nFeatures);
  let x: ArrayLike<number> = [];

  const extend = (o: number, depth: number, zero: number, one: number, f: number): void => {
    pFeature[o + depth] = f;
    pZero[o + depth] = zero;
    pOne[o + depth] = one;
    pWeight[o + depth] = depth === 0 ? 1 : 0;
    for (let i = depth - 1; i >= 0; i--) {
      pWeight[o + i + 1] = (pWeight[o + i + 1] as number) + (one * (pWeight[o + i] as number) * (i + 1)) / (depth + 1);
      pWeight[o + i] = (zero * (pWeight[o + i] as number) * (depth - i)) / (depth + 1);
    }
  };

  const unwind = (o: number, depth: number, index: number): void => {
    const one = pOne[o + index] as number;
    const zero = pZero[o + index] as number;
    let next = pWeight[o + depth] as number;
    for (let i = depth - 1; i >= 0; i--) {
      if (one !== 0) {
        const previous = pWeight[o + i] as number;
        const w = (next * (depth + 1)) / ((i + 1) * one);
        pWeight[o + i] = w;
        next = previous - (w * zero * (depth - i)) / (depth + 1);
      } else {
        pWeight[o + i] = ((pWeight[o + i] as number) * (depth + 1)) / (zero * (depth - i));
      }
    }
    for (let i = index; i < depth; i++) {
      pFeature[o + i] = pFeature[o + i + 1] as number;
      pZero[o + i] = pZero[o + i + 1] as number;
      pOne[o + i] = pOne[o + i + 1] as number;
    }
  };

  /** The total weight of the path with element `index` unwound (without changing the path). */
  const unwoundSum = (o: number, depth: number, index: number): number => {
    const one = pOne[o + index] as number;
    const zero = pZero[o + index] as number;
    let total = 0;
    if (one !== 0) {
      let next = pWeight[o + depth] as number;
      for (let i = depth - 1; i >= 0; i--) {
        const w = (next * (depth + 1)) / ((i + 1) * one);
        total += w;
        next = (pWeight[o + i] as number) - (w * zero * (depth - i)) / (depth + 1);
      }
    } else {
      for (let i = depth - 1; i >= 0; i--) total += ((pWeight[o + i] as number) * (depth + 1)) / (zero * (depth - i));
    }
    return total;
  };

  const recurse = (n: number, depth: number, parent: number, zero: number, one: number, f: number): void => {
    const v = constant[n] as number;
    if (v === 0) return; // every leaf below votes "died": nothing to add
    const o = parent + depth + 1;
    for (let i = 0; i < depth; i++) {
      pFeature[o + i] = pFeature[parent + i] as number;
      pZero[o + i] = pZero[parent + i] as number;
      pOne[o + i] = pOne[parent + i] as number;
      pWeight[o + i] = pWeight[parent + i] as number;
    }
    extend(o, depth, zero, one, f);

    // biome-ignore lint/suspicious/noSelfCompare: NaN test (a subtree with both votes)
    if (v === v) {
      for (let i = 1; i <= depth; i++) {
        const w = unwoundSum(o, depth, i);
        const j = pFeature[o + i] as number;
        phi[j] = (phi[j] as number) + w * ((pOne[o + i] as number) - (pZero[o + i] as number)) * v;
      }
      return;
    }
    const split = feature[n] as number;
    const l = left[n] as number;
    const hot = (x[split] as number) < (threshold[n] as number) ? l : l + 1;
    const cold = hot === l ? l + 1 : l;
    let incomingZero = 1;
    let incomingOne = 1;
    let d = depth;
    // a feature already on the path is unwound and re-entered with this split's fractions
    for (let k = 1; k <= d; k++) {
      if (pFeature[o + k] === split) {
        incomingZero = pZero[o + k] as number;
        incomingOne = pOne[o + k] as number;
        unwind(o, d, k);
        d -= 1;
        break;
      }
    }
    // A branch with both fractions 0 weighs 0 in v(S) for every S: it adds exactly nothing (and unwinding it
    // would divide by zero). Only covers with empty nodes produce one.
    const hotZero = (share[hot] as number) * incomingZero;
    if (hotZero !== 0 || incomingOne !== 0) recurse(hot, d + 1, o, hotZero, incomingOne, split);
    const coldZero = (share[cold] as number) * incomingZero;
    if (coldZero !== 0) recurse(cold, d + 1, o, coldZero, 0, split);
  };

  return {
    nFeatures,
    baseValue,
    explain: (row) => {
      phi = new Float64Array(nFeatures);
      x = row;
      for (let t = 0; t < nTrees; t++) recurse(roots[t] as number, 0, -1, 1, 1, -1);
      x = [];
      return phi;
    },
  };
}

/** Mean absolute SHAP value of every feature over `rows` (global importance, in probability units). */
export function meanAbsoluteShap(explainer: ForestExplainer, rows: readonly ArrayLike<number>[]): number[] {
  const total = new Array<number>(explainer.nFeatures).fill(0);
  for (const row of rows) {
    const phi = explainer.explain(row);
    for (let j = 0; j < total.length; j++) total[j] = (total[j] as number) + Math.abs(phi[j] as number);
  }
  return total.map((t) => (rows.length > 0 ? t / rows.length : 0));
}

function treeDepth(forest: CompiledForest, t: number): number {
  const { feature, left, roots } = forest.nodes;
  let deepest = 0;
  const stack: Array<[number, number]> = [[roots[t] as number, 0]];
  while (stack.length > 0) {
    const [n, d] = stack.pop() as [number, number];
    if (d > deepest) deepest = d;
    if ((feature[n] as number) >= 0) stack.push([left[n] as number, d + 1], [(left[n] as number) + 1, d + 1]);
  }
  return deepest;
}
