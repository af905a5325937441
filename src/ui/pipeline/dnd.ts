/** Drag payload types: a stage from the palette, or a card being moved within the pipeline. */
export const stageMime = 'application/x-whittle-stage';
export const stepMime = 'application/x-whittle-step';

export function isPipelineDrag(e: { dataTransfer: DataTransfer | null }): boolean {
  const types = Array.from(e.dataTransfer?.types ?? []);
  return types.includes(stageMime) || types.includes(stepMime);
}

/** Insertion index for a pointer at `clientY` over a list whose cards are `cards` (in order). */
export function insertionIndex(cards: readonly Element[], clientY: number): number {
  for (let i = 0; i < cards.length; i++) {
    const r = cards[i].getBoundingClientRect();
    if (clientY < r.top + r.height / 2) return i;
  }
  return cards.length;
}
